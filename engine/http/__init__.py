"""Layer 5: the aiohttp app factory, generated routes, middleware chain, query language, bodies, responses."""
