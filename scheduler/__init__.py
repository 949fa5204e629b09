"""The scheduler role: APScheduler in Asia/Shanghai; it only enqueues jobs, never calls QMT."""
