"""Layer 7: the resource-engine command line (thin wrappers over the layers below)."""
