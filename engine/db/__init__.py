"""Layer 3: the asyncpg pool (fair hand-off, bounded waits), the embedded PostgreSQL, engine tables, Redis."""
