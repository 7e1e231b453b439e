"""Named placeholders -> asyncpg's $n parameters, once per query shape.

Builders use `param("name")`; compiling renders the SQL text once and remembers which value
goes to which $n, so a request only binds values: no SQL text is built per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlglot import exp, parse_one
from sqlglot.errors import ParseError

from engine.sql.ddl import DIALECT, render


def param(name: str) -> exp.Placeholder:
    """A named value slot: statements are built with names and bound by name, never with values."""
    return exp.Placeholder(this=name)


@dataclass(frozen=True)
class Compiled:
    sql: str
    names: tuple[str, ...]  # names[i] is bound to $(i+1)

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] for name in self.names]


def compile_expression(expression: exp.Expression) -> Compiled:
    """Render once, numbering each distinct `param` as asyncpg's $n (a name used twice binds once)."""
    names: list[str] = []

    def number(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.this:
            name = node.name
            if name not in names:
                names.append(name)
            return exp.Parameter(this=exp.Literal.number(names.index(name) + 1))
        return node

    return Compiled(render(expression.transform(number)), tuple(names))


def for_rows(sql: str, rows: str, shared: Mapping[int, int]) -> str | None:
    """The statement `sql` (as `compile_expression` renders it) for each row of the relation `rows`
    (joined LATERAL): its $n read from the row's column `"p{n-1}"`, except the positions (from 0) in
    `shared`, the same value for every row, bound as the new statement's parameter `shared[position]`.

    Parsed again from its text (once per shape, by engine.db.coalesce: keeping every statement's
    syntax tree would cost memory for the few that need it); None when the text does not read back
    as the same statement."""
    try:
        statement = parse_one(sql, read=DIALECT)
    except ParseError:
        return None
    if render(statement) != sql:
        return None

    def value(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Literal):
            position = int(node.this.this) - 1
            if position in shared:
                return exp.Parameter(this=exp.Literal.number(shared[position]))
            return exp.column(f"p{position}", rows, quoted=True)
        return node

    return render(statement.transform(value))


class ShapeCache:
    """A bounded LRU of compiled statements keyed by query shape."""

    def __init__(self, maxsize: int = 2048):
        self._items: OrderedDict[Hashable, Compiled] = OrderedDict()
        self._maxsize = maxsize

    def get(self, key: Hashable, build: Callable[[], exp.Expression]) -> Compiled:
        try:
            self._items.move_to_end(key)
            return self._items[key]
        except KeyError:
            compiled = compile_expression(build())
            self._items[key] = compiled
            if len(self._items) > self._maxsize:
                self._items.popitem(last=False)
            return compiled

    def __len__(self) -> int:
        return len(self._items)


def tagged(statement: exp.Expression, name: str) -> exp.Expression:
    """The write `statement` returning one more column, `name`, the int bound to `param(name)`: the
    last column of its final SELECT or RETURNING (engine.db.commit_together tells the rows of a
    pipeline apart by it). ValueError for a statement that returns nothing."""
    tag = exp.alias_(exp.cast(param(name), "int"), name, quoted=True)
    if isinstance(statement, exp.Select):
        return statement.select(tag)
    returning = statement.args.get("returning") if isinstance(statement, (exp.Insert, exp.Update, exp.Delete)) else None
    if not isinstance(returning, exp.Returning):
        raise ValueError(f"a write that returns no row cannot be told apart in a pipeline: {statement.sql()[:80]}")
    statement = statement.copy()
    returning = statement.args["returning"]
    returning.append("expressions", tag)
    return statement
