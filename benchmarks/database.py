"""Throwaway databases on a PostgreSQL server: the benchmark's, and the test suite's (through
``tests/support/database.py``: the benchmarks never import the tests)."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tt_storage.core.urls import normalize_db_url

LOCAL_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


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
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin, name)


async def drop_database(admin: str, url: str) -> None:
    name = database_name(url)
    conn = await asyncpg.connect(asyncpg_dsn(admin))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def connect(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection."""
    return await asyncpg.connect(asyncpg_dsn(url))
