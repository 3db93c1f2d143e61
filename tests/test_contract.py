"""The models, the migrations and the hand-written SQL, checked against each other (aerich's own
diff of models and migrations: tests/test_plugin.py::test_aerich_migrate_sees_no_change).

A model field the SQL does not know (or a statement naming a column the models lack) fails here,
not in production at the first INSERT that meets it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import asyncpg
from tortoise.models import Model

from tt_storage.core import models, sql

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
}


def statements() -> Iterator[tuple[str, str]]:
    """Every public statement of ``tt_storage.core.sql``, by name (dict entries: ``NAME[key]``)."""
    for name, value in vars(sql).items():
        if name.startswith("_") or not name.isupper():
            continue
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, dict):
            for key, text in value.items():
                yield f"{name}[{key}]", text


STATEMENTS = dict(statements())


def columns(model: type[Model], *, with_generated: bool = True) -> list[str]:
    """The model's columns, in declaration order."""
    meta = model._meta
    return [
        column
        for field, column in meta.fields_db_projection.items()
        if with_generated or not (field == meta.pk_attr and meta.fields_map[field].generated)
    ]


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


def inserts() -> Iterator[tuple[str, str, list[str], str]]:
    """(statement name, table, column list, what follows the list) for every INSERT."""
    for name, text in STATEMENTS.items():
        for m in INSERT.finditer(text):
            end = closing(text, m.end() - 1)
            yield name, m.group(1), split_top_level(text[m.end() : end]), text[end + 1 :]


def test_every_statement_is_found() -> None:
    # The walk above must see the statements the services run (a rename would hide them).
    assert {"REGISTER_USER", "TRACK_VIDEO", "ADD_MUSIC", "MIGRATE_CHAT"} <= STATEMENTS.keys()
    assert len(STATEMENTS) > 40


async def test_every_statement_prepares(db: asyncpg.Connection) -> None:
    """Parsed, planned and typed by the server against the migrated schema: every table,
    column, function and parameter type the SQL names exists."""
    failed = {}
    for name, text in STATEMENTS.items():
        try:
            await db.prepare(text)
        except asyncpg.PostgresError as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
    assert failed == {}


def test_every_insert_names_every_column_of_its_model() -> None:
    """A database adopted from the seed has no server defaults, so every INSERT names every
    column; a model field added without its SQL fails here."""
    seen = set()
    for name, table, cols, _ in inserts():
        if table not in BY_TABLE:
            assert table in NO_MODEL, f"{name}: INSERT into unknown table {table}"
            continue
        assert sorted(cols) == sorted(columns(BY_TABLE[table], with_generated=False)), name
        seen.add(table)
    assert seen == set(BY_TABLE)


def literal(value: object) -> str:
    return "NULL" if value is None else str(value).lower()


def test_literal_defaults_in_inserts_are_the_models() -> None:
    """Where an INSERT writes a constant for a column, it is that column's model default."""
    checked = 0
    for name, table, cols, rest in inserts():
        values = re.match(r"\s*(?:VALUES|SELECT)\s*\(?", rest)
        if table not in BY_TABLE or values is None:
            continue
        body = rest[values.end() :]
        if rest[values.end() - 1] == "(":
            body = body[: closing(rest, values.end() - 1) - values.end()]
        else:
            body = re.split(r"\s+FROM\s+", body, maxsplit=1)[0]
        fields = {col: f for f, col in BY_TABLE[table]._meta.fields_db_projection.items()}
        for col, value in zip(cols, split_top_level(body), strict=True):
            if not re.fullmatch(r"NULL|true|false|-?\d+", value):
                continue
            field = BY_TABLE[table]._meta.fields_map[fields[col]]
            expected = literal(None if field.null and field.default is None else field.default)
            assert value == expected, f"{name}: {col} = {value}, the model's default is {expected}"
            checked += 1
    assert checked > 0


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


async def test_model_columns_are_the_tables(db: asyncpg.Connection) -> None:
    for table, model in BY_TABLE.items():
        rows = await db.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = $1",
            table,
        )
        assert {r["column_name"] for r in rows} == set(columns(model)), table


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
