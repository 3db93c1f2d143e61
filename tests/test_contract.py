"""The models, the migrations and the hand-written SQL, checked against each other (aerich's own
diff of models and migrations: tests/test_plugin.py::test_aerich_migrate_sees_no_change).

A model field the SQL does not know (or a statement naming a column the models lack) fails here,
not in production at the first INSERT that meets it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import asyncpg
from tortoise.models import Model

from tt_storage.core import models, sql, sql_media
from tt_storage.core.columns import Column, literal
from tt_storage.core.columns import columns as model_columns

ROOT = Path(__file__).resolve().parent.parent

MODELS: list[type[Model]] = [
    m
    for m in vars(models).values()
    if isinstance(m, type) and issubclass(m, Model) and m.__module__ == models.__name__
]
BY_TABLE = {m._meta.db_table: m for m in MODELS}

#: Tables the migrations create that have no model, and why none can exist.
NO_MODEL = {
    # PRIMARY KEY (kind, hour): Tortoise has no composite keys.
    "tt_storage_hourly",
    # pending_xids is XID[], which no Tortoise field maps; written only by sql.ROLLUP_*.
    "tt_storage_hourly_state",
    # PRIMARY KEY (day, chat_id): Tortoise has no composite keys.
    "tt_storage_activity",
}


def statements(namespace: Mapping[str, object]) -> Iterator[tuple[str, str]]:
    """Every public statement of ``tt_storage.core.sql``'s ``namespace``, by name (dict entries:
    ``NAME[key]``)."""
    for name, value in namespace.items():
        if name.startswith("_") or not name.isupper():
            continue
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, dict):
            for key, text in value.items():
                yield f"{name}[{key}]", text


STATEMENTS = {**dict(statements(vars(sql))), **dict(statements(vars(sql_media)))}


def columns(model: type[Model], *, with_generated: bool = True) -> list[str]:
    """The model's columns, in declaration order."""
    return [c.name for c in model_columns(model).values() if with_generated or not c.generated]


def split_top_level(text: str) -> list[str]:
    """``a, f(b, c), d`` -> ``["a", "f(b, c)", "d"]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def closing(text: str, open_at: int) -> int:
    """The index of the parenthesis closing the one at ``open_at``."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError("unbalanced parentheses")


INSERT = re.compile(r"INSERT INTO (\w+)(?: AS \w+)? \(")


def inserts(texts: Mapping[str, str]) -> Iterator[tuple[str, str, list[str], str]]:
    """(statement name, table, column list, what follows the list) for every INSERT."""
    for name, text in texts.items():
        for m in INSERT.finditer(text):
            end = closing(text, m.end() - 1)
            yield name, m.group(1), split_top_level(text[m.end() : end]), text[end + 1 :]


def test_every_statement_is_found() -> None:
    # The walk above must see the statements the services run (a rename would hide them).
    assert {"REGISTER_USER", "TRACK_VIDEO", "ADD_MUSIC", "MIGRATE_CHAT"} <= STATEMENTS.keys()
    assert {"MEDIA_LOOKUP", "MEDIA_STORE", "MEDIA_INVALIDATE", "MEDIA_PRUNE"} <= STATEMENTS.keys()
    assert len(STATEMENTS) > 40


async def test_every_statement_prepares(db: asyncpg.Connection) -> None:
    """Parsed, planned and typed by the server against the migrated schema: every table,
    column, function and parameter type the SQL names exists."""
    failed = {}
    # Tortoise's own migration table (tortoise/migrations/recorder.py), which tt-storage reads
    # when an application migrates with Tortoise: there for the block only.
    async with db.transaction():
        await db.execute(TORTOISE_RECORDER)
        for name, text in STATEMENTS.items():
            try:
                async with db.transaction():  # a savepoint: one failure spoils no other
                    await db.prepare(text)
            except asyncpg.PostgresError as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
        await db.execute("DROP TABLE tortoise_migrations")
    assert failed == {}


