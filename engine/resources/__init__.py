"""Layer 4: the generic resource manager, the access decision, validation, values, cursors, write contexts."""
