"""FSM storage and isolation under bad keys and outages, on real servers: text PostgreSQL cannot
hold is refused before any SQL (never changed to fit), a key holding it still reaches the
handler, isolation degrades like the storage when the lock server is gone, and every wait or
failure of the lock pool is a ``StorageError``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiogram import Dispatcher, Router
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Message

from tests.support import telegram as support_telegram
from tests.support.database import database_name
from tests.support.faults import FreezableProxy, own_server
from tt_storage import (
    PostgresStorage,
    Storage,
    StorageTimeout,
    setup_storage,
)
from tt_storage.bot.isolation import AdvisoryLockIsolation, lock_id
from tt_storage.core.database import Database
from tt_storage.testing import BOT_ID
from tt_storage.testing import updates as events

KEY = StorageKey(bot_id=42, chat_id=61, user_id=61)
#: Text PostgreSQL cannot hold: a NUL, a lone surrogate, a surrogate pair split in two.
BAD_TEXT = ["bc\x00x", "bc\ud800", "\ud83d\ude00"]


@pytest.fixture
async def fsm_db(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute("TRUNCATE tt_storage_fsm")
    return db


async def advisory_locks(raw: asyncpg.Connection) -> int:
    count: int = await raw.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return count


# --- unencodable text --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_a_bad_business_connection_id_reaches_the_handler(
    fsm_db: asyncpg.Connection, bad: str
) -> None:
    dp = Dispatcher()
    middleware = setup_storage(dp, fsm=True, fsm_isolation=True, cache_size=0)
    router = Router()
    seen: list[str | None] = []

    @router.business_message()
    async def handler(message: Message, raw_state: str | None) -> None:
        seen.append(raw_state)

    dp.include_router(router)
    update = events.business_message(71, bad)
    try:
        await dp.feed_update(support_telegram.bot(), update)
    finally:
        await dp.fsm.close()
        await middleware.close()
    assert seen == [None]
    assert await fsm_db.fetchval("SELECT count(*) FROM tt_storage_fsm") == 0


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_unstorable_text_is_refused_before_any_sql(
    fsm_db: asyncpg.Connection, bad: str
) -> None:
    # A database that was never opened: any statement would raise StorageNotInitialized.
    nowhere = PostgresStorage(database=Database())
    bad_keys = [
        StorageKey(bot_id=BOT_ID, chat_id=5, user_id=5, destiny=bad),
        StorageKey(bot_id=BOT_ID, chat_id=5, user_id=5, business_connection_id=bad),
    ]
    for key in bad_keys:
        for write in (
            nowhere.set_state(key, "S"),
            nowhere.set_state(key, None),
            nowhere.set_data(key, {"a": 1}),
            nowhere.update_data(key, {"a": 1}),
        ):
            with pytest.raises(ValueError, match="NUL or a surrogate") as refused:
                await write
            assert bad not in str(refused.value)  # the key's text is not echoed
        assert await nowhere.get_state(key) is None  # nothing can be stored under it
        assert await nowhere.get_data(key) == {}
    for write in (
        nowhere.set_state(KEY, f"S{bad}"),
        nowhere.set_data(KEY, {"v": bad}),
        nowhere.set_data(KEY, {bad: 1}),
        nowhere.update_data(KEY, {"v": ["ok", {"deep": bad}]}),
    ):
        with pytest.raises(ValueError, match="NUL or a surrogate"):
            await write
    # The same storage on the real database: nothing was written, good text round-trips as is.
    real = PostgresStorage()
    await real.set_data(KEY, {"emoji": "😀", "text": "\\u0000", "ru": "привет"})
    assert await real.get_data(KEY) == {"emoji": "😀", "text": "\\u0000", "ru": "привет"}
    await real.set_state(KEY, "S😀")
    assert await real.get_state(KEY) == "S😀"
    assert await fsm_db.fetchval("SELECT count(*) FROM tt_storage_fsm") == 1


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_any_key_can_be_locked(fsm_db: asyncpg.Connection, bad: str) -> None:
    isolation = AdvisoryLockIsolation(timeout=5)
    key = StorageKey(bot_id=BOT_ID, chat_id=5, user_id=5, business_connection_id=bad)
    twin = StorageKey(bot_id=BOT_ID, chat_id=5, user_id=5, business_connection_id="bcx")
    try:
        async with isolation.lock(key):
            assert await advisory_locks(fsm_db) == 1
        assert lock_id(key) != lock_id(twin)  # lossless: the NUL is not dropped
        assert lock_id(StorageKey(1, 1, 1, destiny="\ud83d\ude00")) != lock_id(
            StorageKey(1, 1, 1, destiny="😀")
        )
    finally:
        await isolation.close()
    assert await advisory_locks(fsm_db) == 0


# --- isolation: outages, waits, errors ---------------------------------------------------------


@pytest.fixture
async def own_storage() -> AsyncIterator[Storage]:
    """A Storage on the test's own server (stopped by the test, started again after)."""
    server = own_server()
    url = await server.create_database()
    storage = await Storage().init(url, connect_timeout=2, acquire_timeout=2, command_timeout=2)
    try:
        yield storage
    finally:
        await server.start()
        await storage.close()


