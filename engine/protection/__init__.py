"""The mechanisms behind the protection plugins (engine/plugins/rate_limit.py, timeouts.py, cors.py,
security_headers.py, etags.py, query_cache.py, idempotency.py, input_limits.py): token buckets,
cache stores, entity tags, settings parsing. Plugins wire them into the request pipeline."""
