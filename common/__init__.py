"""Shared by every role, in layers (each imports only those below it; import-linter holds the order):
rules (pure) < config (settings, clock, logs) < store (Redis) < desk (the one way in) < roles (starting a role)."""
