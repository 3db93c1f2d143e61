"""The settings cache: hits, invalidation by our writes, by plain SQL, by another process,
and what happens when the notification connection is lost."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import AsyncIterator

import asyncpg
import pytest

import tt_storage
from tests.support.checks import middleware_settings
from tests.support.waiting import until
from tt_storage import StorageMiddleware, UserSettings
from tt_storage import cache as cache_module

CHAT = 700_001


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
