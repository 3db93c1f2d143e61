"""The settings cache: hits, invalidation by our writes, by plain SQL (TRUNCATE too), by another
process, and what happens when the notification connection is lost or goes silent."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import asyncpg
import pytest

import tt_storage
from tests.support.checks import middleware_settings
from tests.support.database import database_name
from tests.support.faults import FreezableProxy, rebound
from tests.support.waiting import until
from tt_storage import StorageMiddleware, UserSettings
from tt_storage.core import cache as cache_module
from tt_storage.core.app import APP, migrations_location

CHAT = 700_001
OTHER = 700_002


@pytest.fixture
async def mw(db: asyncpg.Connection) -> AsyncIterator[StorageMiddleware]:
    middleware = StorageMiddleware()
    await middleware_settings(middleware, CHAT)  # registers the chat and starts the listener
    await until(lambda: middleware.cache.live)
    yield middleware
    await middleware.close()


async def test_second_update_is_a_cache_hit(mw: StorageMiddleware) -> None:
    await middleware_settings(mw, CHAT)  # loads and caches
    hits = mw.cache.hits
    settings = await middleware_settings(mw, CHAT)
    assert mw.cache.hits == hits + 1
    assert settings == UserSettings(CHAT, "en", False)


async def test_own_write_invalidates_at_once(mw: StorageMiddleware) -> None:
    await middleware_settings(mw, CHAT)
    assert await tt_storage.update_user_lang(CHAT, "uk")
    assert (await middleware_settings(mw, CHAT)).lang == "uk"
    assert await tt_storage.toggle_file_mode(CHAT) is True
    assert (await middleware_settings(mw, CHAT)).file_mode is True


async def test_plain_sql_change_reaches_the_cache(
    mw: StorageMiddleware, db: asyncpg.Connection
) -> None:
    await middleware_settings(mw, CHAT)
    assert CHAT in mw.cache._entries
    await db.execute("UPDATE users SET lang = 'vi' WHERE user_id = $1", CHAT)
    await until(lambda: CHAT not in mw.cache._entries)
    assert (await middleware_settings(mw, CHAT)).lang == "vi"


async def test_blocking_elsewhere_reaches_the_cache(
    mw: StorageMiddleware, db: asyncpg.Connection
) -> None:
    # Another process (a broadcast) marks the chat blocked: this one must stop serving the
    # cached entry, so the chat's next message reaches the database and unblocks it.
    await middleware_settings(mw, CHAT)
    assert CHAT in mw.cache._entries
    await db.execute("UPDATE users SET blocked_at = 1 WHERE user_id = $1", CHAT)
    await until(lambda: CHAT not in mw.cache._entries)


async def test_unrelated_column_change_keeps_the_entry(
    mw: StorageMiddleware, db: asyncpg.Connection
) -> None:
    await middleware_settings(mw, CHAT)
    await db.execute("UPDATE users SET ad_count = ad_count + 1 WHERE user_id = $1", CHAT)
    await asyncio.sleep(0.2)
    assert CHAT in mw.cache._entries


async def test_change_from_another_process(mw: StorageMiddleware, db_url: str) -> None:
    await middleware_settings(mw, CHAT)
    script = textwrap.dedent(
        f"""
        import asyncio, tt_storage
        async def main():
            await tt_storage.init_storage({db_url!r})
            assert await tt_storage.update_user_lang({CHAT}, "ar")
            assert await tt_storage.toggle_file_mode({CHAT}) is True
            await tt_storage.close_storage()
        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
    assert await proc.wait() == 0
    await until(lambda: CHAT not in mw.cache._entries)
    settings = await middleware_settings(mw, CHAT)
    assert (settings.lang, settings.file_mode) == ("ar", True)


async def test_truncate_elsewhere_flushes_the_cache(
    mw: StorageMiddleware, db: asyncpg.Connection
) -> None:
    # TRUNCATE touches no row, so the per-row trigger says nothing: without the statement-level
    # one, the re-inserted chat was served with its old settings for the whole TTL.
    await middleware_settings(mw, OTHER)
    for chat in (CHAT, OTHER):
        assert (await middleware_settings(mw, chat)).lang == "en"
    assert {CHAT, OTHER} <= set(mw.cache._entries)
    async with db.transaction():
        await db.execute("TRUNCATE users CASCADE")
        await db.execute(
            "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count,"
            " ad_cooldown, blocked_at) VALUES ($1, 0, 'ru', NULL, true, 0, 0, NULL)",
            CHAT,
        )
    await until(lambda: len(mw.cache) == 0)
    hits = mw.cache.hits
    settings = await middleware_settings(mw, CHAT)
    assert (settings.lang, settings.file_mode, settings.persisted) == ("ru", True, True)
    assert mw.cache.hits == hits  # loaded, not served
    # The cache goes on serving the new value.
    assert (await middleware_settings(mw, CHAT)).lang == "ru"
    assert mw.cache.hits == hits + 1


