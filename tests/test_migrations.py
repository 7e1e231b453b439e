"""Migrations: `make` diffs the spec against the files, `apply` runs them once, in order, checksummed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from engine import migrations
from engine.cli.main import main
from engine.db.pool import connect
from engine.features.history.store import Versions
from engine.spec import load_spec

NOTE_PROPERTIES = {
    "id": {"type": "string", "format": "uuid"},
    "title": {"type": "string"},
    "pages": {"type": "integer"},
    "state": {"enum": ["draft", "published"]},
}
SHIPPED_SPEC = str(Path(__file__).parent.parent / "resources.yaml")
SPEC = """
    version: 1
    resources:
      notes:
        schema: schemas/note.json
"""


@pytest.fixture
def project(write_spec, schema_of, tmp_path) -> Path:
    """A project with one resource; returns its resources.yaml."""
    return write_spec(SPEC, {"schemas/note.json": schema_of(NOTE_PROPERTIES, ["title"])})


def change_schema(project: Path, **properties) -> None:
    """Replace the note schema's properties (a value of None removes the property)."""
    path = project.parent / "schemas" / "note.json"
    schema = json.loads(path.read_text())
    for name, prop in properties.items():
        if prop is None:
            del schema["properties"][name]
        else:
            schema["properties"][name] = prop
    path.write_text(json.dumps(schema))


def migration_files(project: Path) -> list[str]:
    return sorted(p.name for p in (project.parent / "migrations").glob("*.sql"))


def statements(path: Path) -> list[str]:
    """The SQL statements of a migration file (comments and the snapshot left out)."""
    return [line for line in path.read_text().splitlines() if line and not line.startswith("--")]


def make(project: Path, *flags: str) -> int:
    return main(["--spec", str(project), "migrate", "make", *flags])


@pytest.fixture
def made(project) -> Path:
    """The project after its first `migrate make` (0001 written)."""
    assert make(project) == 0
    return project


# --- make -----------------------------------------------------------------------------------------


def test_make_writes_0001_creating_every_table(project):
    assert make(project) == 0
    assert migration_files(project) == ["0001_initial.sql"]
    (create,) = statements(project.parent / "migrations" / "0001_initial.sql")
    assert create.startswith('CREATE TABLE "notes" (')
    for column in ('"id" UUID DEFAULT GEN_RANDOM_UUID() NOT NULL', '"title" TEXT NOT NULL', '"pages" BIGINT'):
        assert column in create
    assert '"created_at" TIMESTAMPTZ DEFAULT NOW() NOT NULL' in create
    assert "CONSTRAINT \"notes_state_check\" CHECK (\"state\" IN ('draft', 'published'))" in create


def test_make_with_nothing_new_writes_nothing(made, capsys):
    assert make(made) == 0
    assert migration_files(made) == ["0001_initial.sql"]
    assert "no changes" in capsys.readouterr().out


def test_new_column_goes_into_0002_alone(made):
    change_schema(made, summary={"type": "string"})
    assert make(made) == 0
    assert migration_files(made) == ["0001_initial.sql", "0002_add_column_notes_summary.sql"]
    assert statements(made.parent / "migrations" / "0002_add_column_notes_summary.sql") == [
        'ALTER TABLE "notes" ADD COLUMN "summary" TEXT;'
    ]


def test_new_index_goes_into_0002_alone(made):
    made.write_text(made.read_text() + "    indexes: [[state, -pages]]\n")
    assert make(made, "--name", "index by state") == 0
    assert statements(made.parent / "migrations" / "0002_index_by_state.sql") == [
        'CREATE INDEX "notes_state_pages_idx" ON "notes"("state" ASC, "pages" DESC);'
    ]


def test_enum_change_replaces_only_its_check_constraint(made):
    change_schema(made, state={"enum": ["draft", "published", "archived"]})
    assert make(made, "--name", "archived state") == 0
    assert statements(made.parent / "migrations" / "0002_archived_state.sql") == [
        'ALTER TABLE "notes" DROP CONSTRAINT IF EXISTS "notes_state_check";',
        'ALTER TABLE "notes" ADD CONSTRAINT "notes_state_check" CHECK ("state" IN (\'draft\', \'published\', '
        "'archived'));",
    ]


