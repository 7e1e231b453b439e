"""Server configuration from the environment (ENGINE_*), layered over resources.yaml settings.

Every variable is listed in the README; nothing else reads os.environ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.spec import Spec


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, spec: Spec, env: dict[str, str] | None = None, **overrides: Any) -> Config:
        env = dict(os.environ if env is None else env)
        s = spec.settings
        environment = env.get("ENGINE_ENV", "development")
        if environment not in ("development", "production"):
            raise ValueError(f"ENGINE_ENV must be development or production, got {environment!r}")
        auto = env.get("ENGINE_AUTO_MIGRATE")
        values = dict(
            database_url=env.get("DATABASE_URL") or None,
            environment=environment,
            data_dir=env.get("ENGINE_DATA_DIR") or os.path.join(spec.root, ".pgdata"),
            db_schema=env.get("ENGINE_DB_SCHEMA") or None,
            pool_min_size=_int(env, "ENGINE_POOL_MIN_SIZE", s.pool_min_size),
            pool_max_size=_int(env, "ENGINE_POOL_SIZE", s.pool_max_size),
            statement_timeout_ms=_int(env, "ENGINE_STATEMENT_TIMEOUT_MS", s.statement_timeout_ms),
            body_limit=_int(env, "ENGINE_BODY_LIMIT", s.body_limit),
            page_size=s.page_size,
            max_page_size=s.max_page_size,
            auto_migrate=None if auto is None else auto.lower() in ("1", "true", "yes"),
            redis_url=env.get("REDIS_URL") or None,
            extra={k: v for k, v in env.items() if k.startswith("ENGINE_")},
        )
        values.update(overrides)
        return cls(**values)
