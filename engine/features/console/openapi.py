"""The console's routes in the OpenAPI document (HTML pages, so described briefly)."""

from __future__ import annotations

from typing import Any

from engine.features.console.static import FILES, STATIC_PATH

TAG = "console"


def _page(operation_id: str, summary: str, parameters: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "tags": [TAG],
            "summary": summary,
            "security": [{}],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in parameters
            ],
            "responses": {
                "200": {"description": "The page.", "content": {"text/html": {}}},
                "302": {"description": "Not signed in: to the sign-in page."},
                "403": {"description": "A page saying what you may not do.", "content": {"text/html": {}}},
                "404": {"description": "A page saying what was not found.", "content": {"text/html": {}}},
            },
        }
    }


def _form_post(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": [TAG],
        "summary": summary,
        "security": [{}],
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
        "responses": {
            "303": {"description": "Done: to the next page."},
            "401": {"description": "The pasted token is not valid (the sign-in page again)."},
            "403": {"$ref": "#/components/responses/Forbidden"},
            "404": {"$ref": "#/components/responses/NotFound"},
        },
    }


def console_paths(document: dict[str, Any]) -> None:
    paths = document["paths"]
    paths["/console"] = _page("console_home", "The data console: the resources you may browse")
    paths["/console/signin"] = {
        **_page("console_signin_page", "The console's sign-in page"),
        "post": _form_post("console_token_signin", "Sign in with a pasted access token (development only)"),
    }
    paths["/console/signout"] = {"post": _form_post("console_signout", "Sign out of the console")}
    paths["/console/admin"] = _page("console_admin", "Spec, routes, migrations and health (admins)")
    paths["/console/r/{resource}"] = _page("console_table", "A resource's rows", ("resource",))
    paths["/console/r/{resource}/new"] = _page("console_create_form", "The create form", ("resource",))
    paths["/console/r/{resource}/{id}"] = _page("console_row", "One row, its relations and events", ("resource", "id"))
    paths["/console/r/{resource}/{id}/edit"] = _page("console_edit_form", "The edit form", ("resource", "id"))
    paths[STATIC_PATH] = {
        "get": {
            "operationId": "console_static_file",
            "tags": [TAG],
            "summary": "The console's script and stylesheet",
            "security": [{}],
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"enum": sorted(FILES)}}],
            "responses": {
                "200": {"description": "The file."},
                "304": {"description": "Not modified (If-None-Match)."},
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    }