def test_make_check_exits_1_when_the_spec_has_uncovered_changes(made, capsys):
    change_schema(made, summary={"type": "string"})
    assert make(made, "--check") == 1
    assert "add column notes.summary" in capsys.readouterr().out
    assert migration_files(made) == ["0001_initial.sql"]


def test_make_check_exits_0_when_the_migrations_cover_the_spec(made):
    assert make(made, "--check") == 0


def drop_column(project: Path) -> None:
    change_schema(project, pages=None)


def drop_table(project: Path) -> None:
    project.write_text(project.read_text() + "  tags:\n    schema: schemas/note.json\n")
    assert make(project) == 0
    project.write_text(SPEC)


def change_type(project: Path) -> None:
    change_schema(project, pages={"type": "number"})


DESTRUCTIVE = {"drop column": drop_column, "drop table": drop_table, "type change": change_type}


@pytest.mark.parametrize("change", DESTRUCTIVE.values(), ids=DESTRUCTIVE.keys())
def test_destructive_change_is_refused_without_the_flag(made, change, capsys):
    change(made)
    before = migration_files(made)
    assert make(made) == 1
    assert "--allow-destructive" in capsys.readouterr().err
    assert migration_files(made) == before


@pytest.mark.parametrize(
    ("change", "statement"),
    [
        (drop_column, 'ALTER TABLE "notes" DROP COLUMN "pages";'),
        (drop_table, 'DROP TABLE IF EXISTS "tags";'),
        (change_type, 'ALTER TABLE "notes" ALTER COLUMN "pages" SET DATA TYPE DOUBLE PRECISION USING CAST("pages" AS'),
    ],
    ids=DESTRUCTIVE.keys(),
)
def test_destructive_change_is_written_with_the_flag(made, change, statement):
    change(made)
    before = migration_files(made)
    assert make(made, "--allow-destructive") == 0
    (written,) = set(migration_files(made)) - set(before)
    (sql,) = statements(made.parent / "migrations" / written)
    assert sql.startswith(statement)


def test_migrations_of_two_merged_branches_are_refused_by_make_naming_both_files(made, capsys):
    files = made.parent / "migrations"
    change_schema(made, color={"type": "string"})  # branch one
    assert make(made, "--name", "color") == 0
    kept = (files / "0002_color.sql").read_text()
    (files / "0002_color.sql").unlink()
    change_schema(made, color=None, size={"type": "integer"})  # branch two, from the same 0001
    assert make(made, "--name", "size") == 0
    (files / "0002_color.sql").write_text(kept)  # merged: both files, both fields
    change_schema(made, color={"type": "string"})
    capsys.readouterr()

    assert make(made) == 1  # it wrote 0003 adding color a second time: a migration that cannot apply
    assert make(made, "--check") == 1

    error = capsys.readouterr().err
    assert "migrations/0002_color.sql and migrations/0002_size.sql share the number 0002" in error
    assert "delete the other branch's files" in error
    assert migration_files(made) == ["0001_initial.sql", "0002_color.sql", "0002_size.sql"]


def test_shipped_migrations_cover_the_shipped_spec():
    assert main(["--spec", SHIPPED_SPEC, "migrate", "make", "--check"]) == 0


# --- apply and status -------------------------------------------------------------------------------


@pytest.fixture
async def conn(engine_database_url, engine_schema):
    connection = await connect(engine_database_url, schema=engine_schema)
    yield connection
    await connection.close()


def directory(project: Path) -> str:
    return str(project.parent / "migrations")


@pytest.fixture
def two_migrations(made) -> Path:
    change_schema(made, summary={"type": "string"})
    assert make(made) == 0
    return made


async def test_apply_runs_pending_files_in_order(two_migrations, conn):
    applied = await migrations.apply(conn, directory(two_migrations))
    assert applied == ["0001_initial.sql", "0002_add_column_notes_summary.sql"]
    columns = await conn.fetch(
        "select column_name from information_schema.columns where table_schema = current_schema() "
        "and table_name = 'notes'"
    )
    assert "summary" in {c["column_name"] for c in columns}


