"""Server configuration: the core's settings from the environment, layered over resources.yaml settings.

Every variable is declared once in the settings registry (engine.kernel.settings: the core's in
engine.kernel.core_settings, each feature's in its package) and read through it: the registry is
the only reader of the process environment in engine/. ``extra`` keeps the raw ENGINE_* variables
for features and plugins, which read typed values with `Config.value`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.kernel import settings

if TYPE_CHECKING:
    from engine.spec import Spec

PREFIX = "ENGINE_"


@dataclass(frozen=True)
class Config:
    database_url: str | None = None
    environment: str = "development"  # development | production
    data_dir: str = ".pgdata"
    db_schema: str | None = None  # search_path for every connection (tests use one per test)
    pool_min_size: int = 1
    pool_max_size: int = 10
    statement_timeout_ms: int = 30_000
    body_limit: int = 1024 * 1024
    page_size: int = 20
    max_page_size: int = 100
    auto_migrate: bool | None = None  # None: only for the embedded database
    redis_url: str | None = None  # REDIS_URL: shared by plugins that keep state in Redis (sessions ...)
    db_pooler: str = "auto"  # auto | none | pgbouncer (engine.db.pooler)
    listen_database_url: str | None = None  # a direct connection for LISTEN and session locks
    replica_urls: tuple[str, ...] = ()  # DATABASE_REPLICA_URLS (engine.db.replicas)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def value(self, name: str, spec: Spec | None = None) -> Any:
        """A declared ENGINE_* setting, typed: the variable, else resources.yaml (given `spec`), else its default."""
        return settings.value(name, self.extra, spec)

    @classmethod
    def from_env(cls, spec: Spec, env: dict[str, str] | None = None, **overrides: Any) -> Config:
        env = settings.environment() if env is None else dict(env)
        s = spec.settings

        def read(name: str) -> Any:
            return settings.value(name, env, spec)

        values = dict(
            database_url=read("DATABASE_URL"),
            environment=read("ENGINE_ENV"),
            data_dir=read("ENGINE_DATA_DIR") or os.path.join(spec.root, ".pgdata"),
            db_schema=read("ENGINE_DB_SCHEMA"),
            pool_min_size=read("ENGINE_POOL_MIN_SIZE"),
            pool_max_size=read("ENGINE_POOL_SIZE"),
            statement_timeout_ms=read("ENGINE_STATEMENT_TIMEOUT_MS"),
            body_limit=read("ENGINE_BODY_LIMIT"),
            page_size=s.page_size,
            max_page_size=s.max_page_size,
            auto_migrate=read("ENGINE_AUTO_MIGRATE"),
            redis_url=read("REDIS_URL"),
            db_pooler=read("ENGINE_DB_POOLER"),
            listen_database_url=read("ENGINE_LISTEN_DATABASE_URL"),
            replica_urls=read("DATABASE_REPLICA_URLS"),
            extra={k: v for k, v in env.items() if k.startswith(PREFIX)},
        )
        values.update(overrides)
        return cls(**values)
