"""GET /api/<resource>/{id} answered with JSON written by PostgreSQL (engine/sql/json_out.py).

Taken when the database can write the response byte for byte as the engine would (every field of
the projection of an exact type, no field read rules for this caller, no `include`); otherwise
`read_json` answers None and the handler decodes the row as usual. The same statement also writes
the row with its keys sorted, whose hash is the ETag `item_tag` gives the decoded row, so the tag
matches what a PATCH's If-Match is checked against.
"""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web
from sqlglot import exp

from engine.db import coalesce
from engine.http.etag import body_tag
from engine.http.responses import JSON
from engine.kernel.identity import Identity
from engine.resources.manager import ResourceManager
from engine.spec import Resource
from engine.sql.compiled import param
from engine.sql.ddl import column, table
from engine.sql.json_out import exact, row_json
from engine.sql.queries import bind_predicates


@lru_cache(maxsize=1024)  # asked on every read by id; a resource has a few projections
def _exact(resource: Resource, wanted: tuple[str, ...]) -> bool:
    return exact(resource, wanted)


async def read_json(
    manager: ResourceManager, pk_text: str, identity: Identity | None, fields: tuple[str, ...] | None
) -> web.Response | None:
    """The read's response from PostgreSQL's JSON, or None when it must take the decoding path."""
    resource = manager.resource
    wanted = fields or resource.columns
    if not _exact(resource, wanted) or await manager.masks(identity):
        return None
    pk = manager.parse_pk(pk_text)
    predicates = await manager.predicates("read", identity)
    t = resource.table

    def build() -> exp.Expression:
        where = exp.and_(column(resource.primary_key, t).eq(param("pk")), *(p.build(t) for p in predicates))
        body, tagged = row_json(resource, wanted, t), row_json(resource, tuple(sorted(wanted)), t)
        return exp.select(body.as_("body"), tagged.as_("tagged")).from_(table(t)).where(where)

    compiled = manager.queries.compiled(("read_json", tuple(p.key for p in predicates), wanted), build)
    values = bind_predicates(predicates, {"pk": pk})
    record = await coalesce.fetchrow(manager.reads, compiled, compiled.args(values))
    if record is None:
        raise manager.not_found(pk_text)
    etag = body_tag(b'{"data":' + record["tagged"].encode() + b"}")
    return web.Response(body=b'{"data":' + record["body"].encode() + b"}", content_type=JSON, headers={"ETag": etag})
