"""Compare two database models and list the DDL steps between them.

Steps that lose data (dropping a table or column, changing a type) are marked destructive;
`migrate make` writes them only when asked to explicitly. A step that would fail on a table with
rows is never written: a new required column without a default is refused (`refusal` names the
column and the fix), and making a column with a default required first fills the rows that have
no value with the default, then sets NOT NULL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from engine.spec.model import History, SoftDelete
from engine.sql import ddl

Model = dict[str, dict[str, Any]]
SOFT_DELETE_COLUMN = SoftDelete.column  # the same in every spec


@dataclass(frozen=True)
class Step:
    description: str
    statement: exp.Expression
    destructive: bool = False
    warning: str | None = None  # applies cleanly only under a condition the author must check
    refusal: str | None = None  # fails on a populated table: `migrate make` writes nothing

    @property
    def sql(self) -> str:
        return ddl.render(self.statement)


def diff(old: Model, new: Model) -> list[Step]:
    steps: list[Step] = []
    created = [t for t in _creation_order(new) if t not in old]
    deferred_fks: list[Step] = []
    ready = set(old)
    for name in created:
        model = new[name]
        inline = {k: fk for k, fk in model["foreign_keys"].items() if fk["ref_table"] in ready | {name}}
        steps.append(Step(f"create table {name}", ddl.create_table({**model, "foreign_keys": inline})))
        ready.add(name)
        deferred_fks += [
            Step(f"add foreign key {k} on {name}", ddl.add_constraint(name, ddl.foreign_key(k, fk)))
            for k, fk in model["foreign_keys"].items()
            if k not in inline
        ]
        steps += [Step(f"create index {k}", ddl.create_index(k, name, cols)) for k, cols in model["indexes"].items()]
        steps += _partial_unique(name, {}, model)
    steps += deferred_fks
    for name in new:
        if name in old:
            steps += _alter_table(old[name], new[name])
    for name in reversed(_creation_order(old)):
        if name not in new:
            steps.append(Step(f"drop table {name}", ddl.drop_table(name), destructive=True))
    return steps


class RenameProblem(ValueError):
    """A `--rename` the migrations cannot follow; the message names it and why."""


def renamed(old: Model, new: Model, renames: dict[tuple[str, str], str]) -> tuple[Model, list[Step]]:
    """`old` with columns renamed in place ((table, column) -> new name), and the steps that rename them.

    The diff from the result keeps the column's data; constraints and indexes named after the old
    column are then dropped by their old names and made again under the new ones."""
    model = {name: {**table_model, "columns": dict(table_model["columns"])} for name, table_model in old.items()}
    steps = []
    for (table_name, column_name), to in renames.items():
        columns = model.get(table_name, {}).get("columns", {})
        if column_name not in columns:
            raise RenameProblem(f"{table_name}.{column_name}: the migrations have no such column to rename")
        if to in columns:
            raise RenameProblem(f"{table_name}.{column_name}: the migrations already have a column {to}")
        if to not in new.get(table_name, {}).get("columns", {}):
            raise RenameProblem(f"{table_name}.{column_name}: the spec has no field {to} in {table_name}")
        columns[to] = columns.pop(column_name)
        statement = ddl.rename_column(table_name, column_name, to)
        steps.append(Step(f"rename column {table_name}.{column_name} to {to}", statement))
        versions = History.table_of(table_name)
        if versions in old:  # a restore of an older version finds the value under the field's new name
            statement = ddl.rename_key(versions, "data", column_name, to)
            steps.append(Step(f"rename {column_name} to {to} in the versions of {table_name} ({versions})", statement))
    return model, steps


def _creation_order(model: Model) -> list[str]:
    """Referenced tables before the tables that reference them (cycles keep file order)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name in visiting or name not in model:
            return
        visiting.add(name)
        for fk in model[name]["foreign_keys"].values():
            visit(fk["ref_table"])
        visiting.discard(name)
        order.append(name)

    for name in model:
        visit(name)
    return order


