"""Applying migrations (every failure a ``StorageError``) and the checks a database gets when
opened."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

from . import db, host_schema, sql, startup, tls, validate
from . import migration_steps as steps
from .app import APP, LEGACY_APP, packaged_migrations
from .config import connect_kwargs, migration_config
from .errors import StorageError, StorageTimeout
from .pool import PoolOptions
from .urls import endpoint, env_db_url, redact_url

log = logging.getLogger("tt_storage")


_DEFAULTS = PoolOptions()


def _where(db_url: str | None) -> str:
    """What ``db_url`` (default ``DB_URL``) names, fit to show: redacted."""
    url = db_url or env_db_url()
    return redact_url(url) if url else "the embedded PostgreSQL"


def failure(
    doing: str,
    exc: BaseException,
    connect_timeout: float,
    command_timeout: float | None,
    db_url: str | None = None,
) -> StorageError:
    """The ``StorageError`` for ``exc``, raised while trying to ``doing`` (``"migrate …"``) on
    ``db_url`` (default ``DB_URL``)."""
    cause = db.cause(exc)
    if isinstance(exc, TimeoutError):  # before OSError, of which it is a subclass
        limit = "none" if command_timeout is None else f"{command_timeout:g} s"
        return StorageTimeout(
            f"cannot {doing}: no answer within the time limits (connect_timeout="
            f"{connect_timeout:g} s, command_timeout={limit}): is the network or the server stuck?"
        )
    if isinstance(exc, db.UNAVAILABLE) or tls.describe(exc) is not None:
        url = db_url or env_db_url()
        reason = db.connect_error(exc, endpoint(url) if url else "the embedded PostgreSQL")
        return type(reason)(f"cannot {doing}: {reason}")
    return StorageError(f"cannot {doing}: {cause}")


async def _run_aerich(
    doing: str,
    step: Any,
    db_url: str | None,
    connect_timeout: float,
    command_timeout: float | None,
) -> list[str]:
    validate.url(db_url, "db_url")
    try:
        config = migration_config(
            db_url, connect_timeout=connect_timeout, command_timeout=command_timeout
        )
        names: list[str] = await steps.in_fresh_context(step, config)
    except StorageError:
        raise
    except Exception as exc:  # aerich's and Tortoise's own errors are plain exceptions
        where = _where(db_url)
        raise failure(f"{doing} {where}", exc, connect_timeout, command_timeout, db_url) from exc
    return names


async def apply_migrations(
    db_url: str | None = None,
    *,
    connect_timeout: float = _DEFAULTS.connect_timeout,
    command_timeout: float | None = None,
    migration_lock_timeout: float = steps.DEFAULT_MIGRATION_LOCK_TIMEOUT,
) -> list[str]:
    """Apply pending aerich migrations to ``db_url`` (default ``DB_URL``); return their names.

    ``connect_timeout`` bounds opening each connection; ``command_timeout`` each statement,
    index builds included: by default none, since ``CREATE INDEX CONCURRENTLY`` on a big table
    runs for minutes (a cut build is rebuilt by the next run). ``migration_lock_timeout``: how
    long to wait while another process migrates (default 600 s). Any failure is a
    ``StorageError``: ``StorageUnavailable`` for an unreachable server, ``StorageTimeout`` when
    a limit ran out (for the lock: naming the session that holds it).
    """
    lock_timeout = startup.seconds(migration_lock_timeout, "migration_lock_timeout")
    step = functools.partial(steps.upgrade, lock_timeout=lock_timeout)
    applied = await _run_aerich("migrate", step, db_url, connect_timeout, command_timeout)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return applied


async def pending_migrations(
    db_url: str | None = None,
    *,
    connect_timeout: float = _DEFAULTS.connect_timeout,
    command_timeout: float | None = _DEFAULTS.command_timeout,
) -> list[str]:
    """Migrations on disk that the database has not applied yet. The limits and errors are
    ``apply_migrations``'s."""
    return await _run_aerich(
        "read the migrations applied to", steps.heads, db_url, connect_timeout, command_timeout
    )


