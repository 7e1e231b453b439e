"""The roles a user holds now, as the users resource's `roles_field` column says (resources.yaml).

Answers the `user_roles` hook with one lookup by primary key, never cached across requests: a
request made with an API key asks once, so a demotion (an admin's PATCH of the column) applies
to the owner's keys at their very next request, on every worker.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from engine.resources.manager import ResourceManager
from engine.resources.values import ValueProblem, from_query


async def user_columns(
    pool: asyncpg.Pool, users: ResourceManager, user_id: str, columns: tuple[str, ...]
) -> asyncpg.Record | None:
    """`columns` of the user's row (no access rules: the engine asks, not a caller); None when absent."""
    try:
        pk = from_query(users.resource.pk, user_id)
    except ValueProblem:
        return None  # an id its column could not hold names no row
    compiled = users.queries.get((), columns)
    return await pool.fetchrow(compiled.sql, *compiled.args({"pk": pk}))


def roles_of(row: asyncpg.Record | None, field: str) -> frozenset[str]:
    """The role names in the row's roles column; a missing row or a null column holds none."""
    value: Any = None if row is None else row[field]
    return frozenset(role for role in value or () if isinstance(role, str))
