"""The configuration: settings from the environment, terminals, the project's clock (with its offset) and logging.
Above the rules; below the store, which connects with these settings."""
