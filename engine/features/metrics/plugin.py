"""Built-in Prometheus metrics: ``GET /metrics``, request counts and latencies, pool and outbox gauges.

Series are declared in ``engine.kernel.metrics`` (import them there to count your own plugin's events).
Access is limited by ENGINE_METRICS_TOKEN and ENGINE_METRICS_ALLOW (see engine.features.metrics.access).
Under ``serve --workers N`` the answer covers every worker, whichever one serves the scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Middleware

from engine.db import metrics as db_metrics
from engine.features.events import metrics as events_metrics
from engine.features.events.lag import OutboxReader
from engine.features.metrics import series as http_series
from engine.features.metrics.access import MetricsAccess
from engine.features.metrics.processes import ClusterProcessCollector
from engine.http.keys import POOL
from engine.http.middleware import observes_answers
from engine.http.observe import route_template, status_of
from engine.kernel import metrics
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.kernel.tasks import cancel_task
from engine.spec import Spec

log = logging.getLogger("engine.ops")

ACCESS = web.AppKey("metrics_access", MetricsAccess)
OUTBOX = web.AppKey("metrics_outbox", OutboxReader)
BRIDGES = web.AppKey("metrics_bridges", list)
SAMPLER = web.AppKey("metrics_sampler", asyncio.Task)
SAMPLE_EVERY = 5.0  # seconds between samples of the pool and plugin counters in each worker
METRICS_PATH = "/metrics"
SCRAPER = Identity("metrics-scraper", frozenset({"metrics"}), via="metrics_token")


@observes_answers
@web.middleware
async def count_requests(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except BaseException as error:
        _observe(request, status_of(error), started)
        raise
    _observe(request, response.status, started)
    return response


# (method, route, status) -> its counter and histogram children: `.labels()` takes a lock and
# checks its arguments on every call, a cost per request that a dict lookup avoids.
_SERIES: dict[tuple[str, str, int], tuple] = {}


def _observe(request: web.Request, status: int, started: float) -> None:
    key = (request.method, route_template(request), status)
    series = _SERIES.get(key)
    if series is None:
        labels = (key[0], key[1], str(status))
        series = _SERIES[key] = (
            http_series.HTTP_REQUESTS.labels(*labels),
            http_series.HTTP_REQUEST_DURATION.labels(*labels),
        )
    series[0].inc()
    series[1].observe(time.perf_counter() - started)


def sample_pool(pool: asyncpg.Pool) -> None:
    size = pool.get_size()
    db_metrics.DB_POOL_SIZE.set(size)
    db_metrics.DB_POOL_IN_USE.set(size - pool.get_idle_size())
    db_metrics.DB_POOL_MAX.set(pool.get_max_size())


def sample(app: web.Application) -> None:
    """This worker's pool gauges and its plugins' counters, as of now."""
    sample_pool(app[POOL])
    for publisher in app[BRIDGES]:
        publisher.publish(app)


async def _sample_forever(app: web.Application) -> None:
    """Every worker keeps its series fresh, since any worker may answer the scrape."""
    while True:
        try:
            sample(app)
        except Exception:  # a metrics hiccup must never stop the sampling, nor the worker
            log.exception("sampling metrics failed")
        await asyncio.sleep(SAMPLE_EVERY)


async def serve_metrics(request: web.Request) -> web.Response:
    app = request.app
    app[ACCESS].check(request)
    if POOL in app:
        sample(app)
        await _read_outbox(app)
    workers = None
    if metrics.multiprocess_dir() is not None:
        workers = ClusterProcessCollector()
    body = await asyncio.to_thread(metrics.exposition, workers)  # reads many files under several workers
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


async def _read_outbox(app: web.Application) -> None:
    try:
        lag = await asyncio.wait_for(app[OUTBOX].read(app[POOL]), timeout=2)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
        log.debug("outbox lag not read: %r", error)
        return
    if lag is not None:
        events_metrics.EVENTS_OUTBOX_PENDING.set(lag.pending)
        events_metrics.EVENTS_OUTBOX_LAG.set(lag.seconds)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[ACCESS] = MetricsAccess.from_env(config.extra)
    app[OUTBOX] = OutboxReader()
    app[BRIDGES] = metrics.stat_publishers()


@hookimpl(trylast=True)
def startup(app: web.Application) -> None:
    app[SAMPLER] = asyncio.create_task(_sample_forever(app))


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    await cancel_task(app.get(SAMPLER))


@hookimpl(tryfirst=True)
def identity_from_request(request: web.Request) -> Identity | None:
    """On /metrics the bearer token is the scrape token, not a user's JWT: answer before JWT auth does."""
    if request.path != METRICS_PATH or ACCESS not in request.app:
        return None
    access = request.app[ACCESS]
    if access.token is None or "Authorization" not in request.headers:
        return None
    access.check_token(request)
    return SCRAPER


@hookimpl(tryfirst=True)
def register_middlewares(app: web.Application, spec: Spec) -> list[Middleware]:
    return [count_requests]


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [web.get(METRICS_PATH, serve_metrics, name="metrics")]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    document["paths"][METRICS_PATH] = {
        "get": {
            "operationId": "metrics",
            "tags": ["operations"],
            "summary": "Prometheus metrics (limited by ENGINE_METRICS_TOKEN / ENGINE_METRICS_ALLOW)",
            "security": [{}],
            "responses": {
                "200": {"description": "Prometheus text format.", "content": {"text/plain": {}}},
                "default": {"$ref": "#/components/responses/Error"},
            },
        }
    }
