"""JSON built by PostgreSQL (engine/sql/json_out.py) against today's path (asyncpg decodes the row,
orjson encodes it): the same bytes for every column type the module calls exact, on edge values; and
records written as JSON (`json_field`, how included rows travel) read back as values that write
today's bytes, for every type."""

from __future__ import annotations

import random
import struct
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import orjson
import pytest
from sqlglot import exp

from engine.db.pool import connect
from engine.sql.compiled import compile_expression
from engine.sql.ddl import table
from engine.sql.json_out import EXACT, exact, json_field, row_json

TYPES = {
    "t": "text",
    "u": "uuid",
    "i": "bigint",
    "b": "boolean",
    "ts": "timestamptz",
    "d": "double precision",
    "j": "jsonb",
}
TEXTS = ["", "plain", 'quote " backslash \\ slash /', "\n\t\r\b\f \x01\x1f\x7f", "é ü 😀 \u2028\u2029 </script>"]
INTEGERS = [0, -1, 42, 2**53 + 1, 2**63 - 1, -(2**63)]
TIMES = [
    datetime(2026, 12, 5, 21, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 5, 21, 0, 0, 120000, tzinfo=UTC),
    datetime(2026, 12, 5, 21, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 12, 5, 21, 0, 0, 999999, tzinfo=UTC),
    datetime(999, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.max,  # asyncpg writes and reads it as 'infinity'
    datetime.min,  # '-infinity'
]
DOUBLES = [0.0, -0.0, 1.0, -1.0, 100.0, 0.1, 1.5, 1e15, 1e16, 1e17, 1e21, 1e-4, 1e-5, 1e-6, 1e-7, 2.5e-5]
DOUBLES += [1234567890123456.0, 12345678901234567.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]
DOUBLES += [float("nan"), float("inf"), float("-inf")]  # orjson writes null
JSONS = [{}, [], {"a": 1}, {"b": [1, 2.5, None, True, "x"], "a": {"nested": 1.0}}]


def random_doubles(count: int) -> list[float]:
    rng = random.Random(18)
    values = []
    while len(values) < count:
        bits = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        scaled = rng.random() * 10 ** rng.randint(-30, 30)
        values += [
            v for v in (bits, scaled, float(rng.randint(-(10**18), 10**18))) if v == v and abs(v) != float("inf")
        ]
    return values


def rows() -> list[dict]:
    """Each value of each type once, with the other columns null, and one row of all nulls."""
    values = {
        "t": TEXTS,
        "u": [str(uuid.UUID(int=0)), str(uuid.uuid4())],
        "i": INTEGERS,
        "b": [True, False],
        "ts": TIMES,
        "d": DOUBLES + random_doubles(2000),
        "j": JSONS,
    }
    return [{}] + [{name: value} for name, column_values in values.items() for value in column_values]


RESOURCE = SimpleNamespace(
    fields={name: SimpleNamespace(sql_type=sql_type, write_only=False) for name, sql_type in TYPES.items()}
)


@pytest.fixture
async def conn(engine_database_url, engine_schema):
    conn = await connect(engine_database_url, schema=engine_schema)
    columns = ", ".join(f'"{name}" {sql_type}' for name, sql_type in TYPES.items())
    await conn.execute(f"create table samples (n serial primary key, {columns})")
    by_column: dict[tuple, list] = {}
    for n, row in enumerate(rows()):
        by_column.setdefault(tuple(row), []).append((n, *row.values()))
    for names, records in by_column.items():
        marks = ", ".join(f"${i + 1}" for i in range(len(names) + 1))
        quoted = "".join(f', "{name}"' for name in names)
        await conn.executemany(f"insert into samples (n{quoted}) values ({marks})", records)
    yield conn
    await conn.close()


async def both_paths(conn, fields: tuple[str, ...]) -> list[tuple[bytes, bytes]]:
    """(today's bytes, the database's bytes) for every sample row, over `fields`."""
    body = row_json(RESOURCE, fields).as_("body")
    built = compile_expression(exp.select(exp.column("n"), body).from_(table("samples")))
    plain = ", ".join(f'"{name}"' for name in fields)
    today = {
        r["n"]: orjson.dumps({name: r[name] for name in fields})
        for r in await conn.fetch(f"select n, {plain} from samples")
    }
    return [(today[r["n"]], r["body"].encode()) for r in await conn.fetch(built.sql)]


@pytest.mark.parametrize("name", [name for name, sql_type in TYPES.items() if sql_type in EXACT])
async def test_the_database_writes_todays_bytes_for_every_exact_type(conn, name):
    pairs = await both_paths(conn, (name,))
    assert [(t, d) for t, d in pairs if t != d] == []


async def test_a_whole_row_of_exact_types_keeps_its_key_order_and_bytes(conn):
    fields = tuple(name for name, sql_type in TYPES.items() if sql_type in EXACT)
    pairs = await both_paths(conn, tuple(reversed(fields)))
    assert [(t, d) for t, d in pairs if t != d] == []


async def test_jsonb_is_not_exact_and_is_flagged_so(conn):
    """PostgreSQL writes jsonb with a space after ':' and ','; only decoding makes the bytes equal."""
    assert not exact(RESOURCE, ("t", "j"))
    pairs = [(t, d) for t, d in await both_paths(conn, ("j",)) if t != b'{"j":null}']
    assert any(t != d for t, d in pairs)
    assert all(orjson.dumps(orjson.loads(d)) == t for t, d in pairs)


async def test_a_record_written_as_json_reads_back_as_todays_bytes_for_every_type(conn):
    names = tuple(TYPES)
    fields = [json_field(exp.column(name), TYPES[name]) for name in names]
    record = exp.Anonymous(this="json_build_array", expressions=fields)
    built = compile_expression(exp.select(exp.column("n"), record.as_("record")).from_(table("samples")))
    plain = ", ".join(f'"{name}"' for name in names)
    today = {
        r["n"]: orjson.dumps({name: r[name] for name in names})
        for r in await conn.fetch(f"select n, {plain} from samples")
    }
    back = {  # the pool's codec reads the json
        r["n"]: orjson.dumps(dict(zip(names, r["record"], strict=True))) for r in await conn.fetch(built.sql)
    }
    assert len(back) == len(today) > 2000
    assert [(today[n], back[n]) for n in today if today[n] != back[n]] == []
