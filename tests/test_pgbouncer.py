"""Behind pgbouncer in transaction-pooling mode (Debian's package, started for this test on a free
127.0.0.1 port in front of a fresh database): the services under concurrency, the streamed
history (no leaked named prepared statement), and the settings cache's LISTEN connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg
import pytest

import tt_storage as tt
from tests.support import database, servers
from tests.support.checks import middleware_settings
from tests.support.waiting import until
from tt_storage.core import cache, db
from tt_storage.core.config import connect_kwargs

#: Server connections pgbouncer may open: far fewer than the library's pool (10).
SERVERS = 3
CHATS = 20
DOWNLOADS = 7  # per chat: downloads 1, 4 and 7 show an ad
ADS = len(range(1, DOWNLOADS + 1, 3))


class Setup:
    def __init__(self, bouncer: servers.PgBouncer, direct_url: str) -> None:
        self.bouncer = bouncer
        self.direct_url = direct_url

    async def direct(self) -> asyncpg.Connection:
        return await database.connect(self.direct_url)


@asynccontextmanager
async def _library(url: str, **options: Any) -> AsyncIterator[None]:
    await tt.close_storage()
    await tt.init_storage(url, **options)
    try:
        yield
    finally:
        await tt.close_storage()


@pytest.fixture(scope="module")
async def setup(admin_url: str, db_url: str) -> AsyncIterator[Setup]:
    path = servers.ensure_pgbouncer()
    if path is None:
        pytest.skip("pgbouncer is not installed and could not be installed (apt-get as root)")
    direct_url = await database.create_database(admin_url, "tt_storage_pgb")
    try:
        await tt.ops.apply_migrations(direct_url)
        name = urlsplit(direct_url).path.lstrip("/")
        with servers.pgbouncer(path, connect_kwargs(admin_url), name, SERVERS) as bouncer:
            try:
                async with _library(bouncer.url(), statement_cache_size=0, max_size=10):
                    yield Setup(bouncer, direct_url)
            finally:
                await tt.init_storage(db_url, max_size=20)
    finally:
        await database.drop_database(admin_url, direct_url)


@pytest.fixture
async def bouncer(setup: Setup) -> Setup:
    await db.execute("TRUNCATE users, videos, music CASCADE")
    return setup


async def _server_connections(setup: Setup) -> int:
    conn = await setup.direct()
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return count
    finally:
        await conn.close()


async def test_goes_through_a_transaction_pooler(bouncer: Setup) -> None:
    assert bouncer.bouncer.settings["pool_mode"] == "transaction"
    async with db.connection() as conn:
        assert await db.through_pooler(conn)
    direct = await bouncer.direct()
    try:
        assert not await db.through_pooler(direct)
    finally:
        await direct.close()


async def test_services_concurrently(bouncer: Setup) -> None:
    chats = [700 + i for i in range(CHATS)]
    # Every chat registered by two racing first updates.
    registered = await asyncio.gather(*(tt.register_user(c, "en", "pgb") for c in chats * 2))
    assert sum(inserted for _, inserted in registered) == CHATS

    async def download(chat: int, n: int) -> bool:
        return await tt.track_download(chat, f"https://t/{chat}/{n}", n % 2 == 0, ad=True)

    async def reads() -> None:
        for _ in range(5):
            await tt.get_stats_by_period(0)
            await tt.get_other_stats()
            assert len([c async for c in tt.admin.iter_user_ids(batch_size=4)]) == CHATS

    results = await asyncio.gather(
        *(download(c, n) for c in chats for n in range(DOWNLOADS)),
        *(tt.toggle_file_mode(c) for c in chats for _ in range(3)),
        *(reads() for _ in range(3)),
    )
    shown = cast(list[bool], results[: CHATS * DOWNLOADS])
    assert sum(shown) == CHATS * ADS  # the ad rule stayed exact
    toggled = cast(list[bool], results[CHATS * DOWNLOADS : CHATS * DOWNLOADS + CHATS * 3])
    assert sorted(toggled) == [False] * CHATS + [True] * 2 * CHATS  # no lost toggle

    # Ten client connections shared few server connections: transaction pooling for real.
    assert db.current().client()._pool.get_size() == 10
    assert await _server_connections(bouncer) <= SERVERS

    assert len(await tt.get_stats_by_period(0, "users")) == CHATS * DOWNLOADS
    assert await tt.get_user_ids() == chats
    assert [c async for c in tt.admin.iter_user_ids(batch_size=3)] == chats
    assert await tt.get_referral_stats() == [("pgb", CHATS)]
    file_mode, languages, _ = await tt.get_other_stats()
    assert (file_mode, languages) == (CHATS, [("en", CHATS)])  # toggled three times: on
    for chat in chats[:3]:
        user, videos, images = await tt.get_user_stats(chat)
        assert user is not None and user.file_mode and (videos, images) == (DOWNLOADS, 4)
        assert await tt.get_user_settings(chat) == ("en", True)
        assert len(await tt.get_user_videos(chat)) == DOWNLOADS


async def test_streamed_history_leaves_no_prepared_statement(
    bouncer: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tt.register_user(1, "en")
    for n in range(5):
        await tt.add_video(1, f"https://t/1/{n}", False)
    for _ in range(4):
        assert len([row async for row in tt.admin.iter_user_videos(1, prefetch=2)]) == 5

    # Hold every server connection at once and look at its prepared statements: a named one
    # left behind would collide with the same name from another bot process.
    together = asyncio.Barrier(SERVERS)

    async def inspect() -> tuple[int, int]:
        conn = await bouncer.bouncer.connect()
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT pg_backend_pid(), count(*) FROM pg_prepared_statements"
                )
                await together.wait()
        finally:
            await conn.close()
        assert row is not None
        return row[0], row[1]

    seen = await asyncio.gather(*(inspect() for _ in range(SERVERS)))
    assert len({pid for pid, _ in seen}) == SERVERS
    assert [count for _, count in seen] == [0] * SERVERS

    # "Another process": asyncpg numbers its statements from 1 again.
    monkeypatch.setattr(asyncpg.connection, "_uid", 0)
    assert len(await tt.get_user_videos(1)) == 5


async def test_listen_through_pgbouncer_never_delivers(bouncer: Setup) -> None:
    """Why the cache must not LISTEN through pgbouncer: it "works" and stays silent."""
    listening = await bouncer.bouncer.connect()
    direct = await bouncer.direct()
    got: list[str] = []
    try:
        await listening.add_listener(cache.CHANNEL, lambda *args: got.append(args[-1]))
        await direct.execute(f"NOTIFY {cache.CHANNEL}, '1'")
        await asyncio.sleep(0.5)
        assert got == []
        assert await listening.fetchval("SELECT 1") == 1  # a ping would not notice
    finally:
        await listening.close()
        await direct.close()


async def test_settings_cache_stays_off_behind_pgbouncer(
    bouncer: Setup, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, "tt_storage")
    mw = tt.StorageMiddleware()
    try:
        assert (await middleware_settings(mw, 42)).is_new
        await asyncio.sleep(0.5)  # the listener has tried (and refused) by now
        assert not mw.cache.live
        assert (await middleware_settings(mw, 42)).lang == "en"
        assert mw.cache.hits == 0
        assert await tt.update_user_lang(42, "uk")
        assert (await middleware_settings(mw, 42)).lang == "uk"
    finally:
        await mw.close()
    assert any("listen_url" in r.getMessage() for r in caplog.records)


async def test_listen_url_turns_the_cache_on(bouncer: Setup) -> None:
    async with _library(
        bouncer.bouncer.url(),
        listen_url=bouncer.direct_url,
        statement_cache_size=0,
        max_size=10,
    ):
        mw = tt.StorageMiddleware()
        try:
            await middleware_settings(mw, 43)
            await until(lambda: mw.cache.live)
            await middleware_settings(mw, 43)
            assert (await middleware_settings(mw, 43)).lang == "en"
            assert mw.cache.hits == 1
            # A change from elsewhere (plain SQL through pgbouncer) reaches the cache.
            direct = await bouncer.bouncer.connect()
            try:
                await direct.execute("UPDATE users SET lang = 'vi' WHERE user_id = 43")
            finally:
                await direct.close()
            await until(lambda: 43 not in mw.cache._entries)
            assert (await middleware_settings(mw, 43)).lang == "vi"
        finally:
            await mw.close()
    await tt.init_storage(bouncer.bouncer.url(), statement_cache_size=0, max_size=10)


async def test_statement_cache_warning(bouncer: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "tt_storage")
    async with _library(bouncer.bouncer.url(), max_size=1):
        pass
    await tt.init_storage(bouncer.bouncer.url(), statement_cache_size=0, max_size=10)
    assert any("statement_cache_size=0" in r.getMessage() for r in caplog.records)
