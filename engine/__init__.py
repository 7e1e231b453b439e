"""resource-engine: a declarative REST engine on aiohttp and PostgreSQL."""

from engine.kernel.hooks import hookimpl

__all__ = ["hookimpl"]
__version__ = "0.1.0"
