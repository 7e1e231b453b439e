"""What a list request asks for, after the query string was parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.sql.queries import Filter, SortKey


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[Filter, ...] = ()
    sort: tuple[SortKey, ...] = ()  # always ends with the primary key, so the order is total
    fields: tuple[str, ...] | None = None  # None: every column
    limit: int = 20
    cursor: str | None = None
    include: tuple[str, ...] = ()
    extra: dict[str, Any] | None = None
