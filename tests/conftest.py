from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

import tt_storage
from tests.support import database
from tests.support import telegram as support_telegram
from tt_storage.testing import FakeTelegram


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
    await raw.execute(
        "TRUNCATE users, videos, music, tt_storage_media, tt_storage_activity"
        " RESTART IDENTITY CASCADE"
    )
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


@pytest.fixture(scope="session")
async def telegram_server() -> AsyncIterator[FakeTelegram]:
    """One fake Bot API server for the whole run (tests get it emptied: ``telegram``)."""
    async with FakeTelegram() as server:
        yield server


@pytest.fixture(autouse=True)
def telegram(telegram_server: FakeTelegram) -> FakeTelegram:
    """The fake Bot API server, with no request, fault, file or message left from another
    test (overrides the plugin's one-server-per-test fixture; helpers reach it through
    tests.support.telegram)."""
    telegram_server.reset()
    support_telegram.use(telegram_server)
    return telegram_server
