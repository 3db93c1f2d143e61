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

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from ...core.app import CONNECTION
from ...core.config import tortoise_config
from ...core.errors import StorageError
from ...core.lifecycle import apply_migrations, failure
from ...core.pool import PoolOptions
from ...core.urls import env_db_url, redact_url
from .._watch import run_watched
from .builds import POLL_INTERVAL, SELECT_INDEX_BUILDS, BuildWatcher, Reporter
from .shape import LONG_TRANSACTION, TABLES, Found, expected_indexes, inspect, shape_problems

log = logging.getLogger("tt_storage")


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
        raise limits.failure(f"connect to {redact_url(url)}", exc, url) from exc
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

    def failure(self, doing: str, exc: BaseException, url: str) -> StorageError:
        return failure(doing, exc, self.connect_timeout, self.command_timeout, url)


async def _migrate(
    url: str, conn: asyncpg.Connection | None, report: Reporter, limits: _Limits
) -> list[str]:
    """``apply_migrations(url)``, reporting index builds seen from ``conn`` meanwhile."""
    watcher = BuildWatcher(report)

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


def _check_indexes(found: Found) -> None:
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
    report = Reporter(progress)
    report(f"checking {redact_url(url)}")
    limits = _Limits(connect_timeout, command_timeout)
    try:
        return await _adopt(url, report, limits)
    except StorageError:
        raise
    except Exception as exc:  # a check's statement failed
        raise limits.failure(f"adopt {redact_url(url)}", exc, url) from exc


async def _adopt(url: str, report: Reporter, limits: _Limits) -> list[str]:
    async with _connection(url, limits) as conn:
        found = await inspect(conn)
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
            problems = shape_problems(found)
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
        after = await inspect(conn)
    _check_indexes(after)
    report(f"done: {len(expected_indexes())} indexes valid")
    return applied


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tt_storage.ops.adopt [DB_URL]``: adopt, printing progress to stderr."""
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