async def test_apply_records_each_file_with_its_checksum(two_migrations, conn):
    await migrations.apply(conn, directory(two_migrations))
    rows = await conn.fetch("select name, checksum from _engine_migrations order by name")
    on_disk = {
        name: hashlib.sha256((two_migrations.parent / "migrations" / name).read_bytes()).hexdigest()
        for name in migration_files(two_migrations)
    }
    assert {r["name"]: r["checksum"] for r in rows} == on_disk


async def test_apply_twice_applies_nothing_the_second_time(two_migrations, conn):
    await migrations.apply(conn, directory(two_migrations))
    assert await migrations.apply(conn, directory(two_migrations)) == []


async def test_status_lists_applied_and_pending_files(made, conn):
    await migrations.apply(conn, directory(made))
    change_schema(made, summary={"type": "string"})
    assert make(made) == 0
    state = await migrations.status(conn, directory(made))
    assert [name for name, _ in state.applied] == ["0001_initial.sql"]
    assert [m.name for m in state.pending] == ["0002_add_column_notes_summary.sql"]


async def test_edited_applied_file_is_refused_with_a_clear_error(made, conn):
    await migrations.apply(conn, directory(made))
    first = made.parent / "migrations" / "0001_initial.sql"
    first.write_text(first.read_text() + "\n-- a harmless-looking edit\n")
    with pytest.raises(migrations.MigrationError) as refused:
        await migrations.apply(conn, directory(made))
    message = str(refused.value)
    assert "0001_initial.sql was edited after it was applied" in message
    assert "put the change in a new migration" in message


async def test_concurrent_applies_apply_each_file_exactly_once(two_migrations, engine_database_url, engine_schema):
    first = await connect(engine_database_url, schema=engine_schema)
    second = await connect(engine_database_url, schema=engine_schema)
    try:
        results = await asyncio.gather(
            migrations.apply(first, directory(two_migrations)), migrations.apply(second, directory(two_migrations))
        )
        rows = await first.fetch("select name from _engine_migrations order by name")
    finally:
        await first.close()
        await second.close()
    assert sorted(results, key=len) == [[], ["0001_initial.sql", "0002_add_column_notes_summary.sql"]]
    assert [r["name"] for r in rows] == ["0001_initial.sql", "0002_add_column_notes_summary.sql"]


async def test_servers_starting_together_can_all_read_the_status(made, engine_database_url, engine_schema):
    """Each asks for the status (creating the bookkeeping table) at once, as a fleet of workers does at start-up."""
    connections = [await connect(engine_database_url, schema=engine_schema) for _ in range(8)]
    try:
        states = await asyncio.gather(*(migrations.status(c, directory(made)) for c in connections))
    finally:
        for connection in connections:
            await connection.close()
    assert all([m.name for m in state.pending] == ["0001_initial.sql"] for state in states)


async def test_failing_migration_rolls_back_and_stays_pending(made, conn):
    broken = made.parent / "migrations" / "0002_broken.sql"
    broken.write_text('CREATE TABLE "half_done" ("id" BIGINT);\nSELECT 1 / 0;\n')
    with pytest.raises(migrations.MigrationError) as failed:
        await migrations.apply(conn, directory(made))
    assert "0002_broken.sql failed and was rolled back" in str(failed.value)
    assert await conn.fetchval("select to_regclass('half_done')") is None
    state = await migrations.status(conn, directory(made))
    assert [name for name, _ in state.applied] == ["0001_initial.sql"]
    assert [m.name for m in state.pending] == ["0002_broken.sql"]


async def test_destructive_type_change_applies_and_keeps_the_values(made, conn):
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title, pages) values ('kept', 12)")
    change_type(made)
    assert make(made, "--allow-destructive") == 0
    await migrations.apply(conn, directory(made))
    assert await conn.fetchval("select pages from notes") == 12.0


# --- the CLI over a real database ---------------------------------------------------------------


