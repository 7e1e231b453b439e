"""Built-in browser sessions: a session cookie signs a browser in, guarded by a CSRF token."""
