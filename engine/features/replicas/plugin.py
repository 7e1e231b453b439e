"""Read-your-writes with read replicas (DATABASE_REPLICA_URLS; the routing is engine.db.replicas).

After a successful write (any POST, PUT, PATCH or DELETE under 400) the response carries the
primary's WAL position as a consistency token, in the `Engine-Consistency-Token` header and the
`engine_consistency` cookie. A GET that sends the token back (header, else cookie) reads from a
replica only once that replica has replayed the position, else from the primary; a GET without a
token reads from any replica within ENGINE_REPLICA_MAX_LAG. A token that is not a WAL position
sends the read to the primary. Without replicas this plugin does nothing.
"""

from __future__ import annotations

from aiohttp import web

from engine.db.replicas import lsn_text, parse_lsn, read_after, reset_read_after
from engine.http.keys import CONFIG, READS
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

HEADER = "Engine-Consistency-Token"
COOKIE = "engine_consistency"
COOKIE_AGE = 300  # seconds: longer than any replica may lag before it is skipped anyway
_READS = ("GET", "HEAD")
UNREADABLE = 1 << 64  # past every WAL position: only the primary qualifies


def token_of(request: web.Request) -> int:
    """The WAL position this request must read at or after (0: none given)."""
    text = request.headers.get(HEADER) or request.cookies.get(COOKIE)
    if not text:
        return 0
    position = parse_lsn(text)
    return UNREADABLE if position is None else position


@web.middleware
async def consistency(request: web.Request, handler):
    reads = request.app[READS]
    if request.method in _READS:
        marked = read_after(token_of(request))
        try:
            return await handler(request)
        finally:
            reset_read_after(marked)
    response = await handler(request)
    if response.status < 400 and not response.prepared:
        token = lsn_text(await reads.current_lsn())
        response.headers[HEADER] = token
        response.set_cookie(COOKIE, token, max_age=COOKIE_AGE, httponly=True, samesite="Lax")
    return response


@hookimpl(trylast=True)
def register_middlewares(app: web.Application, spec: Spec) -> list:
    return [consistency] if app[CONFIG].replica_urls else []  # without replicas: not even a function call


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    document.setdefault("components", {}).setdefault("headers", {})[HEADER] = {
        "description": "With read replicas: the WAL position of this write. Send it back on later reads "
        "to read what you wrote (also kept in the `engine_consistency` cookie).",
        "schema": {"type": "string", "example": "16/B374D848"},
    }
