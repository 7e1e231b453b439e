"""Built-in query-result cache: opt-in per resource (`cache: {ttl: 30}`), never stale after a write."""
