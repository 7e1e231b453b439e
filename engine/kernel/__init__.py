"""Layer 0: the hook markers and helpers, the plugin manager, problems, identity, configuration, logs, metrics plumbing."""
