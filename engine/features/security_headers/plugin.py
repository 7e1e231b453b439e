"""Built-in security headers on every response, errors and 304s included.

All responses: `X-Content-Type-Options: nosniff` and a Referrer-Policy. HTML pages also get a
strict Content-Security-Policy (no inline script or style, no framing) and `X-Frame-Options:
DENY`, unless the page set its own policy. In production (ENGINE_ENV=production) responses carry
HSTS, so browsers only ever come back over HTTPS.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

HTML_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


@dataclass(frozen=True)
class SecurityHeaders:
    always: dict[str, str]
    html: dict[str, str]

    @classmethod
    def from_config(cls, config: Config) -> SecurityHeaders:
        always = {
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": config.value("ENGINE_REFERRER_POLICY"),
        }
        if config.production:
            max_age = config.value("ENGINE_HSTS_MAX_AGE")
            always["Strict-Transport-Security"] = f"max-age={max_age}; includeSubDomains"
        html = {
            "Content-Security-Policy": config.value("ENGINE_HTML_CSP") or HTML_CSP,
            "X-Frame-Options": "DENY",
        }
        return cls(always, html)

    def apply(self, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in self.always.items():
            headers.setdefault(name, value)
        if headers.get("Content-Type", "").startswith("text/html"):
            for name, value in self.html.items():
                headers.setdefault(name, value)


SECURITY_HEADERS = web.AppKey("security_headers", SecurityHeaders)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    request.app[SECURITY_HEADERS].apply(response)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[SECURITY_HEADERS] = SecurityHeaders.from_config(config)
    app.on_response_prepare.append(_add_headers)
