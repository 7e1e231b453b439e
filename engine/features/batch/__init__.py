"""The atomic batch of write operations: POST /api/batch, one transaction, `$ref` to earlier results."""
