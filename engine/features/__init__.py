"""Layer 6: the built-in features, one package each; its plugin.py holds its hooks (see docs/architecture.md)."""
