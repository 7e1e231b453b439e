"""The `aggregates:` and `search:` keys of a resource, checked against its fields.

Nothing may be grouped, aggregated or searched unless declared: a dashboard query is a cost the
author chose, and a searched field is one the author meant to expose to matching.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.spec.model import Aggregates, Field, Search, SearchField

GROUPABLE = ("text", "uuid", "bigint", "boolean", "timestamptz")
METRIC = ("bigint", "double precision", "timestamptz", "text")
SEARCHABLE = ("text", "jsonb")
JSON_PATH = re.compile(r"^\$(\[\*\]|\.[a-z_][a-z0-9_]{0,62})*$")
Report = Callable[[tuple, str], None]
VECTOR_PREFIX = "_search_"  # the stored vector columns (engine.sql.search.COLUMN_PREFIX)
# PostgreSQL's own text-search configurations (`SELECT cfgname FROM pg_ts_config`, the same in 13 to 17).
# Any other is named with its schema (`myschema.myconfig`): one a migration of the project creates.
LANGUAGES = (
    "simple",
    "arabic",
    "armenian",
    "basque",
    "catalan",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hindi",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "lithuanian",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "serbian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
    "yiddish",
)


def resolve_aggregates(raw: dict[str, Any] | None, fields: dict[str, Field], report: Report) -> Aggregates | None:
    if raw is None:
        return None
    for key, allowed in (("group_by", GROUPABLE), ("metrics", METRIC)):
        for i, name in enumerate(raw.get(key, ())):
            field = fields.get(name)
            if field is None:
                report((key, i), f"{name!r} is not a field of this resource")
            elif field.write_only:
                report((key, i), f"{name!r} is a secret (writeOnly): it is never read back, so never aggregated")
            elif field.sql_type not in allowed:
                report(
                    (key, i), f"{name!r} ({field.sql_type}) cannot be used here; types allowed: {', '.join(allowed)}"
                )
    return Aggregates(tuple(raw.get("group_by", ())), tuple(raw.get("metrics", ())))


def resolve_search(raw: dict[str, Any] | None, fields: dict[str, Field], report: Report) -> Search | None:
    if raw is None:
        return None
    for name in fields:
        if name.startswith(VECTOR_PREFIX):
            report(("fields",), f"the schema property {name!r} starts with {VECTOR_PREFIX!r}, kept for search vectors")
    found: list[SearchField] = []
    for name, how in (raw.get("fields") or {}).items():
        how = {"weight": how} if isinstance(how, str) else dict(how or {})
        field = fields.get(name)
        if field is None:
            report(("fields", name), f"{name!r} is not a field of this resource")
            continue
        if field.write_only or field.sql_type not in SEARCHABLE:
            report(("fields", name), f"{name!r} ({field.sql_type}) cannot be searched; text or JSON fields can")
            continue
        path = how.get("path")
        if (path is None) != (field.sql_type == "text") or (path is not None and not JSON_PATH.match(path)):
            report(("fields", name), "a JSON field needs `path` (such as $[*].name); a text field takes none")
            continue
        found.append(SearchField(name, how.get("weight", "D"), path))
    language = raw.get("language", "simple")
    if "." not in language and language not in LANGUAGES:
        report(
            ("language",),
            f"{language!r} is not a text-search configuration of PostgreSQL; use one of {', '.join(LANGUAGES)}, "
            "or name a custom configuration (one a migration creates) with its schema: myschema.myconfig",
        )
    return Search(language, tuple(found))
