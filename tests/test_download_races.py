"""Bursts of first downloads of one chat with the ad rule on, on a fresh database of their own:
no server-side deadlock, and the ad counter right when the chat migrates mid-burst."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

import tt_storage as tt
from tests.support import database
from tt_storage import Storage
from tt_storage.core import db as db_module

#: Downloads 1, 4, 7, …, 100 of 100 show an ad; the 100th leaves the counter at 1.
ADS_IN_100 = len(range(1, 101, 3))


@pytest.fixture
async def burst_storage(
    admin_url: str, fresh: Callable[[], Awaitable[str]]
) -> AsyncIterator[tuple[Storage, str]]:
    url = await fresh()
    await tt.ops.apply_migrations(url)
    storage = await Storage().init(url, max_size=20)
    try:
        yield storage, url
    finally:
        await storage.close()


async def _deadlocks(admin_url: str, url: str) -> int:
    """The server's count of deadlocks in ``url``'s database, once its backends have exited
    (a backend reports its counts when it goes idle or exits)."""
    name = database.database_name(url)
    admin = await database.connect(admin_url)
    try:
        for _ in range(200):  # the pool's backends exit just after it closes
            if not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
            ):
                break
            await asyncio.sleep(0.05)
        # An exiting backend leaves pg_stat_activity just before it reports its counts.
        await asyncio.sleep(1)
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        count: int = await admin.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = $1", name
        )
        return count
    finally:
        await admin.close()


async def _lock_waits(conn: asyncpg.Connection, name: str, at_least: int) -> None:
    """Until ``at_least`` backends of database ``name`` wait for a lock."""
    for _ in range(400):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            name,
        )
        if waiting >= at_least:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"fewer than {at_least} backends waited for a lock")


async def test_downloads_woken_together_do_not_deadlock(
    admin_url: str, burst_storage: tuple[Storage, str]
) -> None:
    """The interleaving behind the deadlock of 100 concurrent first downloads, made likely: the
    row version 20 downloads' snapshots see carries a running KEY SHARE lock (as a download's
    foreign-key check leaves) and a concurrent update, whose commit wakes them all at once.
    Before: the download that locked the newer version then updated the old one, waiting for
    its tuple lock, held by another download waiting for the first: a deadlock, which the
    server's detector ended (the library re-ran the victim)."""
    storage, url = burst_storage
    reruns = getattr(db_module, "reruns", {}).get("deadlock", 0)
    name = database.database_name(url)
    key_share, updater, watch = [await database.connect(url) for _ in range(3)]
    shown = []
    try:
        for chat in range(1, 6):
            await storage.register_user(chat, "en")
            await key_share.execute("BEGIN")
            await key_share.execute("SELECT 1 FROM users WHERE user_id = $1 FOR KEY SHARE", chat)
            await updater.execute("BEGIN")
            await updater.execute("UPDATE users SET lang = lang WHERE user_id = $1", chat)
            downloads: list[asyncio.Future[bool]] = [
                asyncio.ensure_future(
                    storage.track_download(chat, f"https://t/{i}", False, ad=True)
                )
                for i in range(20)
            ]
            await _lock_waits(watch, name, 20)
            await updater.execute("COMMIT")
            async with asyncio.timeout(30):  # a bound, not a measurement
                shown.append(sum(await asyncio.gather(*downloads)))
            await key_share.execute("COMMIT")
    finally:
        for conn in (key_share, updater, watch):
            await conn.close()
    # Registered without an ad (cooldown over): downloads 1, 4, …, 19 of 20 show one.
    assert shown == [len(range(1, 21, 3))] * 5
    await storage.close()
    assert await _deadlocks(admin_url, url) == 0
    assert getattr(db_module, "reruns", {}).get("deadlock", 0) == reruns


async def test_ad_counter_right_when_the_chat_migrates_mid_burst(
    burst_storage: tuple[Storage, str],
) -> None:
    storage, url = burst_storage
    wrong: list[tuple[int, int, int | None]] = []
    migrated = 0
    for n in range(40):
        old, new = -(10_000 + n), -(10**12 + n)
        downloads = [
            storage.track_download(old, f"https://t/{i}", False, ad=True) for i in range(100)
        ]
        results = await asyncio.gather(
            *downloads[:50], storage.migrate_chat(old, new), *downloads[50:]
        )
        moved = bool(results[50])
        migrated += moved
        shown = sum(bool(r) for i, r in enumerate(results) if i != 50)
        conn = await database.connect(url)
        try:
            counter = await conn.fetchval(
                "SELECT ad_count FROM users WHERE user_id = ANY($1::bigint[])", [old, new]
            )
            rows = await conn.fetchval(
                "SELECT count(*) FROM users WHERE user_id = ANY($1::bigint[])", [old, new]
            )
            videos = await conn.fetchval(
                "SELECT count(*) FROM videos WHERE user_id = $1", new if moved else old
            )
        finally:
            await conn.close()
        assert (rows, videos) == (1, 100)
        if (shown, counter) != (ADS_IN_100, 1):
            wrong.append((n, shown, counter))
    assert wrong == []
    assert migrated > 0  # the migration did land mid-burst in some rounds