TORTOISE_RECORDER = (
    "CREATE TABLE tortoise_migrations (id SERIAL PRIMARY KEY, app VARCHAR(255) NOT NULL,"
    " name VARCHAR(255) NOT NULL, applied_at TIMESTAMPTZ NOT NULL, UNIQUE (app, name))"
)


def test_every_insert_names_every_column_of_its_model() -> None:
    """A database adopted from the seed has no server defaults, so every INSERT names every
    column; a model field added without its SQL fails here."""
    seen = set()
    for name, table, cols, _ in inserts(STATEMENTS):
        if table == "aerich":  # aerich's own (aerich.models.Aerich), written for Tortoise's runner
            assert sorted(cols) == ["app", "content", "version"], name
            continue
        if table not in BY_TABLE:
            assert table in NO_MODEL, f"{name}: INSERT into unknown table {table}"
            continue
        assert sorted(cols) == sorted(columns(BY_TABLE[table], with_generated=False)), name
        seen.add(table)
    assert seen == set(BY_TABLE)


#: Tables whose INSERTs write constants that are not the defaults: an FSM row's empty part is
#: ``'{}'`` data or a ``'-infinity'`` expiry (NULL is "never expires").
NOT_DEFAULTS = {"tt_storage_fsm"}

_LITERAL = r"NULL|true|false|-?\d+|'(?:[^']|'')*'"
#: A constant: bare, or the ELSE of a CASE (what a condition that does not hold leaves).
CONSTANT = re.compile(rf"({_LITERAL})|CASE WHEN .* ELSE ({_LITERAL}) END")


def top_level_select_list(text: str) -> str:
    """What precedes the first ``FROM`` outside parentheses (a subquery's FROM is not it)."""
    depth = 0
    for m in re.finditer(r"[()]|\s+FROM\s+", text):
        if m.group() == "(":
            depth += 1
        elif m.group() == ")":
            depth -= 1
        elif depth == 0:
            return text[: m.start()]
    return text


def constants(texts: Mapping[str, str]) -> dict[tuple[str, str, str], str]:
    """(statement, table, column) -> the constant an INSERT into a model's table writes there."""
    found = {}
    for name, table, cols, rest in inserts(texts):
        values = re.match(r"\s*(?:VALUES|SELECT)\s*\(?", rest)
        if table not in BY_TABLE or table in NOT_DEFAULTS or values is None:
            continue
        body = rest[values.end() :]
        if rest[values.end() - 1] == "(":
            body = body[: closing(rest, values.end() - 1) - values.end()]
        else:
            body = top_level_select_list(body)
        for col, value in zip(cols, split_top_level(body), strict=True):
            if constant := CONSTANT.fullmatch(value):
                found[name, table, col] = constant.group(1) or constant.group(2)
    return found


def test_constants_in_inserts_are_the_model_defaults() -> None:
    """Where an INSERT writes a constant for a column, it is what the ORM writes: the field's
    default (NULL for a nullable field without one)."""
    found = constants(STATEMENTS)
    for (name, table, col), value in found.items():
        meta = BY_TABLE[table]._meta
        field = next(f for n, f in meta.fields_map.items() if (f.source_field or n) == col)
        expected = literal(field.default)
        assert value == expected, f"{name}: {col} = {value}, the model's default is {expected}"
    assert {"REGISTER_USER", "TRACK_VIDEO", "ADD_VIDEO", "OUTBOX_REGISTER"} <= {
        name for name, _, _ in found
    }


#: Other defaults for the users columns the INSERTs are not given (none is the real one).
OTHER_DEFAULTS = {
    "link": "it's",
    "file_mode": True,
    "ad_count": 7,
    "ad_cooldown": 9,
    "blocked_at": 11,
}


