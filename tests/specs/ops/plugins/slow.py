"""Test routes for the operations tests: a request that takes a while, and one that fails.

GET /slow?seconds=N sleeps in PostgreSQL (pg_sleep), so the request holds a pooled connection
like a slow query would; GET /boom raises an unexpected error, and GET /fails-when-sent answers,
then a response signal of this plugin (`on_response_prepare`) fails while the answer is sent.
"""

from aiohttp import web

from engine import hookimpl
from engine.http.keys import POOL
from engine.http.responses import json_response


async def slow(request: web.Request) -> web.Response:
    seconds = float(request.query.get("seconds", "1"))
    await request.app[POOL].execute("SELECT pg_sleep($1)", seconds)
    return json_response({"slept": seconds})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("the test plugin failed on purpose")


async def fails_when_sent(request: web.Request) -> web.Response:
    return json_response({"sent": False})


async def _failing_signal(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/fails-when-sent" and response.status == 200:
        raise RuntimeError("the test plugin's response signal failed on purpose")


@hookimpl
def configure(app, spec, config):
    app.on_response_prepare.append(_failing_signal)


@hookimpl
def register_routes(app, spec):
    return [web.get("/slow", slow), web.get("/boom", boom), web.get("/fails-when-sent", fails_when_sent)]
