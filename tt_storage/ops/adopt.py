"""Adopt an existing tt-bot database: check it is the seed's shape, then migrate it in place.

A tt-bot database made by the seed's SQLAlchemy ``Base.metadata.create_all`` has the three
tables with no server defaults, a BIGSERIAL ``users.user_id`` and no secondary index. Migration
0 only creates what is missing (``CREATE TABLE IF NOT EXISTS``), so a plain ``aerich upgrade``
records it without touching those tables, and then builds the indexes with
``CREATE INDEX CONCURRENTLY`` while the bot keeps writing. That is only safe when the tables
really are seed-shaped: ``adopt_database`` checks that first, then applies the migrations and
reports the index builds as they run.

From a shell: ``DB_URL=postgresql://… python -m tt_storage.ops.adopt``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.indexes import Index

from ..core.columns import Column, columns
from ..core.config import (
    APP,
    CONNECTION,
    LEGACY_APP,
    PoolOptions,
    env_db_url,
    redact_url,
    tortoise_config,
)
from ..core.errors import StorageError
from ..core.lifecycle import apply_migrations, failure
from ..core.models import Media, Music, Users, Video
from ._watch import run_watched

log = logging.getLogger("tt_storage")

Progress = Callable[[str], None]

TABLES = ("users", "videos", "music")
AERICH_TABLE = "aerich"

#: How often the index builds are looked at, and how often an unchanged phase is re-reported.
POLL_INTERVAL = 0.1
PROGRESS_INTERVAL = 2.0
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

# --- catalog statements (parameters only) ------------------------------------------------------

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

SELECT_AERICH_VERSIONS = "SELECT version::text FROM aerich WHERE app = ANY ($1::text[]) ORDER BY id"

COUNT_LONG_TRANSACTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND xact_start < now() - make_interval(secs => $1)"
)

SELECT_INDEX_BUILDS = (
    "SELECT p.pid, ic.relname::text AS index_name, t.relname::text AS table_name,"
    " p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,"
    " p.lockers_done, p.lockers_total "
    "FROM pg_stat_progress_create_index p "
    "LEFT JOIN pg_class ic ON ic.oid = p.index_relid "
    "LEFT JOIN pg_class t ON t.oid = p.relid "
    "WHERE p.datname = current_database() AND p.pid <> pg_backend_pid()"
    " AND t.relname = ANY($1::text[]) "
    "ORDER BY p.pid"
)


# --- what the database should end up with -------------------------------------------------------


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


# --- reading the catalogs ----------------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    tables: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, asyncpg.Record]] = field(default_factory=dict)
    user_id_unique: bool = False
    relations: dict[str, asyncpg.Record] = field(default_factory=dict)
    relkinds: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    aerich_versions: list[str] | None = None
    long_transactions: int = 0


async def _inspect(conn: asyncpg.Connection) -> _Found:
    found = _Found()
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
            versions = await conn.fetch(SELECT_AERICH_VERSIONS, [APP, LEGACY_APP])
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


def _index_problems(found: _Found) -> list[str]:
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


def _shape_problems(found: _Found) -> list[str]:
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
    return _shape_problems(await _inspect(conn))


# --- progress ------------------------------------------------------------------------------------


class _Reporter:
    """Logs every line; hands it to ``progress`` too, which may fail without stopping anything."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def __call__(self, message: str) -> None:
        log.info("adopt: %s", message)
        if self._progress is None:
            return
        try:
            self._progress(message)
        except Exception:
            log.exception("adopt: the progress callback failed; no more progress is reported")
            self._progress = None


@dataclass(slots=True)
class _Build:
    phase: str = ""
    reported_at: float = 0.0
    numbers: tuple[int, ...] = ()