def test_constants_in_inserts_follow_the_model() -> None:
    """The users INSERTs' constants are built from the model: with other defaults declared,
    every one of them is the new default (a constant typed into the SQL would stay)."""
    code = (
        "import importlib, json\n"
        "from tests.test_contract import statements\n"
        "from tt_storage.core import models, sql\n"
        f"for name, value in {OTHER_DEFAULTS!r}.items():\n"
        "    field = models.Users._meta.fields_map[name]\n"
        "    field.default = field.db_default = value\n"
        "print(json.dumps(dict(statements(vars(importlib.reload(sql))))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before = {k: v for k, v in constants(STATEMENTS).items() if k[1] == "users"}
    after = {k: v for k, v in constants(json.loads(done.stdout)).items() if k[1] == "users"}
    assert after.keys() == before.keys()
    assert {col for _, _, col in after} == OTHER_DEFAULTS.keys()
    for (name, _, col), value in after.items():
        assert value == literal(OTHER_DEFAULTS[col]), f"{name}: {col} = {value}"


def test_orm_and_server_defaults_agree() -> None:
    """A row gets the same values whether the ORM, the server or the hand-written SQL (built
    from ``db_default``) fills them in."""
    for model in MODELS:
        for name, field in model._meta.fields_map.items():
            if field.has_db_default():
                assert field.default == field.db_default, f"{model.__name__}.{name}"


def test_select_lists_name_model_columns() -> None:
    """Every ``FROM <table>`` statement's qualified or bare column names exist in the model."""
    for table, model in BY_TABLE.items():
        known = set(columns(model))
        for name, text in STATEMENTS.items():
            for alias in re.findall(rf"\b{table}\s+(?:AS\s+)?([a-z])\b", text):
                for col in re.findall(rf"\b{alias}\.(\w+)", text):
                    assert col in known or col == "*", f"{name}: {alias}.{col} not in {table}"


async def test_every_table_of_the_migrations_has_a_model(db: asyncpg.Connection) -> None:
    tables = {
        r["tablename"]
        for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert tables - {"aerich"} == set(BY_TABLE) | NO_MODEL


def server_default(table: str, column: Column) -> str | None:
    """``column``'s default as ``information_schema.columns.column_default`` shows it."""
    if column.generated:
        return f"nextval('{table}_{column.name}_seq'::regclass)"
    if column.default is not None and column.type == "character varying":
        return f"{column.default}::character varying"
    return column.default


async def test_model_columns_are_the_tables(db: asyncpg.Connection) -> None:
    """Every column the migrations build is a model's, with its type, nullability and server
    default (``tt_storage.core.columns``, which the SQL and the adoption checks read)."""
    for table, model in BY_TABLE.items():
        rows = await db.fetch(
            "SELECT column_name, data_type, is_nullable = 'YES' AS nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
            table,
        )
        found = {
            r["column_name"]: (r["data_type"], r["nullable"], r["column_default"]) for r in rows
        }
        assert found == {
            c.name: (c.type, c.nullable, server_default(table, c))
            for c in model_columns(model).values()
        }, table


async def test_private_tortoise_attributes_still_exist(db_url: str) -> None:
    """The private Tortoise attributes the library leans on: an upgrade that removes or
    renames one fails here, by name, rather than in a hot path."""
    from tortoise.backends.asyncpg.client import AsyncpgDBClient

    from tt_storage import Users
    from tt_storage.core import db as storage_db

    # services build Users from a row without a second query.
    row = dict.fromkeys(columns(Users)) | {"user_id": 1, "lang": "en"}
    user = Users._init_from_db(**row)
    assert (user.user_id, user.lang, user._saved_in_db) == (1, "en", True)
    # db.connection skips its timer when the pool has an idle connection.
    client = storage_db.current().client()
    assert isinstance(client, AsyncpgDBClient)
    assert hasattr(client._pool, "get_idle_size")
    # Storage.bound() makes its context current through the contextvar behind
    # get_current_context (TortoiseContext's own __enter__ keeps one token per instance, so it
    # cannot be entered by concurrent updates).
    from tortoise.context import _current_context, get_current_context

    context = storage_db.current().context
    assert context is not None
    token = _current_context.set(context)
    try:
        assert get_current_context() is context
    finally:
        _current_context.reset(token)
