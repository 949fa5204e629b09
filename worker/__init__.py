"""The worker: holds the QMT (or simulator) session and runs order, cancel and query jobs in-process."""