def _alter_table(old: dict[str, Any], new: dict[str, Any]) -> list[Step]:
    name = new["table"]
    steps: list[Step] = []
    dropped_constraints = [
        (kind, k)
        for kind in ("foreign_keys", "unique", "checks")
        for k, v in old[kind].items()
        if new[kind].get(k) != v
    ]
    steps += [Step(f"drop constraint {k} on {name}", ddl.drop_constraint(name, k)) for _, k in dropped_constraints]
    steps += [
        Step(f"drop index {k}", ddl.drop_index(k)) for k, v in old["indexes"].items() if new["indexes"].get(k) != v
    ]
    steps += [
        Step(f"drop index {k}", ddl.drop_index(k))
        for k, v in old.get("partial_unique", {}).items()
        if new.get("partial_unique", {}).get(k) != v
    ]
    for col, spec in new["columns"].items():
        before = old["columns"].get(col)
        if before is None:
            steps.append(
                Step(f"add column {name}.{col}", ddl.add_column(name, col, spec), refusal=_unfillable(name, col, spec))
            )
            continue
        if before["type"] != spec["type"]:
            if before.get("default") is not None:  # PostgreSQL refuses a type its old default does not cast to
                steps.append(
                    Step(f"drop default of {name}.{col} before changing its type", ddl.set_default(name, col, None))
                )
                before = {**before, "default": None}
            steps.append(
                Step(
                    f"change type of {name}.{col} from {before['type']} to {spec['type']}",
                    ddl.set_type(name, col, spec["type"], before["type"]),
                    destructive=True,
                )
            )
        if before.get("default") != spec.get("default"):
            steps.append(Step(f"change default of {name}.{col}", ddl.set_default(name, col, spec.get("default"))))
        if before["nullable"] != spec["nullable"]:
            steps += _set_nullable(name, col, spec)
    purge = _purge_soft_deleted(name, old, new)
    steps += purge
    for col, spec in old["columns"].items():
        if col not in new["columns"]:  # a generated column holds no data of its own: not destructive
            destructive = not spec.get("generated")
            steps.append(Step(f"drop column {name}.{col}", ddl.drop_column(name, col), destructive=destructive))
    builders = {
        "checks": lambda k, c: ddl.check_in(k, c["column"], c["values"]),
        "unique": ddl.unique,
        "foreign_keys": ddl.foreign_key,
    }
    for kind, build in builders.items():
        for k, v in new[kind].items():
            if old[kind].get(k) != v:
                statement = ddl.add_constraint(name, build(k, v))
                before = old[kind].get(k)
                if purge and kind == "unique":  # the rows left are those the partial unique index kept unique
                    before = old.get("partial_unique", {}).get(k, {}).get("columns")
                warning = _violators(name, kind, v, before) if before != v else None
                steps.append(Step(f"add constraint {k} on {name}", statement, warning=warning))
    steps += [
        Step(f"create index {k}", ddl.create_index(k, name, cols))
        for k, cols in new["indexes"].items()
        if old["indexes"].get(k) != cols
    ]
    return steps + _partial_unique(name, old, new)


def _violators(table: str, kind: str, constraint: Any, before: Any) -> str | None:
    """The rows that make a new constraint on an existing table fail, and what to do about them.

    None when the rows met the constraint it replaces: an enum grown, a foreign key's on_delete changed."""
    if kind == "checks" and before is not None and set(constraint["values"]) >= set(before["values"]):
        return None
    if kind == "foreign_keys" and before is not None and before["ref_table"] == constraint["ref_table"]:
        return None
    if kind == "unique":
        rows = f"rows of {table} sharing a value of ({', '.join(constraint)})"
    elif kind == "checks":
        values = ", ".join(str(v) for v in constraint["values"])
        rows = f"rows of {table} whose {constraint['column']} is none of {values} (a value removed from its enum)"
    else:
        rows = f"rows of {table} whose {constraint['column']} names no {constraint['ref_table']} row"
    return f"{rows} make this step fail: change or delete them first"


def _purge_soft_deleted(table: str, old: dict[str, Any], new: dict[str, Any]) -> list[Step]:
    """`soft_delete` turned off: the rows deleted through the API go for good before their mark does.

    Dropping the column alone would bring every deleted row back into lists and reads (and make a
    unique key that ignored them fail); a DELETE is what the spec now says a delete is."""
    column = old["columns"].get(SOFT_DELETE_COLUMN)
    if column is None or column["type"] != "timestamptz" or SOFT_DELETE_COLUMN in new["columns"]:
        return []
    purge = ddl.delete_where_not_null(table, SOFT_DELETE_COLUMN)
    description = f"delete for good the rows of {table} deleted while soft_delete was on ({SOFT_DELETE_COLUMN} set)"
    return [Step(description, purge, destructive=True)]


def _partial_unique(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Step]:
    """Unique indexes over the rows not soft-deleted (`soft_delete`), created where new or changed."""
    before = old.get("partial_unique", {})
    return [
        Step(
            f"create unique index {k} on {name} (rows not deleted)",
            ddl.create_partial_unique(k, name, v["columns"], v["where_null"]),
            warning=_violators(name, "unique", v["columns"], None) if _may_repeat(old, k, v["columns"]) else None,
        )
        for k, v in new.get("partial_unique", {}).items()
        if before.get(k) != v
    ]


def _may_repeat(old: dict[str, Any], key: str, columns: list[str]) -> bool:
    """Whether the rows of an existing table may share values a new unique index forbids."""
    held = [old.get("unique", {}).get(key), old.get("partial_unique", {}).get(key, {}).get("columns")]
    return bool(old) and columns not in held


def _unfillable(table: str, column: str, spec: dict[str, Any]) -> str | None:
    """Why adding this column fails on a table with rows, with the fix; None when it does not."""
    if spec["nullable"] or spec.get("default") is not None:
        return None
    return (
        f"{table}.{column} is required and has no default: ADD COLUMN ... NOT NULL fails on a table with rows. "
        f"Fix: give {column} a default in its JSON Schema (existing rows get it), or add it as optional "
        f"first (leave it out of `required`), fill every row, and make it required in a later migration"
    )


def _set_nullable(table: str, column: str, spec: dict[str, Any]) -> list[Step]:
    if spec["nullable"]:
        return [Step(f"allow null in {table}.{column}", ddl.set_nullable(table, column, True))]
    steps = []
    warning = None
    if spec.get("default") is not None:  # the safe sequence: fill the gaps, then require a value
        fill = ddl.fill_default(table, column, spec["default"])
        steps.append(Step(f"fill {table}.{column} with its default where it has no value", fill))
    else:
        warning = f"rows of {table} without a {column} make this step fail: fill them first, or give {column} a default"
    steps.append(Step(f"require a value in {table}.{column}", ddl.set_nullable(table, column, False), warning=warning))
    return steps
