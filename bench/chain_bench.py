"""The engine's own cost per request, without sockets or a database: the middleware chain, the
response signals and the access log line around a stub handler, on the app the benchmark serves.

    python bench/chain_bench.py [--requests 20000] [--repeat 7] [--profile]

It builds the example app as `bench/run` configures it (ENGINE_ENV=production, JSON logs, the
rate limiter on), resolves `GET /api/agents/{id}` with a bearer token, and times the middleware
chain aiohttp would run plus `response.prepare` (where the response signals run) for each of
`--requests` prepared requests. The handler answers a fixed body, so only the engine's layers vary.
Prints the best and the median microseconds per request over `--repeat` rounds (CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import os
import pstats
import statistics
import sys
import time
import uuid
from functools import partial, update_wrapper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from harness import SECRET, server_env  # noqa: E402


class NullTransport:
    """What a request asks of its transport: the peer address, and whether it is closing."""

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def is_closing(self) -> bool:
        return False


class NullProtocol:
    max_field_size = max_line_length = 8190
    max_headers = 128
    peername = sockname = ("127.0.0.1", 40000)
    ssl_context = None

    def __init__(self) -> None:
        self.transport = NullTransport()


class NullWriter:
    """A payload writer that counts bytes and sends nothing (unittest.mock would dominate the time)."""

    buffer_size = 0
    length: int | None = None

    def __init__(self) -> None:
        self.output_size = 0

    def enable_chunking(self) -> None: ...

    def enable_compression(self, *args, **kwargs) -> None: ...

    def send_headers(self) -> None: ...

    async def write_headers(self, status_line: str, headers) -> None: ...

    async def write(self, data: bytes) -> None:
        self.output_size += len(data)

    async def write_eof(self, data: bytes = b"") -> None:
        self.output_size += len(data)

    async def drain(self) -> None: ...


BODY = b'{"data":{"id":"00000000-0000-4000-8000-000000000000","name":"agent","status":"active"}}'


async def stub_read(request):
    from aiohttp import web

    return web.Response(body=BODY, content_type="application/json", headers={"ETag": '"abc"'})


async def main(args: argparse.Namespace) -> None:
    import jwt
    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web_app import _build_middlewares

    from engine.http.app import create_app
    from engine.kernel.config import Config
    from engine.kernel.logs import LogSettings, configure_logging
    from engine.server import gc_tuning
    from engine.spec import load_spec

    spec = load_spec(os.path.join(ROOT, "resources.yaml"))
    env = {**server_env("postgresql://unused"), "ENGINE_JWT_SECRET": SECRET}
    app = create_app(spec, Config.from_env(spec, env=env))
    app.freeze()
    handler = configure_logging(LogSettings.from_env(env))
    handler.setStream(open(os.devnull, "w"))  # noqa: ASYNC230 - once, before timing; lives with the process
    if args.log_level:
        logging.getLogger().setLevel(args.log_level)
    token = jwt.encode({"sub": "user0001", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    path = f"/api/agents/{uuid.uuid4()}"
    chain = None

    async def one(request) -> None:
        nonlocal chain
        match_info = await app.router.resolve(request)
        match_info.add_app(app)
        match_info.freeze()
        request._match_info = match_info
        if chain is None:
            chain = _build_middlewares(stub_read, match_info.apps)
            if args.bare or args.without:
                chain = stub_read
                every = app.middlewares[0].middlewares  # the engine's Pipeline holds them all
                kept = [] if args.bare else [m for m in every if m.__name__ not in args.without]
                for middleware in reversed(kept):
                    chain = update_wrapper(partial(middleware, handler=chain), chain)
        response = await chain(request)
        await response.prepare(request)
        await response.write_eof()
        assert response.status == 200, response.status

    def requests(count: int) -> list:
        return [
            make_mocked_request(
                "GET",
                path,
                headers={"Authorization": f"Bearer {token}"},
                app=app,
                writer=NullWriter(),
                protocol=NullProtocol(),
                transport=NullTransport(),
            )
            for _ in range(count)
        ]

    for request in requests(2000):  # warm-up
        await one(request)
    rounds = []
    for _ in range(args.repeat):
        batch = requests(args.requests)
        gc.collect()
        gc.freeze()  # as gc_tuning does in a serving process; the batch is not the engine's garbage
        gc.set_threshold(*gc_tuning.THRESHOLDS)
        started = time.process_time()
        for request in batch:
            await one(request)
            await asyncio.sleep(0)  # one loop iteration per request, as in a server (timers are cleaned up)
        rounds.append((time.process_time() - started) / args.requests * 1e6)
        del batch
        gc.unfreeze()
    print(f"us per request: best {min(rounds):.1f}, median {statistics.median(rounds):.1f}")
    if args.profile:
        batch = requests(args.requests)
        profile = cProfile.Profile()
        profile.enable()
        for request in batch:
            await one(request)
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        print(f"function calls per request: {stats.total_calls / args.requests:.1f}")  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--bare", action="store_true", help="no middlewares: the floor (routing, response, prepare)")
    parser.add_argument(
        "--without",
        type=lambda text: text.split(","),
        default=["refuse_retired_users"],  # one indexed query per request: this bench has no database
        help="middlewares to leave out (default: refuse_retired_users)",
    )
    parser.add_argument("--log-level", help="override ENGINE_LOG_LEVEL (WARNING: no access lines)")
    asyncio.run(main(parser.parse_args()))
