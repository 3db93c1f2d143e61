"""Load: 10,000 updates from 1,000 new chats through the middleware and a download handler,
200 at a time; and what a pool that runs dry does (waits ``acquire_timeout``, then
``StorageTimeout`` — never a hang — and the downloads still reach the database)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import asyncpg
import pytest

import tt_storage as tt
from tests.support.download_bot import DownloadBot, music, video
from tests.support.faults import rebound

#: The default storage's outbox (the same object across close and init).
outbox = tt.default_storage().outbox

pytestmark = pytest.mark.slow

PRIVATE = [7_000_000 + n for n in range(800)]
GROUPS = [-7_000_000 - n for n in range(200)]
PER_CHAT = 10  # updates 5 and 10 of each chat are music, the other 8 videos
AT_A_TIME = 200


def ads_for(downloads: int) -> int:
    """The sequential rule: an ad on downloads 1, 4, 7, …"""
    return len(range(1, downloads + 1, 3))


async def test_ten_thousand_updates_from_a_thousand_new_chats(db: asyncpg.Connection) -> None:
    updates = [
        (chat, music(chat) if n % 5 == 4 else video(chat, n))
        for chat in PRIVATE + GROUPS
        for n in range(PER_CHAT)
    ]
    # Shuffled (fixed seed): a chat's updates, its first ones too, often run side by side.
    random.Random(1).shuffle(updates)
    before = tt.ops.outbox_stats()
    bot = DownloadBot(languages=["en", "uk"])
    errors: list[BaseException] = []
    started = time.monotonic()
    try:
        for i in range(0, len(updates), AT_A_TIME):
            results = await asyncio.gather(
                *(bot.feed(update) for _, update in updates[i : i + AT_A_TIME]),
                return_exceptions=True,
            )
            errors += [r for r in results if isinstance(r, BaseException)]
    finally:
        await bot.close()
    seconds = time.monotonic() - started
    stats = tt.ops.outbox_stats()

    downloads = list(bot.answered.values())
    users = await db.fetch("SELECT user_id, ad_count, ad_cooldown FROM users")
    videos = Counter(r[0] for r in await db.fetch("SELECT user_id FROM videos"))
    tunes = Counter(r[0] for r in await db.fetch("SELECT user_id FROM music"))
    distinct_links = await db.fetchval("SELECT count(DISTINCT video_link) FROM videos")
    new = Counter(d.chat for d in downloads if d.settings is not None and d.settings.is_new)
    shows = Counter(d.chat for d in downloads if d.show)
    print(
        f"\n{len(updates)} updates in {seconds:.1f} s ({len(updates) / seconds:.0f}/s): "
        f"answered {len(bot.answered)}, exceptions {len(errors)}, users {len(users)}, "
        f"videos {sum(videos.values())}, music {sum(tunes.values())}, "
        f"ads shown {sum(shows.values())}, outbox queued {stats.queued - before.queued}"
    )
    assert errors == []
    assert len(bot.answered) == len(bot.telegram.calls("sendMessage", ok=True)) == len(updates)
    assert len(users) == 1_000 and {r[0] for r in users} == set(PRIVATE + GROUPS)
    assert new == Counter({chat: 1 for chat in PRIVATE + GROUPS})  # is_new once per chat
    assert videos == Counter({chat: 8 for chat in PRIVATE + GROUPS})
    assert tunes == Counter({chat: 2 for chat in PRIVATE + GROUPS})
    assert distinct_links == 8_000  # no duplicate rows
    assert shows == Counter({chat: ads_for(8) for chat in PRIVATE})  # 1, 4, 7; none in groups
    # After 8 downloads with ads on 1, 4 and 7: two since the last ad, cooldown running.
    counters = {r[0]: (r[1], r[2] > 0) for r in users}
    assert all(counters[chat] == (2, True) for chat in PRIVATE)
    assert all(counters[chat] == (0, False) for chat in GROUPS)
    assert stats.queued == before.queued  # everything went straight to the database


async def test_exhausted_pool_waits_acquire_timeout_then_raises(
    db_url: str, raw: asyncpg.Connection
) -> None:
    """Two connections, both stuck behind a lock: 200 more callers each wait 0.5 s for a
    connection and get ``StorageTimeout``; nobody hangs."""
    await raw.execute("TRUNCATE users, videos, music RESTART IDENTITY CASCADE")
    options = {"acquire_timeout": 0.5, "command_timeout": 10.0}
    async with rebound(db_url, max_size=2, **options):
        await tt.create_user(1, "en")
        async with raw.transaction():
            await raw.execute("SELECT 1 FROM users WHERE user_id = 1 FOR UPDATE")
            stuck = [asyncio.create_task(tt.update_user_lang(1, "ru")) for _ in range(2)]
            await asyncio.sleep(0.2)
            started = time.monotonic()
            results = await asyncio.gather(
                *(tt.get_user_settings(1) for _ in range(200)), return_exceptions=True
            )
            seconds = time.monotonic() - started
        assert await asyncio.gather(*stuck) == [True, True]
    kinds = Counter(type(r).__name__ for r in results)
    print(f"\n200 callers on an exhausted pool: {dict(kinds)} after {seconds:.2f} s")
    assert kinds == Counter({"StorageTimeout": 200})
    assert all("no database connection within 0.5 s" in str(r) for r in results)
    assert 0.45 < seconds < 2.0


async def test_downloads_on_an_exhausted_pool_are_queued_not_lost(
    db_url: str, raw: asyncpg.Connection
) -> None:
    """The same dry pool under a burst of 200 updates: every handler runs (fallback
    settings), every download is queued on ``StorageTimeout`` and written once the pool has
    connections again."""
    await raw.execute("TRUNCATE users, videos, music RESTART IDENTITY CASCADE")
    chats = [8_000_000 + n for n in range(200)]
    options = {"acquire_timeout": 0.5, "outbox_retry_delay": 0.05, "outbox_max_retry_delay": 0.3}
    before = tt.ops.outbox_stats()
    async with rebound(db_url, max_size=2, **options):
        await tt.create_user(1, "en")
        bot = DownloadBot(cache_size=0)
        try:
            async with raw.transaction():
                await raw.execute("SELECT 1 FROM users WHERE user_id = 1 FOR UPDATE")
                stuck = [asyncio.create_task(tt.update_user_lang(1, "ru")) for _ in range(2)]
                await asyncio.sleep(0.2)
                results = await asyncio.gather(
                    *(bot.feed(video(chat, 0)) for chat in chats), return_exceptions=True
                )
            await asyncio.gather(*stuck)
            async with asyncio.timeout(15):
                while outbox.stats().pending:  # noqa: ASYNC110 - polling a counter
                    await asyncio.sleep(0.05)
        finally:
            await bot.close()
    figures = {
        name: getattr(tt.ops.outbox_stats(), name) - getattr(before, name)
        for name in ("queued", "flushed", "duplicates", "dropped")
    }
    found = await raw.fetchval("SELECT count(*) FROM videos")
    print(f"\n200 updates on an exhausted pool: answered {len(bot.answered)}, outbox {figures}")
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(bot.answered) == 200
    assert all(d.settings is not None and not d.settings.persisted for d in bot.answered.values())
    assert figures == {"queued": 200, "flushed": 200, "duplicates": 0, "dropped": 0}
    assert found == 200
    assert await raw.fetchval("SELECT count(*) FROM users") == 201
