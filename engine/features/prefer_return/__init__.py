"""Built-in `Prefer: return=minimal`: writes answer without the row they would send back."""