def _migration(name: str) -> ModuleType:
    [path] = (migrations_location() / APP).glob(f"[0-9]*_{name}.py")
    spec = importlib.util.spec_from_file_location(f"_migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_truncate_migration_reruns_and_reverts(db: asyncpg.Connection) -> None:
    # Already applied to this database: running it again must replace, not fail.
    migration = _migration("notify_truncate")
    count = (
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass"
        " AND tgname = 'tt_storage_settings_truncated'"
    )
    transaction = db.transaction()
    await transaction.start()
    try:
        assert await db.fetchval(count) == 1
        await db.execute(await migration.upgrade(None))
        assert await db.fetchval(count) == 1
        await db.execute(await migration.downgrade(None))
        assert await db.fetchval(count) == 0
        assert await db.fetchval("SELECT to_regproc('tt_storage_notify_flush') IS NULL")
        await db.execute(await migration.downgrade(None))  # nothing left to drop: no error
        await db.execute(await migration.upgrade(None))
        assert await db.fetchval(count) == 1
    finally:
        await transaction.rollback()


async def test_lost_notification_connection_stops_serving(
    mw: StorageMiddleware, db: asyncpg.Connection
) -> None:
    await middleware_settings(mw, CHAT)
    listener = mw._listener
    assert listener is not None and listener._conn is not None
    # Keep it from reconnecting until the test allows it.
    allowed = asyncio.Event()
    real_connect = listener._connect

    async def gated_connect() -> asyncpg.Connection:
        if not allowed.is_set():
            raise OSError("test: server unreachable")
        return await real_connect()

    listener._connect = gated_connect
    listener.retry_delay = listener.max_retry_delay = 0.05
    pid = listener._conn.get_server_pid()
    await db.execute("SELECT pg_terminate_backend($1)", pid)
    await until(lambda: not mw.cache.live)
    # While it is down a change must still be seen: the cache does not serve.
    await db.execute("UPDATE users SET lang = 'hi' WHERE user_id = $1", CHAT)
    hits = mw.cache.hits
    assert (await middleware_settings(mw, CHAT)).lang == "hi"
    assert mw.cache.hits == hits
    assert (await middleware_settings(mw, CHAT)).lang == "hi"
    assert mw.cache.hits == hits
    # It reconnects by itself (with an empty cache) and serves again.
    allowed.set()
    await until(lambda: mw.cache.live)
    await middleware_settings(mw, CHAT)
    hits = mw.cache.hits
    assert (await middleware_settings(mw, CHAT)).lang == "hi"
    assert mw.cache.hits == hits + 1


@pytest.mark.slow
@pytest.mark.parametrize("max_silence", [None, 0.5], ids=["default", "0.5s"])
async def test_silent_listen_connection_stops_serving_within_max_silence(
    db_url: str, db: asyncpg.Connection, max_silence: float | None
) -> None:
    """The network to the LISTEN connection black-holed (packets dropped, no RST): a change
    committed elsewhere is served stale for at most ``cache_max_silence``. Once the network is
    back the late notification arrives on the same connection and the cache serves again."""
    options: dict[str, Any] = {} if max_silence is None else {"cache_max_silence": max_silence}
    async with FreezableProxy(db_url) as proxy:
        # Only the LISTEN connection goes through the proxy; the pool reaches the server.
        listen_url = proxy.url(database_name(db_url))
        async with rebound(db_url, listen_url=listen_url, max_size=5):
            mw = StorageMiddleware(**options)
            try:
                bound = mw.cache.max_silence
                assert bound == (2.0 if max_silence is None else max_silence)
                for chat in (CHAT, OTHER):
                    await middleware_settings(mw, chat)  # registers; starts the listener
                await until(lambda: mw.cache.live)
                for chat in (CHAT, OTHER):
                    await middleware_settings(mw, chat)  # cached
                assert {CHAT, OTHER} <= set(mw.cache._entries)
                listener = mw._listener
                assert listener is not None
                connection = listener._conn
                proxy.freeze()
                await db.execute("UPDATE users SET lang = 'uk' WHERE user_id = $1", CHAT)
                changed = time.monotonic()
                stale = 0
                while (await middleware_settings(mw, CHAT)).lang == "en":
                    stale += 1
                    staleness = time.monotonic() - changed
                    assert staleness < bound + 5, f"stale {staleness:.1f} s after the change"
                    await asyncio.sleep(0.02)
                staleness = time.monotonic() - changed
                print(f"\nmax_silence {bound} s: stale for {staleness:.2f} s ({stale} reads)")
                assert staleness <= bound + 0.5
                # Not serving at all while silent: an unchanged chat is loaded too.
                assert not mw.cache.live
                hits = mw.cache.hits
                assert (await middleware_settings(mw, OTHER)).lang == "en"
                assert mw.cache.hits == hits
                proxy.thaw()
                await until(lambda: mw.cache.live)
                # The same connection: the notification was late, not lost, so the entries
                # kept meanwhile are good again (only the changed chat's is gone).
                assert listener._conn is connection
                assert CHAT not in mw.cache._entries
                hits = mw.cache.hits
                assert (await middleware_settings(mw, OTHER)).lang == "en"
                assert mw.cache.hits == hits + 1
                assert (await middleware_settings(mw, CHAT)).lang == "uk"
                assert (await middleware_settings(mw, CHAT)).lang == "uk"
                assert mw.cache.hits == hits + 2
            finally:
                await mw.close()


async def test_serves_only_until_the_deadline() -> None:
    cache = cache_module.SettingsCache(max_entries=10, ttl=60)
    assert not cache.live  # no listener has proved anything yet
    cache.serve_until(time.monotonic() + 60)
    cache.put(1, "en", False, cache.generation)
    assert cache.get(1) == ("en", False)
    cache.serve_until(time.monotonic() - 0.001)  # the last proof is too old
    assert not cache.live
    assert cache.get(1) is None
    # Silent, not lost: what is loaded meanwhile is stored, and late notifications still land.
    cache.put(2, "uk", False, cache.generation)
    started = cache.generation
    cache.invalidate(1)
    cache.put(1, "en", False, started - 1)  # a load from before that late notification
    assert cache.peek(2) == ("uk", False) and cache.peek(1) is None
    cache.serve_until(time.monotonic() + 60)  # a late proof: the entries are good again
    assert cache.get(2) == ("uk", False)
    cache.suspend()  # the connection is lost: nothing is stored until it is back
    cache.put(3, "en", False, cache.generation)
    assert cache.peek(3) is None and not cache.live
    cache.close()


async def test_setup_storage_passes_max_silence_on() -> None:
    from aiogram import Dispatcher

    dispatcher = Dispatcher()
    middleware = tt_storage.setup_storage(dispatcher, cache_max_silence=0.5)
    assert dispatcher["tt_storage"] is middleware
    assert middleware.cache.max_silence == 0.5


@pytest.mark.parametrize("bad", [0, 0.05, -1, math.inf, math.nan])
async def test_max_silence_must_be_a_sane_duration(bad: float) -> None:
    with pytest.raises(ValueError, match="cache_max_silence"):
        StorageMiddleware(cache_max_silence=bad)


async def test_bounded_by_entries() -> None:
    cache = cache_module.SettingsCache(max_entries=3, ttl=60)
    cache.live = True
    for chat in range(5):
        cache.put(chat, "en", False, cache.generation)
    assert len(cache) == 3
    assert cache.get(0) is None and cache.get(4) == ("en", False)
    cache.close()


async def test_expires_after_ttl() -> None:
    cache = cache_module.SettingsCache(max_entries=10, ttl=0.05)
    cache.live = True
    cache.put(1, "en", True, cache.generation)
    assert cache.get(1) == ("en", True)
    await asyncio.sleep(0.1)
    assert cache.get(1) is None
    cache.close()


async def test_another_chats_invalidation_does_not_cost_a_load() -> None:
    cache = cache_module.SettingsCache()
    cache.live = True
    started = cache.generation
    cache_module.invalidate(6)  # some other chat changed meanwhile
    cache.put(5, "en", False, started)
    assert cache.get(5) == ("en", False)
    cache.clear()  # missed notifications: nothing in flight may be stored
    cache.put(5, "en", False, started)
    assert cache.get(5) is None
    cache.close()


async def test_a_load_racing_an_invalidation_is_not_cached() -> None:
    cache = cache_module.SettingsCache()
    cache.live = True
    started = cache.generation
    cache_module.invalidate(5)  # a write lands while the load is in flight
    cache.put(5, "en", False, started)
    assert cache.get(5) is None
    cache.close()
