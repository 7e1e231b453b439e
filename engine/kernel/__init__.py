"""Layer 0: hook markers and helpers, the plugin manager, problems, identity, configuration, logs, metrics."""