@pytest.fixture
def cli_database(engine_database_url, engine_schema, monkeypatch) -> str:
    """Point CLI commands at the test's own schema."""
    monkeypatch.setenv("DATABASE_URL", engine_database_url)
    monkeypatch.setenv("ENGINE_DB_SCHEMA", engine_schema)
    return engine_schema


def test_cli_apply_then_status(two_migrations, cli_database, capsys):
    assert main(["--spec", str(two_migrations), "migrate", "apply"]) == 0
    out = capsys.readouterr().out
    assert "applied 0001_initial.sql" in out and "applied 0002_add_column_notes_summary.sql" in out
    assert main(["--spec", str(two_migrations), "migrate", "status"]) == 0
    out = capsys.readouterr().out
    assert "applied  0001_initial.sql" in out and "applied  0002_add_column_notes_summary.sql" in out
    assert "2 applied, 0 pending" in out


def test_cli_status_shows_pending_files(made, cli_database, capsys):
    assert main(["--spec", str(made), "migrate", "status"]) == 0
    out = capsys.readouterr().out
    assert "pending  0001_initial.sql" in out and "0 applied, 1 pending" in out


def test_cli_apply_refuses_an_edited_file_and_exits_1(made, cli_database, capsys):
    assert main(["--spec", str(made), "migrate", "apply"]) == 0
    first = made.parent / "migrations" / "0001_initial.sql"
    first.write_text(first.read_text().replace("-- create table notes", "-- create the notes table"))
    assert main(["--spec", str(made), "migrate", "apply"]) == 1
    assert "0001_initial.sql was edited after it was applied" in capsys.readouterr().err


def test_cli_apply_and_status_warn_when_the_database_has_migrations_the_project_lacks(
    two_migrations, cli_database, capsys
):
    assert main(["--spec", str(two_migrations), "migrate", "apply"]) == 0
    (two_migrations.parent / "migrations" / "0002_add_column_notes_summary.sql").unlink()  # an older checkout
    capsys.readouterr()

    assert main(["--spec", str(two_migrations), "migrate", "apply"]) == 0
    assert main(["--spec", str(two_migrations), "migrate", "status"]) == 0

    out = capsys.readouterr().out
    warning = "the database has 1 applied migration(s) this project's migrations/ does not hold"
    assert out.count(warning) == 2  # it said only "the database is up to date"
    assert "(0002_add_column_notes_summary.sql): a newer version of the project migrated it" in out


def test_serve_with_an_edited_applied_file_prints_the_problem_and_exits_1(made, cli_database, capsys):
    assert main(["--spec", str(made), "migrate", "apply"]) == 0
    first = made.parent / "migrations" / "0001_initial.sql"
    first.write_text(first.read_text().replace("-- create table notes", "-- create the notes table"))
    capsys.readouterr()

    assert main(["--spec", str(made), "serve", "--host", "127.0.0.1", "--port", "8679"]) == 1

    printed = capsys.readouterr()
    assert "0001_initial.sql was edited after it was applied" in printed.err
    assert "Traceback" not in printed.err + printed.out


def test_shipped_migrations_apply_to_an_empty_schema(cli_database, capsys):
    assert main(["--spec", SHIPPED_SPEC, "migrate", "apply"]) == 0
    assert main(["--spec", SHIPPED_SPEC, "migrate", "status"]) == 0
    assert ", 0 pending" in capsys.readouterr().out


# --- migrations build what the app expects ----------------------------------------------------------


CATALOG_QUERIES = (
    "select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns "
    "where table_schema = current_schema() and table_name not like '\\_engine%' order by 1, 2",
    "select c.relname, con.conname, pg_get_constraintdef(con.oid) from pg_constraint con "
    "join pg_class c on c.oid = con.conrelid where c.relnamespace = current_schema()::regnamespace "
    "and c.relname not like '\\_engine%' order by 1, 2",
    "select tablename, indexname, replace(indexdef, current_schema() || '.', '') from pg_indexes "
    "where schemaname = current_schema() and tablename not like '\\_engine%' order by 1, 2",
)


async def catalog(conn) -> list[list[tuple]]:
    return [[tuple(r) for r in await conn.fetch(query)] for query in CATALOG_QUERIES]