class _BuildWatcher:
    """Turns ``pg_stat_progress_create_index`` rows into progress lines."""

    def __init__(self, report: _Reporter) -> None:
        self._report = report
        self._builds: dict[tuple[int, str], _Build] = {}

    def update(self, rows: Sequence[asyncpg.Record]) -> None:
        now = time.monotonic()
        for r in rows:
            table = r["table_name"] or "?"
            name = r["index_name"] or f"an index on {table}"
            key = (r["pid"], name)
            numbers = tuple(
                r[k] or 0 for k in ("blocks_done", "blocks_total", "lockers_done", "lockers_total")
            )
            build = self._builds.setdefault(key, _Build())
            changed_phase = r["phase"] != build.phase
            if not changed_phase and (
                numbers == build.numbers or now - build.reported_at < PROGRESS_INTERVAL
            ):
                continue
            build.phase, build.reported_at, build.numbers = r["phase"], now, numbers
            self._report(_describe(name, table, r))


def _describe(name: str, table: str, r: asyncpg.Record) -> str:
    line = f"building {name} on {table}: {r['phase']}"
    blocks_done, blocks_total = r["blocks_done"] or 0, r["blocks_total"] or 0
    lockers_done, lockers_total = r["lockers_done"] or 0, r["lockers_total"] or 0
    if blocks_total:
        line += f", {blocks_done}/{blocks_total} blocks ({100 * blocks_done // blocks_total} %)"
    elif r["tuples_total"]:
        line += f", {r['tuples_done'] or 0}/{r['tuples_total']} tuples"
    if lockers_total:
        line += f", {lockers_total - lockers_done} transaction(s) still to finish"
    return line


# --- the adoption --------------------------------------------------------------------------------


@asynccontextmanager
async def _connection(url: str, limits: _Limits) -> AsyncIterator[asyncpg.Connection]:
    """One short-lived connection made from the library's own config (URL, TLS, timeouts)."""
    config = tortoise_config(
        url,
        min_size=1,
        max_size=1,
        connect_timeout=limits.connect_timeout,
        command_timeout=limits.check_timeout,
    )
    credentials = dict(config["connections"][CONNECTION]["credentials"])
    client = AsyncpgDBClient(connection_name="tt_storage_adopt", **credentials)
    try:
        await client.create_connection(with_db=True)
    except Exception as exc:
        raise limits.failure(f"connect to {redact_url(url)}", exc) from exc
    try:
        async with client.acquire_connection() as conn:
            yield conn
    finally:
        await client.close()


@dataclass(frozen=True)
class _Limits:
    connect_timeout: float
    command_timeout: float | None

    @property
    def check_timeout(self) -> float:
        """The checks' statement limit: ``command_timeout``, or the pool's default without one."""
        if self.command_timeout is None:
            return PoolOptions().command_timeout
        return self.command_timeout

    def failure(self, doing: str, exc: BaseException) -> StorageError:
        return failure(doing, exc, self.connect_timeout, self.command_timeout)


async def _migrate(
    url: str, conn: asyncpg.Connection | None, report: _Reporter, limits: _Limits
) -> list[str]:
    """``apply_migrations(url)``, reporting index builds seen from ``conn`` meanwhile."""
    watcher = _BuildWatcher(report)

    async def watch() -> None:
        nonlocal conn
        if conn is None:
            return
        try:
            rows = await conn.fetch(SELECT_INDEX_BUILDS, list(TABLES), timeout=limits.check_timeout)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("adopt: cannot watch the index builds any more: %s", exc)
            conn = None
        else:
            watcher.update(rows)

    task = await run_watched(
        apply_migrations(
            url, connect_timeout=limits.connect_timeout, command_timeout=limits.command_timeout
        ),
        watch,
        POLL_INTERVAL,
        last_look=False,
    )
    try:
        return task.result()
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(
            f"migrating failed: {type(exc).__name__}: {exc}. Migrations already recorded stay "
            "applied and the rows are untouched; fix the cause and run adopt_database again "
            "(an index whose build was interrupted is rebuilt)"
        ) from exc


def _check_indexes(found: _Found) -> None:
    bad: list[str] = []
    for name in expected_indexes():
        rel = found.relations.get(name)
        if rel is None:
            bad.append(f"{name} is missing")
        elif not rel["valid"]:
            bad.append(f"{name} is INVALID")
    if bad:
        raise StorageError(
            "after migrating: "
            + "; ".join(bad)
            + ". The index migration is recorded as applied, so aerich will not build them "
            "again: DROP INDEX CONCURRENTLY each one that exists, delete the index "
            "migration's row from the aerich table and run adopt_database again"
        )


