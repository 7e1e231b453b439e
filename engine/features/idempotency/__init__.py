"""Built-in Idempotency-Key support for creating rows (POST on a resource collection)."""
