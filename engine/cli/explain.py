"""`resource-engine explain RESOURCE ACTION --as USER [--role ROLE] [--id ID] [--plan]`.

Prints the SQL the engine runs when that caller lists, reads, updates, deletes or attaches to a
resource's rows, built by the same code as at run time (the `access_predicates` and
`field_access` hooks, the statement builders), with the value of every bound parameter. With
`--plan`, PostgreSQL's plan for it: the generic plan (planned for any values, the one the engine's
connections run), which shows whether every hop of a path rule uses an index; with `--id` under
ENGINE_DB_PLAN_CACHE_MODE=auto, the plan for that row.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.kernel import settings
from engine.kernel.hooks import call_all
from engine.kernel.identity import Identity
from engine.kernel.plugins import build_plugin_manager
from engine.resources.field_rules import merge
from engine.resources.values import from_query
from engine.spec import Resource, Spec
from engine.spec.access import describe
from engine.sql.compiled import Compiled
from engine.sql.queries import Predicate, ResourceQueries, SortKey, bind_predicates

ACTIONS = ("list", "read", "update", "delete", "attach")


def add_parser(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser("explain", help="print the SQL (and plan) an action runs for a caller")
    explain.add_argument("resource", help="a resource of the spec")
    explain.add_argument("action", choices=ACTIONS)
    explain.add_argument("--as", dest="user", required=True, help="the caller's user id")
    explain.add_argument("--role", action="append", default=[], help="a role of the caller (repeatable)")
    explain.add_argument("--id", help="the row's primary key (read, update, delete, attach)")
    explain.add_argument("--plan", action="store_true", help="also print PostgreSQL's plan (needs the database)")


async def statement(spec: Spec, resource: Resource, action: str, identity: Identity) -> tuple[Compiled, dict]:
    """The statement and its values, as the resource manager would build them."""
    pm = build_plugin_manager(spec)
    predicates = _flat(await call_all(pm.hook.access_predicates, resource=resource, action=action, identity=identity))
    queries = ResourceQueries(resource)
    if action == "list":
        masks = tuple(
            merge(await call_all(pm.hook.field_access, resource=resource, mode="read", identity=identity)).items()
        )
        sort = (SortKey(resource.primary_key),)
        compiled = queries.list((), sort, resource.columns, None, predicates, masks)
        values = {"limit": spec.settings.page_size + 1}
    elif action == "read":
        masks = tuple(
            merge(await call_all(pm.hook.field_access, resource=resource, mode="read", identity=identity)).items()
        )
        compiled, values = queries.get(predicates, resource.columns, masks=masks), {"pk": None}
    else:  # writes first lock the row they may change: that statement carries the access predicates
        masks = ()
        compiled, values = queries.get(predicates, resource.columns, lock=True), {"pk": None}
    return compiled, bind_predicates((*predicates, *(p for _, p in masks)), values)


def _flat(results: list[Any]) -> tuple[Predicate, ...]:
    flat: list[Predicate] = []
    for result in results:
        flat.extend(result if isinstance(result, (list, tuple)) else [result])
    return tuple(flat)


async def explained(spec: Spec, args: argparse.Namespace) -> tuple[Compiled, dict, list[str]]:
    """The statement, its values and the lines `explain` prints (without the plan)."""
    resource = spec.resources[args.resource]
    identity = Identity(args.user, frozenset({"user", *args.role}))
    compiled, values = await statement(spec, resource, args.action, identity)
    if "pk" in values and args.id is not None:
        values["pk"] = from_query(resource.pk, args.id)
    lines = [compiled.sql, ""]
    for i, name in enumerate(compiled.names, start=1):
        shown = "(the row's id: --id)" if name == "pk" and values[name] is None else repr(values[name])
        lines.append(f"${i} = {shown}  -- {name}")
    mode = resource.access_mode(args.action)
    rules = describe(resource.access[mode]) if mode else ("the owner" if resource.owner else "every row")
    lines.append(f"-- rows: {rules}" + ("" if not identity.is_admin else " (admins: every row)"))
    for name, modes in resource.field_access.items():
        if "read" in modes and args.action in ("list", "read"):
            lines.append(f"-- field {name}: readable by {describe(modes['read'])}")
    return compiled, values, lines


async def plan(conn: Any, compiled: Compiled, values: dict) -> list[str]:
    """The plan the engine's connections run: the generic plan (the one for any caller and row,
    ENGINE_DB_PLAN_CACHE_MODE=force_generic_plan, the default); under another mode, EXPLAIN for the
    row `--id` names."""
    generic = settings.value("ENGINE_DB_PLAN_CACHE_MODE") == "force_generic_plan"
    if not generic and values.get("pk", 0) is not None:
        return [row[0] for row in await conn.fetch("EXPLAIN " + compiled.sql, *compiled.args(values))]
    async with conn.transaction():  # PREPARE over the simple protocol, then plan it without values
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE _engine_explain AS {compiled.sql}")
        try:
            nulls = ", ".join(["NULL"] * len(compiled.names))
            rows = await conn.fetch(f"EXPLAIN EXECUTE _engine_explain({nulls})")
        finally:
            await conn.execute("DEALLOCATE _engine_explain")
    return [row[0] for row in rows]
