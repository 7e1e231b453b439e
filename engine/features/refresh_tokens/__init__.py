"""Built-in token endpoints: a signed-in session becomes tokens, refresh tokens rotate, logout revokes."""
