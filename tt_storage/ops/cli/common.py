"""What several commands share: exit statuses, the database they run on (a ``Storage`` of
their own, or one plain connection), the migrations aerich records."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from ...core import db, embedded, sql
from ...core.app import APP, LEGACY_APP, packaged_migrations
from ...core.config import connect_kwargs
from ...core.errors import StorageError
from ...core.urls import endpoint, env_db_url, redact_url
from ...services.storage import Storage

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
CHAT_TYPES = ("all", "users", "groups")
#: What a query on the direct connection may fail with (the server went away, a statement failed).
LOST = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


@contextlib.asynccontextmanager
async def connected(url: str | None) -> AsyncIterator[None]:
    """A ``Storage`` of the command's own on ``url``, bound for the block: whatever the caller
    (an app, a test running ``run()``) has opened is left alone."""
    storage = await Storage().init(url, max_size=2)
    try:
        with storage.bound():
            yield
    finally:
        await storage.close()


def shown_url(url: str | None) -> str:
    url = url or env_db_url()
    return redact_url(url) if url else "the embedded PostgreSQL"


async def database_url(args: argparse.Namespace) -> str:
    """The command's database: ``--url``, ``DB_URL``, else (``--embedded``) the embedded server,
    started if need be."""
    url: str | None = args.url or env_db_url()
    if url:
        return url
    return await asyncio.to_thread(embedded.embedded_url)


@contextlib.asynccontextmanager
async def direct_connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    """One plain connection to ``url`` with no statement time limit (index builds run for
    minutes on a big table), independent of the library's pool and of the schema's state."""
    try:
        conn = await asyncpg.connect(**connect_kwargs(url), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        if isinstance(exc, asyncpg.PostgresError):  # the server answered: its own words
            reason: StorageError = StorageError(f"{type(exc).__name__}: {exc}")
        else:
            reason = db.connect_error(exc, endpoint(url))
        raise type(reason)(f"cannot connect to {redact_url(url)}: {reason}") from exc
    try:
        yield conn
    finally:
        await conn.close()


async def applied_migrations(conn: asyncpg.Connection) -> list[str] | None:
    """tt-storage's migrations aerich records as applied (under either label); ``None``
    without an aerich table."""
    if not await conn.fetchval(sql.AERICH_TABLE_EXISTS):
        return None
    rows = await conn.fetch(sql.APPLIED_MIGRATIONS, [APP, LEGACY_APP], packaged_migrations())
    return [r["version"] for r in rows]
