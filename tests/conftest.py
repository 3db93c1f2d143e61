from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

import tt_storage
from tests.support import database


@pytest.fixture(scope="session")
async def admin_url() -> str:
    return await database.admin_url()


@pytest.fixture(scope="session")
async def db_url(admin_url: str) -> AsyncIterator[str]:
    """A fresh database, built by the real aerich migrations, with the library bound to it."""
    url = await database.create_database(admin_url, "tt_storage_test")
    try:
        await tt_storage.ops.apply_migrations(url)
        await tt_storage.init_storage(url, max_size=20)
        yield url
        await tt_storage.close_storage()
    finally:
        await database.drop_database(admin_url, url)


@pytest.fixture(scope="session")
async def raw(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A separate connection for checking rows behind the library's back."""
    conn = await database.connect(db_url)
    yield conn
    await conn.close()


@pytest.fixture
async def db(db_url: str, raw: asyncpg.Connection) -> asyncpg.Connection:
    """Empty tables for this test; the raw connection to check them with."""
    await raw.execute("TRUNCATE users, videos, music, tt_storage_media RESTART IDENTITY CASCADE")
    return raw


@pytest.fixture
async def fresh(admin_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes empty databases (no migrations), dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        made.append(await database.create_database(admin_url, "tt_storage_fresh"))
        return made[-1]

    yield make
    for url in made:
        await database.drop_database(admin_url, url)
