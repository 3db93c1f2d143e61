"""The seed's shape: what adopting a database (and migration 0) accepts of the tables and
indexes already there, read from the catalogs with the statements below (parameters only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from tortoise.indexes import Index

from ...core.app import APP, LEGACY_APP, packaged_migrations
from ...core.columns import Column, columns
from ...core.errors import StorageError
from ...core.models import Media, Music, Users, Video

TABLES = ("users", "videos", "music")


AERICH_TABLE = "aerich"


#: Transactions open longer than this are reported: concurrent index builds wait for them.
LONG_TRANSACTION = 60.0


#: Columns tt-storage's migrations add to a seed database (migrations 3 and 9): not in the seed,
#: so not checked. Every other column of the three models is the seed's.
ADDED_COLUMNS = {
    "users": {"blocked_at"},
    "videos": {"media_id", "cache_hit"},
    "music": {"media_id", "cache_hit"},
}


#: Types a seed database may have for a column besides the model's own, as good for every value
#: tt-storage writes (a wider integer; TEXT made by hand for SQLAlchemy's ``String``).
ALSO_ACCEPTED = {"integer": ("bigint",), "character varying": ("text",)}


#: The seed's columns (``data/models/*.py``), as the models declare them: type, nullability and
#: whether the database fills them in (the serial keys, which tt-storage never writes).
SEED_COLUMNS: dict[str, dict[str, Column]] = {
    model._meta.db_table: {
        name: column
        for name, column in columns(model).items()
        if name not in ADDED_COLUMNS.get(model._meta.db_table, ())
    }
    for model in (Users, Video, Music)
}


SELECT_TABLES = (
    "SELECT table_name::text AS name, table_type::text AS kind FROM information_schema.tables "
    "WHERE table_schema = current_schema() AND table_name = ANY($1::text[])"
)


SELECT_COLUMNS = (
    "SELECT table_name::text AS table_name, column_name::text AS name, data_type::text AS type,"
    " is_nullable = 'YES' AS nullable,"
    " (column_default IS NOT NULL OR is_identity = 'YES') AS has_default,"
    " (is_generated = 'ALWAYS' OR identity_generation = 'ALWAYS') AS generated_always,"
    " character_maximum_length AS max_length "
    "FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = ANY($1::text[]) "
    "ORDER BY table_name, ordinal_position"
)


# A unique index ON CONFLICT ($2) can use as its arbiter: one plain column, immediate, valid.
HAS_CONFLICT_ARBITER = (
    "SELECT EXISTS (SELECT 1 FROM pg_index i"
    " JOIN pg_class t ON t.oid = i.indrelid"
    " JOIN pg_namespace n ON n.oid = t.relnamespace"
    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
    " WHERE n.nspname = current_schema() AND t.relname = $1 AND a.attname = $2"
    " AND i.indisunique AND i.indisvalid AND i.indimmediate AND i.indnatts = 1"
    " AND i.indpred IS NULL AND i.indexprs IS NULL)"
)


# Whatever already carries one of the index names ($1): IF NOT EXISTS would accept it as built.
SELECT_RELATIONS = (
    "SELECT c.relname::text AS name, c.relkind::text AS kind, t.relname::text AS table_name,"
    " i.indisvalid AS valid, i.indisunique AS is_unique,"
    " i.indpred IS NOT NULL AS partial, i.indexprs IS NOT NULL AS on_expressions,"
    " am.amname::text AS method,"
    " ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(num, ord)"
    "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num"
    "  ORDER BY k.ord) AS columns "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_index i ON i.indexrelid = c.oid "
    "LEFT JOIN pg_class t ON t.oid = i.indrelid "
    "LEFT JOIN pg_am am ON am.oid = c.relam "
    "WHERE n.nspname = current_schema() AND c.relname = ANY($1::text[])"
)


SELECT_TABLE_KINDS = (
    "SELECT c.relname::text AS name, c.relkind::text AS kind, c.reltuples::bigint AS rows"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relname = ANY($1::text[])"
)


# $2 tt-storage's own migration names: an application's app may share the label "models"
# (aerich's default, tt-storage's before 0.1), and its migrations are not tt-storage's.
SELECT_AERICH_VERSIONS = (
    "SELECT version::text FROM aerich WHERE app = ANY ($1::text[])"
    " AND version = ANY ($2::text[]) ORDER BY id"
)


COUNT_LONG_TRANSACTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND xact_start < now() - make_interval(secs => $1)"
)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    table: str
    #: ``None`` for an index on expressions.
    columns: tuple[str, ...] | None
    #: A partial index (``WHERE …``).
    partial: bool


#: Indexes no model can declare, built by hand in their migration.
HAND_BUILT_INDEXES = {
    # Migration 7: the FSM storage's expiring rows, by GREATEST(state, data expiry).
    "idx_fsm_expiry": IndexSpec("tt_storage_fsm", None, True),
    # Migration 9: the downloads sent through the media cache (WHERE cache_hit IS NOT NULL).
    "idx_videos_cache_hit": IndexSpec("videos", ("user_id", "cache_hit"), True),
    "idx_music_cache_hit": IndexSpec("music", ("user_id", "cache_hit"), True),
}


def expected_indexes() -> dict[str, IndexSpec]:
    """Every named index the models declare, and the hand-built ones (the migrations build
    them)."""
    found: dict[str, IndexSpec] = dict(HAND_BUILT_INDEXES)
    for model in (Users, Video, Music, Media):
        meta = model._meta
        for index in meta.indexes:
            if not isinstance(index, Index) or not index.name:
                continue  # unnamed: aerich names them itself, nothing here depends on one
            columns = tuple(meta.fields_db_projection.get(f, f) for f in index.fields)
            partial = bool(getattr(index, "condition", None))
            found[index.name] = IndexSpec(
                meta.db_table, None if index.expressions else columns, partial
            )
    return found


@dataclass(slots=True)
class Found:
    tables: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, asyncpg.Record]] = field(default_factory=dict)
    user_id_unique: bool = False
    relations: dict[str, asyncpg.Record] = field(default_factory=dict)
    relkinds: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    aerich_versions: list[str] | None = None
    long_transactions: int = 0


async def inspect(conn: asyncpg.Connection) -> Found:
    found = Found()
    names = [*TABLES, AERICH_TABLE]
    found.tables = {r["name"]: r["kind"] for r in await conn.fetch(SELECT_TABLES, names)}
    for r in await conn.fetch(SELECT_COLUMNS, list(TABLES)):
        found.columns.setdefault(r["table_name"], {})[r["name"]] = r
    found.user_id_unique = bool(await conn.fetchval(HAS_CONFLICT_ARBITER, "users", "user_id"))
    relations = await conn.fetch(SELECT_RELATIONS, list(expected_indexes()))
    found.relations = {r["name"]: r for r in relations}
    for r in await conn.fetch(SELECT_TABLE_KINDS, list(TABLES)):
        found.relkinds[r["name"]], found.rows[r["name"]] = r["kind"], r["rows"]
    if AERICH_TABLE in found.tables:
        try:
            versions = await conn.fetch(
                SELECT_AERICH_VERSIONS, [APP, LEGACY_APP], packaged_migrations()
            )
        except asyncpg.PostgresError as exc:
            raise StorageError(
                f"the database has an {AERICH_TABLE!r} table that is not aerich's "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        found.aerich_versions = [r["version"] for r in versions]
    found.long_transactions = int(await conn.fetchval(COUNT_LONG_TRANSACTIONS, LONG_TRANSACTION))
    return found


def _column_problems(table: str, found: dict[str, asyncpg.Record]) -> list[str]:
    problems: list[str] = []
    for name, want in SEED_COLUMNS[table].items():
        col = found.get(name)
        where = f"{table}.{name}"
        if col is None:
            problems.append(f"{where} is missing")
            continue
        types = (want.type, *ALSO_ACCEPTED.get(want.type, ()))
        if col["type"] not in types:
            problems.append(f"{where} is {col['type']}, expected {' or '.join(types)}")
        elif col["max_length"] is not None:
            problems.append(f"{where} is limited to {col['max_length']} characters")
        if col["nullable"] != want.nullable:
            state = "allows NULL" if col["nullable"] else "is NOT NULL"
            problems.append(f"{where} {state}, expected {'NULL' if want.nullable else 'NOT NULL'}")
        if want.generated and not col["has_default"]:
            problems.append(f"{where} has no default (a sequence or identity must fill it in)")
        if not want.generated and col["generated_always"]:
            problems.append(f"{where} is GENERATED ALWAYS: tt-storage writes its values")
    for name, col in found.items():
        # tt-storage's INSERTs leave out any column but the seed's (and its own additions).
        if name in SEED_COLUMNS[table] or col["nullable"] or col["has_default"]:
            continue
        if not col["generated_always"]:
            problems.append(
                f"{table}.{name} is an extra NOT NULL column without a default: "
                "tt-storage's inserts would fail"
            )
    return problems


def _index_problems(found: Found) -> list[str]:
    problems: list[str] = []
    for name, spec in expected_indexes().items():
        rel = found.relations.get(name)
        if rel is None:
            continue
        if rel["kind"] != "i":
            problems.append(f"{name} already exists and is not an index (relkind {rel['kind']})")
            continue
        if not rel["valid"]:
            # Left by an interrupted build: a pending index migration drops and rebuilds it,
            # and the check after migrating reports it if none is pending.
            continue
        same = (
            rel["table_name"] == spec.table
            and (spec.columns is None or tuple(rel["columns"]) == spec.columns)
            and rel["method"] == "btree"
            and not rel["is_unique"]
            and (spec.columns is None or rel["partial"] == spec.partial)
            and (spec.columns is None or not rel["on_expressions"])
        )
        if not same:
            got = f"{rel['method']} on {rel['table_name']} ({', '.join(rel['columns'])})"
            if rel["is_unique"]:
                got = "unique " + got
            if rel["on_expressions"]:
                got += " with expressions"
            if rel["partial"]:
                got += " with a WHERE clause"
            want = f"{spec.table} ({', '.join(spec.columns or ('…',))})"
            problems.append(
                f"index {name} already exists as {got}; tt-storage builds it on {want}"
                + (" with a WHERE clause" if spec.partial else "")
                + ": drop or rename it"
            )
    return problems


def shape_problems(found: Found) -> list[str]:
    problems: list[str] = []
    for table in TABLES:
        kind = found.tables.get(table)
        if kind is None:
            continue  # created by the migrations
        if kind != "BASE TABLE":
            problems.append(f"{table} is a {kind.lower()}, not a table")
            continue
        if found.relkinds.get(table) == "p":
            problems.append(
                f"{table} is partitioned: CREATE INDEX CONCURRENTLY cannot build its indexes"
            )
        problems += _column_problems(table, found.columns.get(table, {}))
    if "users" in found.columns and "user_id" in found.columns["users"]:
        if not found.user_id_unique:
            problems.append("users.user_id has no primary key or unique constraint")
    problems += _index_problems(found)
    return problems


async def existing_shape_problems(conn: asyncpg.Connection) -> list[str]:
    """What, of the tables and indexes already there, differs from what tt-storage's migrations
    would build on (empty: nothing there, or all of it in a shape they accept).

    tt-storage's migrations create only what is missing, so ``Tortoise.generate_schemas()`` or
    another app's ``aerich init-db`` may have made these tables first; the migrations check
    with this that they did so in a usable shape before recording anything.
    """
    return shape_problems(await inspect(conn))