async def test_a_chain_of_migrations_builds_the_same_schema_as_a_fresh_build(made, conn, engine_database_url):
    await migrations.apply(conn, directory(made))
    change_schema(made, summary={"type": "string"}, state={"enum": ["draft", "published", "archived"]})
    (made.parent / "schemas" / "comment.json").write_text(
        json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "required": ["note_id", "body"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "note_id": {"type": "string", "format": "uuid"},
                    "body": {"type": "string"},
                    "pinned": {"type": "boolean", "default": False},
                },
            }
        )
    )
    made.write_text(
        made.read_text()
        + "    indexes: [[state, -pages]]\n"
        + "  comments:\n    schema: schemas/comment.json\n"
        + "    references:\n      note_id: {resource: notes, on_delete: cascade}\n"
    )
    assert make(made) == 0
    await migrations.apply(conn, directory(made))

    fresh_schema = f"fresh_{uuid.uuid4().hex[:12]}"
    await conn.execute(f'create schema "{fresh_schema}"')
    fresh = await connect(engine_database_url, schema=fresh_schema)
    try:
        for step in migrations.diff({}, migrations.spec_model(load_spec(str(made)))):
            await fresh.execute(step.sql)
        assert await catalog(conn) == await catalog(fresh)
    finally:
        await fresh.close()
        await conn.execute(f'drop schema "{fresh_schema}" cascade')


# --- never a migration that fails on a table with rows ---------------------------------------------


def require(project: Path, name: str) -> None:
    path = project.parent / "schemas" / "note.json"
    schema = json.loads(path.read_text())
    schema["required"] = sorted({*schema.get("required", []), name})
    path.write_text(json.dumps(schema))


def test_a_new_required_column_without_a_default_is_refused_naming_the_column_and_the_fix(made, capsys):
    change_schema(made, body={"type": "string"})
    require(made, "body")
    capsys.readouterr()

    assert make(made) == 1

    output = capsys.readouterr()
    text = output.out + output.err
    assert "notes.body is required and has no default" in text
    assert "give body a default" in text and "optional" in text
    assert "Nothing was written" in text
    assert migration_files(made) == ["0001_initial.sql"]


async def test_a_new_required_column_with_a_default_applies_to_a_table_with_rows(made, conn):
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title) values ('one'), ('two')")
    change_schema(made, body={"type": "string", "default": "untitled"})
    require(made, "body")

    assert make(made) == 0
    await migrations.apply(conn, directory(made))

    assert [r["body"] for r in await conn.fetch("select body from notes")] == ["untitled", "untitled"]


async def test_requiring_a_column_with_a_default_fills_the_rows_without_a_value_first(made, conn):
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title, pages) values ('empty', null), ('full', 7)")
    change_schema(made, pages={"type": "integer", "default": 0})
    require(made, "pages")

    assert make(made) == 0
    await migrations.apply(conn, directory(made))

    rows = await conn.fetch("select title, pages from notes order by title")
    assert [(r["title"], r["pages"]) for r in rows] == [("empty", 0), ("full", 7)]
    assert (
        await conn.fetchval(
            "select is_nullable from information_schema.columns where table_name = 'notes' and column_name = 'pages' "
            "and table_schema = current_schema()"
        )
        == "NO"
    )


def test_requiring_a_column_without_a_default_warns_that_rows_without_it_fail(made, capsys):
    require(made, "pages")
    capsys.readouterr()

    assert make(made) == 0

    assert "rows of notes without a pages make this step fail" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ("unique: [[title]]", "rows of notes sharing a value of (title) make this step fail"),
        ("unique: [[title]]\n    soft_delete: {}", "rows of notes sharing a value of (title) make this step fail"),
        ("references: {pages: {resource: notes}}", "rows of notes whose pages names no notes row make this step fail"),
    ],
)
def test_a_new_constraint_on_an_existing_table_warns_of_the_rows_that_make_it_fail(made, change, warning, capsys):
    if "references" in change:
        change_schema(made, pages={"type": "string", "format": "uuid"})
        assert make(made, "--allow-destructive") == 0
    declare(made, change)
    capsys.readouterr()

    assert make(made) == 0

    assert f"warning: {warning}: change or delete them first" in capsys.readouterr().out


