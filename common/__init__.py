"""Shared by every role: settings, models, symbol rules, queue names and Redis keys."""
