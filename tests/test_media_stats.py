"""The media cache in the admin reads: hits, misses and the hit rate in get_quick_stats and
get_time_series (through the hourly rollup), top media by use."""

from __future__ import annotations

import asyncpg
import pytest

import tt_storage as tt
from tt_storage import media
from tt_storage.services import analytics, media_stats

HOUR, DAY = 3_600, 86_400
D0 = 1_700_006_400  # a UTC midnight
T = D0 + 5 * HOUR + 600


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analytics, "now", lambda: T)
    monkeypatch.setattr(media_stats, "now", lambda: T)
    monkeypatch.setattr(analytics, "ROLLUP_SETTLE", 0)


async def download(
    db: asyncpg.Connection, table: str, chat: int, at: int, hit: bool | None, media_id: int = 1
) -> None:
    await db.execute(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown,"
        " blocked_at) VALUES ($1, 0, 'en', NULL, false, 0, 0, NULL) ON CONFLICT DO NOTHING",
        chat,
    )
    if table == "videos":
        await db.execute(
            "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
            " is_inline, media_id, cache_hit) VALUES ($1, $2, 'v', false, false, false, $3, $4)",
            chat,
            at,
            None if hit is None else media_id,
            hit,
        )
    else:
        await db.execute(
            "INSERT INTO music (user_id, downloaded_at, video_id, media_id, cache_hit)"
            " VALUES ($1, $2, 7, $3, $4)",
            chat,
            at,
            None if hit is None else media_id,
            hit,
        )


@pytest.fixture
async def data(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute("TRUNCATE tt_storage_hourly, tt_storage_hourly_state")
    await download(db, "videos", 1, T - 10, True)
    await download(db, "videos", 1, T - 20, True)
    await download(db, "videos", 2, T - 4000, False)
    await download(db, "videos", 2, T - 30, None)  # not through the cache
    await download(db, "videos", -5, T - 2 * DAY, True)  # a group, outside 24 h
    await download(db, "music", 1, T - 50, False)
    await download(db, "music", -5, T - 60, True)
    return db


async def test_quick_stats_count_hits_and_misses(data: asyncpg.Connection) -> None:
    day = await tt.admin.get_quick_stats(DAY)
    assert (day.cache_hits, day.cache_misses, day.videos, day.music) == (3, 2, 4, 2)
    assert day.cache_hit_rate == 3 / 5 and day.produce_calls_saved == 3
    users = await tt.admin.get_quick_stats(DAY, "users")
    assert (users.cache_hits, users.cache_misses) == (2, 2)
    ever = await tt.admin.get_quick_stats(0)
    assert (ever.cache_hits, ever.cache_misses) == (4, 2)
    groups = await tt.admin.get_quick_stats(0, "groups")
    assert (groups.cache_hits, groups.cache_misses) == (2, 0) and groups.cache_hit_rate == 1.0


async def test_no_download_through_the_cache_has_no_rate(db: asyncpg.Connection) -> None:
    await download(db, "videos", 1, T - 10, None)
    stats = await tt.admin.get_quick_stats(DAY)
    assert (stats.cache_hits, stats.cache_misses, stats.cache_hit_rate) == (0, 0, None)


async def test_all_time_hits_read_the_partial_indexes(db: asyncpg.Connection) -> None:
    from tt_storage.core import sql

    await db.execute("SET enable_seqscan = off")
    try:
        plan = "\n".join(r[0] for r in await db.fetch("EXPLAIN " + sql.QUICK_STATS_ALL, 1, 9))
    finally:
        await db.execute("RESET enable_seqscan")
    assert "idx_videos_cache_hit" in plan and "idx_music_cache_hit" in plan


async def test_series_of_hits_and_misses_live_then_folded(data: asyncpg.Connection) -> None:
    db = data
    hits = await tt.admin.get_time_series("cache_hits", DAY, "hour")
    misses = await tt.admin.get_time_series("cache_misses", DAY, "hour")
    assert dict(hits)[D0 + 5 * HOUR] == 3 and sum(n for _, n in hits) == 3
    assert dict(misses) == {**dict.fromkeys(dict(misses), 0), D0 + 4 * HOUR: 1, D0 + 5 * HOUR: 1}
    # The reads noted the rows, or folded them already; now every row is folded.
    await tt.admin.refresh_rollup()
    await tt.admin.refresh_rollup()
    assert await db.fetchval("SELECT min(folded_pk) FROM tt_storage_hourly_state") >= 2
    kinds = {r[0]: r[1] for r in await db.fetch(
        "SELECT kind, sum(n) FROM tt_storage_hourly GROUP BY kind"
    )}  # fmt: skip
    assert kinds == {
        "videos": 5,
        "videos_hits": 3,
        "videos_misses": 1,
        "music": 2,
        "music_hits": 1,
        "music_misses": 1,
    }
    assert await tt.admin.get_time_series("cache_hits", DAY, "hour") == hits
    assert await tt.admin.get_time_series("cache_misses", DAY, "hour") == misses
    # All time starts at the first download; the week-old group hit is in it.
    ever = await tt.admin.get_time_series("cache_hits", 0, "day")
    assert sum(n for _, n in ever) == 4 and ever[0][0] == D0 - 2 * DAY
    # A delete empties every kind of that table's rollup (never wrong, only cold).
    await db.execute("DELETE FROM videos WHERE cache_hit IS NULL")
    left = {r[0] for r in await db.fetch("SELECT DISTINCT kind FROM tt_storage_hourly")}
    assert left == {"music", "music_hits", "music_misses"}
    assert await tt.admin.get_time_series("cache_hits", DAY, "hour") == hits


async def test_top_media_by_use(db: asyncpg.Connection) -> None:
    a = await media.store_media("a", 42, "video", (media.MediaFile("video", "fa"),))
    b = await media.store_media("b", 42, "video", (media.MediaFile("video", "fb"),))
    await media.store_media("c", 42, "video", (media.MediaFile("video", "fc"),))
    for _ in range(3):
        await tt.add_video(1, "l", False, media_id=b.media_id, cache_hit=True)
    await tt.add_video(1, "l", False, media_id=a.media_id, cache_hit=False)
    await db.execute("UPDATE videos SET downloaded_at = $1", T - 100)
    top = await tt.admin.get_top_media(2)
    assert [(m.key, m.uses) for m in top] == [("b", 3), ("a", 1)]
    recent = await tt.admin.get_top_media(10, period=DAY)
    assert [(m.key, m.uses, m.hits) for m in recent] == [("b", 3, 3), ("a", 1, 0)]
    await db.execute("UPDATE videos SET downloaded_at = $1", T - 2 * DAY)
    assert await tt.admin.get_top_media(10, period=DAY) == []


async def test_cache_size(db: asyncpg.Connection) -> None:
    await media.store_media("a", 42, "video", (media.MediaFile("video", "fa"),))
    await media.store_media("a", 43, "video", (media.MediaFile("video", "fb"),))
    size = await media_stats.get_cache_size()
    assert (size.entries, size.file_sets) == (1, 2) and size.bytes > 0
