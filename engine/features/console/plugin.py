"""Built-in: the data console at /console (docs/console.md).

Server-rendered pages (aiohttp-jinja2) generated from the spec, one first-party script and
stylesheet, nothing from another origin. It needs the `sessions` plugin: a console user is a
browser session, and without sessions the console serves no routes.
"""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware

from engine.features.console import pages, signin
from engine.features.console.fields import views_of
from engine.features.console.openapi import console_paths
from engine.features.console.static import STATIC_PATH, static_file
from engine.features.google_oauth.plugin import SETTINGS as GOOGLE_SETTINGS
from engine.http.keys import PLUGINS
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

BASE = pages.BASE


def _served(app: web.Application) -> bool:
    return app[PLUGINS].get_plugin("sessions") is not None


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    if not _served(app):
        return
    app[pages.VIEWS] = views_of(spec)
    app[pages.DECLARED] = pages.declared_blocks(spec.path)
    aiohttp_jinja2.setup(
        app,
        app_key=pages.TEMPLATES,
        loader=jinja2.PackageLoader("engine.features.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        default_helpers=False,
    )


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    if _served(app):
        app[pages.GOOGLE_SIGN_IN] = GOOGLE_SETTINGS in app


@hookimpl(trylast=True)
def register_middlewares(app: web.Application, spec: Spec) -> list[Middleware]:
    return [signin.ended_session_to_sign_in] if _served(app) else []


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    if not _served(app):
        return []
    return [
        web.get(BASE, pages.home),
        web.get(f"{BASE}/signin", signin.show_signin),
        web.post(f"{BASE}/signin", signin.token_signin),
        web.post(f"{BASE}/signout", signin.signout),
        web.get(f"{BASE}/admin", pages.admin_page),
        web.get(f"{BASE}/r/{{resource}}", pages.table_page),
        web.get(f"{BASE}/r/{{resource}}/new", pages.form_page),
        web.get(f"{BASE}/r/{{resource}}/{{id}}", pages.row_page),
        web.get(f"{BASE}/r/{{resource}}/{{id}}/edit", pages.form_page),
        web.get(STATIC_PATH, static_file),
    ]


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec, app: web.Application) -> None:
    if _served(app):
        console_paths(document)