async def test_isolation_degrades_like_the_storage_in_an_outage(own_storage: Storage) -> None:
    dp = Dispatcher()
    middleware = setup_storage(dp, storage=own_storage, fsm=True, fsm_isolation=True, cache_size=0)
    router = Router()
    handled: list[str | None] = []

    @router.message()
    async def handler(message: Message, raw_state: str | None) -> None:
        handled.append(message.text)

    dp.include_router(router)
    bot = support_telegram.bot()
    isolation = dp.fsm.events_isolation
    assert isinstance(isolation, AdvisoryLockIsolation)
    try:
        await dp.feed_update(bot, events.message(81, "before"))
        await own_server().stop()
        for i in range(5):
            await dp.feed_update(bot, events.message(81, f"down {i}"))
        # Within the process, one key is still one update at a time.
        order: list[str] = []

        async def hold(name: str) -> None:
            async with isolation.lock(KEY):
                order.append(f"{name} in")
                await asyncio.sleep(0.05)
                order.append(f"{name} out")

        await asyncio.gather(hold("a"), hold("b"))
        await own_server().start()
        await dp.feed_update(bot, events.message(81, "after"))
    finally:
        await dp.fsm.close()
        await middleware.close()
    assert handled == ["before", *(f"down {i}" for i in range(5)), "after"]
    assert order == ["a in", "a out", "b in", "b out"]


async def test_an_in_process_waiter_times_out_too(fsm_db: asyncpg.Connection) -> None:
    isolation = AdvisoryLockIsolation(timeout=0.3)
    inside = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with isolation.lock(KEY):
            inside.set()
            await release.wait()

    task = asyncio.create_task(holder())
    try:
        await inside.wait()
        # The bound keeps this test from hanging on a waiter with no limit; it asserts nothing.
        async with asyncio.timeout(10):
            with pytest.raises(StorageTimeout, match=r"FSM lock not acquired within 0\.3 s"):
                async with isolation.lock(KEY):
                    pytest.fail("entered a lock another update of this process holds")
        assert not task.done()  # the holder still holds it
    finally:
        release.set()
        await task
        await isolation.close()
    assert isolation._keys == {}


async def test_leaving_the_lock_over_a_black_holed_network(
    db_url: str, fsm_db: asyncpg.Connection
) -> None:
    async with FreezableProxy(db_url) as proxy:
        isolation = AdvisoryLockIsolation(proxy.url(database_name(db_url)), timeout=0.5)
        try:
            with pytest.raises(StorageTimeout, match="FSM lock not released"):
                async with isolation.lock(KEY):
                    proxy.freeze()
            proxy.thaw()
        finally:
            await isolation.close()