def _size(table: str, estimate: int) -> str:
    return f"{table} ~{estimate:,} rows" if estimate >= 0 else f"{table} (never analyzed)"


async def adopt_database(
    db_url: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    connect_timeout: float = PoolOptions().connect_timeout,
    command_timeout: float | None = None,
) -> list[str]:
    """Put an existing tt-bot database under aerich, without touching its rows.

    Checks that ``users``, ``videos`` and ``music`` have every column of the seed's models with a
    compatible type and nullability (``StorageError`` naming each difference otherwise, before
    anything is changed), then applies the pending migrations — building the indexes with
    ``CREATE INDEX CONCURRENTLY``, so the bot may keep running — and checks every index is
    valid. A database with none of the tables just gets the schema. Running it again applies
    nothing. ``db_url`` defaults to ``DB_URL``; ``progress`` receives one line per step and
    index build phase. Returns the names of the migrations applied.

    ``connect_timeout`` and ``command_timeout`` are ``apply_migrations``'s (the checks use a
    ``command_timeout`` of 60 s without one); any failure is a ``StorageError``.
    """
    url = db_url or env_db_url()
    if url is None:
        raise StorageError(
            "adopt_database() needs the existing database's URL: pass db_url= or set DB_URL"
        )
    report = _Reporter(progress)
    report(f"checking {redact_url(url)}")
    limits = _Limits(connect_timeout, command_timeout)
    try:
        return await _adopt(url, report, limits)
    except StorageError:
        raise
    except Exception as exc:  # a check's statement failed
        raise limits.failure(f"adopt {redact_url(url)}", exc) from exc


async def _adopt(url: str, report: _Reporter, limits: _Limits) -> list[str]:
    async with _connection(url, limits) as conn:
        found = await _inspect(conn)
        present = [t for t in TABLES if t in found.tables]
        versions = found.aerich_versions or []
        if not present:
            if versions:
                raise StorageError(
                    f"aerich records {', '.join(versions)} but the tables "
                    f"{', '.join(TABLES)} do not exist: this is not a database to adopt"
                )
            report("no tt-bot tables: creating the schema")
        else:
            missing = [t for t in TABLES if t not in found.tables]
            if missing:
                raise StorageError(
                    f"not a tt-bot database: table(s) {', '.join(missing)} missing "
                    f"(found {', '.join(present)}); nothing was changed"
                )
            problems = _shape_problems(found)
            if problems:
                raise StorageError(
                    "the tables are not shaped like tt-bot's, nothing was changed: "
                    + "; ".join(problems)
                )
            sizes = ", ".join(_size(t, found.rows.get(t, -1)) for t in TABLES)
            if versions:
                report(f"tt-bot tables ({sizes}), already under aerich: {', '.join(versions)}")
            else:
                report(f"seed-shaped tt-bot tables ({sizes}): putting them under aerich")
        if found.long_transactions:
            report(
                f"{found.long_transactions} transaction(s) open for over {LONG_TRANSACTION:g} s: "
                "concurrent index builds wait for them to finish"
            )
        report("applying migrations")
        applied = await _migrate(url, conn, report, limits)
        report(f"applied {', '.join(applied)}" if applied else "nothing to apply")
        after = await _inspect(conn)
    _check_indexes(after)
    report(f"done: {len(expected_indexes())} indexes valid")
    return applied


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tt_storage.ops.adopt [DB_URL]``: adopt, printing progress to stderr."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tt_storage.ops.adopt",
        description="Put an existing tt-bot database under aerich without touching its rows.",
    )
    parser.add_argument("db_url", nargs="?", help="the database URL (default: $DB_URL)")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def show(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {line}", file=sys.stderr, flush=True)

    try:
        applied = asyncio.run(adopt_database(args.db_url, progress=show))
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(applied) if applied else "nothing to apply")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
