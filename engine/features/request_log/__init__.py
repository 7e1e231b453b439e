"""Built-in request log: one line per request on the ``engine.access`` logger."""
