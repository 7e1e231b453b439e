"""Built-in HTTP caching: ETags on GET responses, 304 for If-None-Match, Cache-Control for all."""