@dataclass(frozen=True, slots=True)
class Probe:
    """What the first connections found."""

    version: str
    pooled: bool
    standby: bool | None


async def probe(
    database: db.Target,
    url: str,
    *,
    replica: bool,
    check_schema: bool,
    host_apps: list[host_schema.HostApp] | None = None,
) -> Probe:
    """Open ``database``'s pools now, so a wrong URL, a refused login or an unmigrated database
    (tt-storage's tables, or those of ``host_apps``: the application's) fails here, not on the
    first update; what the first connections found."""
    standby = None
    try:
        async with db.connection(database=database) as conn:
            version = await conn.fetchval(sql.SERVER_VERSION)
            pooled = await db.through_pooler(conn)
            if check_schema:
                await _check_schema(conn, url)
            if host_apps:
                await _check_host_schema(conn, url, host_apps)
        if replica:
            async with db.connection(replica=True, database=database) as conn:
                standby = await conn.fetchval(sql.IS_STANDBY)
    except BaseException as exc:
        refused = _refused(exc, url)
        if refused is not None:
            raise refused from exc
        raise
    return Probe(version, pooled, standby)


def log_connected(probe: Probe, url: str, replica_url: str | None, options: PoolOptions) -> None:
    log.info("tt-storage connected to %s (PostgreSQL %s)", redact_url(url), probe.version)
    if probe.pooled and options.statement_cache_size:
        log.warning(
            "connected through a pooler (pgbouncer?): in transaction mode pass "
            "statement_cache_size=0 (unless pgbouncer >= 1.21 has max_prepared_statements)"
        )
    if replica_url:
        log.info(
            "admin reads from %s (%s)",
            redact_url(replica_url),
            "a standby" if probe.standby else "not a standby: is this the replica?",
        )


async def _check_schema(conn: asyncpg.Connection, url: str) -> None:
    """``StorageError`` naming the fix unless the database has every packaged migration."""
    expected = packaged_migrations()
    try:
        rows = await conn.fetch(sql.APPLIED_MIGRATIONS, [APP, LEGACY_APP], expected)
    except asyncpg.UndefinedTableError:
        rows = []
    missing = sorted(set(expected) - {r["version"] for r in rows}, key=expected.index)
    if not missing:
        return
    what = (
        "has no tt-storage schema"
        if len(missing) == len(expected)
        else f"lacks tt-storage migration(s) {', '.join(missing)}"
    )
    raise StorageError(
        f"the database {redact_url(url)} {what}: apply them with init_storage(..., "
        "migrate=True) or setup_storage(dp, migrate=True), `tt-storage migrate`, or "
        "`aerich upgrade` in your project (README: Migrations)"
    )


async def _check_host_schema(
    conn: asyncpg.Connection, url: str, host_apps: list[host_schema.HostApp]
) -> None:
    """``StorageError`` naming the command to run unless every table and column the
    application's models declare exists and none of its migrations found here is pending."""
    problems = [app.problem() for app in await host_schema.inspect(conn, host_apps) if not app.ok]
    if problems:
        raise StorageError(
            f"the database {redact_url(url)} is not migrated for your models: "
            + "; ".join(problems)
            + " (README: Your own models)"
        )


def _refused(exc: BaseException, url: str) -> StorageError | None:
    """A plain ``StorageError`` if the server refused us: no such database, or the login."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.InvalidCatalogNameError):
            name = connect_kwargs(url).get("database", "?")
            return StorageError(
                f"database {name!r} does not exist ({redact_url(url)}): create it "
                f'(createdb {name}, or CREATE DATABASE "{name}") or fix the URL'
            )
        if isinstance(seen, asyncpg.InvalidAuthorizationSpecificationError):
            # Covers a wrong password too: the server's own words, never the password.
            return StorageError(
                f"the server refused the login ({redact_url(url)}): {seen}; "
                "check the user and password in the URL (DB_URL) and pg_hba.conf"
            )
        seen = seen.__cause__ or seen.__context__
    return None
