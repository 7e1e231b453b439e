"""Built-in `GET /api/me`: the signed-in caller's own `users` row (401 when anonymous)."""
