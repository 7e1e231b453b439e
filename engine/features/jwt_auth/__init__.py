"""Built-in authentication: `Authorization: Bearer <JWT>`, and the `token` CLI command."""