def test_an_enum_value_removed_warns_of_the_rows_holding_it_and_one_added_does_not(made, capsys):
    change_schema(made, state={"enum": ["draft", "published", "archived"]})
    assert make(made) == 0
    assert "warning" not in capsys.readouterr().out

    change_schema(made, state={"enum": ["draft", "archived"]})
    assert make(made) == 0
    assert (
        "rows of notes whose state is none of draft, archived (a value removed from its enum)"
        in capsys.readouterr().out
    )


# --- history and soft_delete turned on for a table that has rows ------------------------------------


def declare(project: Path, line: str) -> None:
    """Add a key (`history: {}`) to the notes resource."""
    project.write_text(project.read_text().rstrip("\n") + f"\n    {line}\n")


async def test_turning_history_on_for_a_table_with_rows_keeps_them_and_numbers_their_next_change_1(made, conn):
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title) values ('one'), ('two')")
    declare(made, "history: {keep: 10}")

    assert make(made) == 0  # no --allow-destructive needed
    await migrations.apply(conn, directory(made))

    assert sorted(r["title"] for r in await conn.fetch("select title from notes")) == ["one", "two"]
    note = await conn.fetchval("select id from notes where title = 'one'")
    await Versions(load_spec(str(made)).resources["notes"]).write(conn, note, "updated", None, deleted=False)
    (version,) = await conn.fetch("select version, action, data->>'title' as title from notes_history")
    assert dict(version) == {"version": 1, "action": "updated", "title": "one"}


async def test_turning_soft_delete_on_for_a_table_with_rows_makes_its_unique_key_ignore_deleted_rows(made, conn):
    declare(made, "unique: [[title]]")
    assert make(made) == 0
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title) values ('one'), ('two')")
    declare(made, "soft_delete: {}")

    assert make(made) == 0
    await migrations.apply(conn, directory(made))

    await conn.execute("update notes set deleted_at = now() where title = 'one'")
    await conn.execute("insert into notes (title) values ('one')")  # the deleted row's title is free again
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("insert into notes (title) values ('two')")
    assert await conn.fetchval("select count(*) from notes") == 3


async def test_turning_soft_delete_off_deletes_the_deleted_rows_for_good_instead_of_bringing_them_back(
    made, conn, capsys
):
    declare(made, "unique: [[title]]")
    declare(made, "soft_delete: {}")
    assert make(made) == 0
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title, deleted_at) values ('one', now()), ('one', null), ('two', now())")
    made.write_text(made.read_text().replace("    soft_delete: {}\n", ""))

    assert make(made) == 1  # dropping deleted_at (and the deleted rows) needs the flag
    capsys.readouterr()
    assert make(made, "--allow-destructive") == 0
    assert "sharing a value of (title)" not in capsys.readouterr().out  # the rows left were unique already
    await migrations.apply(conn, directory(made))  # the unique key no longer ignores deleted rows: it failed

    rows = await conn.fetch("select title from notes")
    assert [r["title"] for r in rows] == ["one"]  # the live row; the two deleted ones did not come back


# --- changing a column's type -------------------------------------------------------------------------


async def test_changing_the_type_of_a_column_with_a_default_applies_to_a_table_with_rows(made, conn):
    change_schema(made, code={"type": "string", "default": "1"})
    assert make(made) == 0
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title, code) values ('one', '7'), ('two', default)")
    change_schema(made, code={"type": "integer", "default": 1})

    assert make(made, "--allow-destructive") == 0
    await migrations.apply(conn, directory(made))  # the text default '1' did not cast to bigint: it failed

    rows = await conn.fetch("select title, code from notes order by title")
    assert [(r["title"], r["code"]) for r in rows] == [("one", 7), ("two", 1)]
    await conn.execute("insert into notes (title) values ('three')")
    assert await conn.fetchval("select code from notes where title = 'three'") == 1


# --- renaming a field ---------------------------------------------------------------------------------


