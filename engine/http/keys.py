"""Typed keys for app and request state (aiohttp's AppKey/RequestKey, never bare strings)."""

from __future__ import annotations

import asyncpg
import pluggy
from aiohttp import web

from engine.db.replicas import Replicas
from engine.kernel.config import Config
from engine.kernel.identity import Identity
from engine.spec import Spec

SPEC = web.AppKey("spec", Spec)
CONFIG = web.AppKey("config", Config)
PLUGINS = web.AppKey("plugins", pluggy.PluginManager)
POOL = web.AppKey("pool", asyncpg.Pool)
MANAGERS = web.AppKey("managers", dict)  # resource name -> ResourceManager
DATABASE_URL = web.AppKey("database_url", str)  # for session-level connections (LISTEN): never via a pooler
POOLER = web.AppKey("db_pooler", str)  # none | pgbouncer, as configured or detected (engine.db.pooler)
READS = web.AppKey("reads", Replicas)  # reads that may go to a replica (engine.db.replicas)

REQUEST_ID = web.RequestKey("request_id", str)
IDENTITY = web.RequestKey("identity", Identity)
WRITE_SHARED = web.RequestKey("write_shared", dict)  # WriteContext.shared: state a request's writes share
# The request this one runs inside, for a request the engine makes itself (an MCP tool call runs its REST
# request inside the /mcp request): the outer one already holds what the request needs (a large body's turn).
INSIDE = web.RequestKey("inside", web.Request)
