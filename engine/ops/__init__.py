"""Running the engine in production: worker processes under gunicorn, the shutdown signal, process metrics.

- ``entry.app``: the app factory gunicorn's aiohttp worker calls (spec path from ENGINE_SPEC).
- ``gunicorn_settings``: the defaults ``resource-engine serve --workers N`` runs with; an operator's
  gunicorn.conf.py imports them and overrides what it needs.
- ``shutdown.SHUTTING_DOWN``: an ``asyncio.Event`` on the app, set when the worker starts draining.
"""