def rename_state_to_phase(project: Path) -> None:
    path = project.parent / "schemas" / "note.json"
    schema = json.loads(path.read_text())
    schema["properties"]["phase"] = schema["properties"].pop("state")
    schema["required"] = [*schema["required"], "phase"]
    path.write_text(json.dumps(schema))
    project.write_text(project.read_text().replace("[[state]]", "[[phase]]").replace("{state: A}", "{phase: A}"))


async def test_rename_keeps_the_values_and_the_constraints_of_a_renamed_field(made, conn):
    declare(made, "indexes: [[state]]")
    assert make(made) == 0
    await migrations.apply(conn, directory(made))
    await conn.execute("insert into notes (title, state) values ('one', 'draft'), ('two', 'published')")
    rename_state_to_phase(made)

    assert make(made, "--rename", "notes.state=phase") == 0
    await migrations.apply(conn, directory(made))

    rows = await conn.fetch("select title, phase from notes order by title")
    assert [(r["title"], r["phase"]) for r in rows] == [("one", "draft"), ("two", "published")]
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("insert into notes (title, phase) values ('three', 'lost')")
    assert await conn.fetchval("select to_regclass('notes_phase_idx')") is not None
    assert make(made, "--check") == 0


def test_a_field_renamed_without_rename_is_refused_with_the_rename_to_use(made, capsys):
    declare(made, "search: {fields: {state: A}}")  # its vector column, remade alongside, is no rename
    assert make(made) == 0
    rename_state_to_phase(made)
    capsys.readouterr()

    assert make(made, "--allow-destructive") == 1  # phase is required: dropping state and adding phase cannot apply

    hints = [line for line in capsys.readouterr().out.splitlines() if "--rename" in line]
    assert hints == ["  if notes.state was renamed to notes.phase: --rename notes.state=phase keeps its data"]


@pytest.mark.parametrize(
    ("rename", "problem"),
    [
        ("notes.missing=phase", "notes.missing: the migrations have no such column to rename"),
        ("notes.state=title", "notes.state: the migrations already have a column title"),
        ("notes.state=stage", "notes.state: the spec has no field stage in notes"),
        ("notes=phase", "notes=phase: expected TABLE.OLD=NEW"),
    ],
)
def test_a_rename_the_migrations_cannot_follow_is_refused_naming_it(made, rename, problem, capsys):
    rename_state_to_phase(made)
    capsys.readouterr()

    assert make(made, "--rename", rename) == 2

    assert problem in capsys.readouterr().err
    assert migration_files(made) == ["0001_initial.sql"]


@pytest.mark.parametrize(
    ("before", "after", "stored"),
    [("boolean", "integer", [0, 1]), ("integer", "boolean", [False, True]), ("boolean", "number", [0.0, 1.0])],
)
async def test_a_type_change_between_boolean_and_a_number_applies_and_keeps_the_values(
    made, conn, before, after, stored
):
    change_schema(made, flag={"type": before})
    assert make(made) == 0
    await migrations.apply(conn, directory(made))
    values = [False, True] if before == "boolean" else [0, 1]
    await conn.executemany("insert into notes (title, flag) values ($1, $2)", [("a", values[0]), ("b", values[1])])
    change_schema(made, flag={"type": after})

    assert make(made, "--allow-destructive") == 0
    await migrations.apply(conn, directory(made))  # PostgreSQL has no cast between boolean and bigint: it failed

    assert [r["flag"] for r in await conn.fetch("select flag from notes order by title")] == stored


async def test_rename_renames_the_field_in_the_versions_history_keeps(made, conn):
    declare(made, "history: {keep: 10}")
    assert make(made) == 0
    await migrations.apply(conn, directory(made))
    note = await conn.fetchval("insert into notes (title, state) values ('one', 'draft') returning id")
    await Versions(load_spec(str(made)).resources["notes"]).write(conn, note, "updated", None, deleted=False)
    rename_state_to_phase(made)

    assert make(made, "--rename", "notes.state=phase") == 0
    await migrations.apply(conn, directory(made))

    data = json.loads(await conn.fetchval("select data::text from notes_history"))
    assert (data.get("phase"), "state" in data) == ("draft", False)  # a restore of it would clear phase
