"""Built-in rate limiting: a token bucket per caller, answered 429 with Retry-After when empty.

The caller is the API key when one signed the request in, else the user id when signed in, else
the client address (X-Forwarded-For only from ENGINE_TRUSTED_PROXIES). One global rate
(ENGINE_RATE_LIMIT, else settings.rate_limit, else 1000/minute) and per-resource, per-action
overrides (`rate_limit` in resources.yaml). Buckets live in the worker, or in Redis (REDIS_URL)
where one atomic script serves every worker. Every answer carries RateLimit-Limit,
RateLimit-Remaining and RateLimit-Reset.

The limiter runs after authentication (it needs the user id): a request refused there (401) is
not counted here but by the failed-authentication limit (auth_failures.py, ENGINE_AUTH_FAILURE_LIMIT).
If Redis fails, ENGINE_RATE_LIMIT_FAIL decides: `open` lets requests through,
`closed` answers 503; either way it is logged, never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiohttp import web

from engine.db.redis import OutageLog, prefix, redis_down, shared_redis
from engine.features.openapi.contrib import problem_response, resource_operations
from engine.features.rate_limit.auth_failures import AUTH_FAILURES, AuthFailureLimiter, auth_failures, failure_rate
from engine.features.rate_limit.buckets import BucketStore, Decision, MemoryBuckets, RedisBuckets
from engine.features.rate_limit.rates import Rate, parse_rate
from engine.features.rate_limit.stats import RATE_LIMIT_STATS, RateLimitStats
from engine.http.client_ip import ClientAddress
from engine.http.keys import IDENTITY
from engine.http.middleware import after_authentication
from engine.http.routes import resource_action
from engine.kernel.config import Config
from engine.kernel.errors import ServiceUnavailable, TooManyRequests
from engine.kernel.hooks import hookimpl
from engine.spec import ACTIONS, Spec

log = logging.getLogger("engine.rate_limit")
GLOBAL = "*"


@dataclass
class RateLimiter:
    default: Rate | None
    overrides: dict[tuple[str, str], tuple[str, Rate | None]]  # (resource, action) -> (bucket, rate)
    client: ClientAddress
    store: BucketStore
    fail_closed: bool
    stats: RateLimitStats
    outage: OutageLog = field(default_factory=lambda: OutageLog(log))

    def bucket_for(self, request: web.Request) -> tuple[str, Rate | None]:
        route = resource_action(request)
        if route is not None:
            override = self.overrides.get((route[0].name, route[1]))
            if override is not None:
                return override
        return GLOBAL, self.default

    def caller(self, request: web.Request) -> str:
        identity = request.get(IDENTITY)
        if identity is None:
            return f"ip:{self.client.of(request)}"
        if identity.credential_id is not None:  # an API key has its own bucket, apart from its owner's
            return f"key:{identity.credential_id}"
        return f"user:{identity.user_id}"

    async def check(self, request: web.Request) -> tuple[Decision, Rate] | None:
        bucket, rate = self.bucket_for(request)
        if rate is None:
            return None
        try:
            decision = await self.store.take(f"{bucket}|{self.caller(request)}", rate)
        except redis_down() as exc:
            self.backend_failed(exc)
            return None
        self.outage.recovered("rate limiter store reachable again")
        if decision.allowed:
            self.stats.allowed += 1
        else:
            self.stats.limited += 1
        return decision, rate

    def backend_failed(self, exc: BaseException) -> None:
        """The store failed: log (at most every 30 s), and refuse with 503 when failing closed."""
        self.stats.backend_errors += 1
        policy = "refusing requests (503)" if self.fail_closed else "letting requests through"
        self.outage.failed(f"rate limiter store unavailable, {policy}", exc)
        if self.fail_closed:
            raise ServiceUnavailable("rate limiting is unavailable; retry shortly", headers={"Retry-After": "1"})


LIMITER = web.AppKey("rate_limiter", RateLimiter)
DECISION = web.RequestKey("rate_limit_decision", Decision)


def resource_overrides(spec: Spec) -> dict[tuple[str, str], tuple[str, Rate | None]]:
    """`rate_limit: 20/minute` gives a resource one bucket for all its actions; a mapping gives
    each listed action its own bucket (unlisted actions use the global one)."""
    overrides: dict[tuple[str, str], tuple[str, Rate | None]] = {}
    for name, resource in spec.resources.items():
        setting = resource.rate_limit
        if isinstance(setting, str):
            rate = parse_rate(setting, f"resources.{name}.rate_limit")
            overrides.update({(name, action): (name, rate) for action in ACTIONS})
        elif isinstance(setting, dict):
            for action, text in setting.items():
                overrides[(name, action)] = (
                    f"{name}.{action}",
                    parse_rate(text, f"resources.{name}.rate_limit.{action}"),
                )
    return overrides


def build_limiter(app: web.Application, spec: Spec, config: Config) -> RateLimiter:
    default = config.value("ENGINE_RATE_LIMIT", spec)  # declared in engine.features.rate_limit.settings
    proxies = config.value("ENGINE_TRUSTED_PROXIES")
    redis = shared_redis(app, config)
    store = RedisBuckets(redis, prefix(config)) if redis is not None else MemoryBuckets()
    fail = config.value("ENGINE_RATE_LIMIT_FAIL")
    stats = app[RATE_LIMIT_STATS] = RateLimitStats()
    return RateLimiter(default, resource_overrides(spec), ClientAddress(proxies), store, fail == "closed", stats)


async def _rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    decision = request.get(DECISION)
    if decision is not None:
        response.headers.update(decision.headers())


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    limiter = app[LIMITER] = build_limiter(app, spec, config)
    app.on_response_prepare.append(_rate_limit_headers)
    rate = failure_rate(config)
    if rate is not None:
        app[AUTH_FAILURES] = AuthFailureLimiter(rate, limiter.client, limiter.store, limiter.backend_failed)


@after_authentication
@web.middleware
async def rate_limit(request: web.Request, handler) -> web.StreamResponse:
    """Take a token before anything else runs for this caller (preflights are free)."""
    limiter = request.app.get(LIMITER)
    if limiter is None or request.method == "OPTIONS":
        return await handler(request)
    checked = await limiter.check(request)
    if checked is not None:
        decision, rate = checked
        request[DECISION] = decision
        if not decision.allowed:
            raise TooManyRequests(
                f"too many requests: the limit is {rate.text}; retry in {decision.retry_after} s",
                headers={"Retry-After": str(decision.retry_after)},
            )
    return await handler(request)


@hookimpl(trylast=True)
def register_middlewares(app, spec):
    return [auth_failures, rate_limit]  # auth_failures runs outside authentication, rate_limit inside


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec) -> None:
    for _, operation in resource_operations(document, spec):
        retry = {"Retry-After": "Seconds until a request may pass again."}
        operation["responses"]["429"] = problem_response("Too many requests from you: wait Retry-After seconds.", retry)
