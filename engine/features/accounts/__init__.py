"""Built-in account lifecycle: a deleted user's id is retired, so nothing issued to it works again."""
