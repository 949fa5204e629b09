"""The Redis store: every key name, every Lua script with its caller, the job queue, the event stream, risk state,
metrics and the audit trail. It uses rules and config; nothing of the desk."""
