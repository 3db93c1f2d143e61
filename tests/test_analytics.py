"""Analytics in SQL: get_quick_stats, get_time_series (with the hourly rollup), CSV exports."""

from __future__ import annotations

import asyncio
import csv
import io

import asyncpg
import pytest

import tt_storage as tt
from tests.support import database
from tt_storage.services import analytics

HOUR, DAY = 3_600, 86_400
D0 = 1_700_006_400  # a UTC midnight (2023-11-15T00:00:00Z)
T = D0 + 5 * HOUR + 600  # "now" for these tests: 05:10 UTC


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analytics, "now", lambda: T)
    monkeypatch.setattr(analytics, "ROLLUP_SETTLE", 0)


async def add_chat(db: asyncpg.Connection, chat: int, registered: int | None, **kw: object) -> None:
    await db.execute(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown,"
        " blocked_at) VALUES ($1, $2, $3, $4, $5, 0, 0, $6)",
        chat,
        registered,
        kw.get("lang", "en"),
        kw.get("link"),
        kw.get("file_mode", False),
        kw.get("blocked_at"),
    )


async def add_video(
    db: asyncpg.Connection, chat: int, at: int | None, images: bool = False, link: str = "v"
) -> None:
    await db.execute(
        "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
        " is_inline) VALUES ($1, $2, $3, $4, false, $4)",
        chat,
        at,
        link,
        images,
    )


async def add_music(db: asyncpg.Connection, chat: int, at: int | None) -> None:
    await db.execute(
        "INSERT INTO music (user_id, downloaded_at, video_id) VALUES ($1, $2, 7)", chat, at
    )


@pytest.fixture
async def data(db: asyncpg.Connection) -> asyncpg.Connection:
    """Two users, one legacy user, two groups; downloads inside and outside the last 24 h."""
    await add_chat(db, 1, T - 100, lang="ru", link="ref", file_mode=True)
    await add_chat(db, 2, T - 2 * DAY)
    await add_chat(db, 3, None)  # legacy: no registration time
    await add_chat(db, -5, T - 2 * HOUR, blocked_at=T - 60)
    await add_chat(db, -6, None)
    await add_video(db, 1, T - 10)
    await add_video(db, 1, T - 20, images=True)
    await add_video(db, 1, T - 4000)
    await add_video(db, 2, T - 3 * DAY)
    await add_video(db, 2, T - 90_000, images=True)  # 25 h ago: outside the 24 h window
    await add_video(db, 2, None)  # legacy: counted all-time only
    await add_video(db, -5, T - 7200)
    await add_video(db, -5, T - 7200, images=True)
    await add_music(db, 1, T - 50)
    await add_music(db, -5, T - 100_000)
    await add_music(db, 3, None)
    return db


# --- get_quick_stats ----------------------------------------------------------------------------


async def test_quick_stats_empty(db: asyncpg.Connection) -> None:
    zero = tt.admin.QuickStats(0, 0, 0, 0, 0, 0, 0)
    for period in (0, DAY):
        for chat_type in ("all", "users", "groups"):
            assert await tt.admin.get_quick_stats(period, chat_type) == zero


async def test_quick_stats_last_24h(data: asyncpg.Connection) -> None:
    assert await tt.admin.get_quick_stats(DAY) == tt.admin.QuickStats(
        new_chats=2, videos=5, video_chats=2, images=2, image_chats=2, music=1, music_chats=1
    )
    assert await tt.admin.get_quick_stats(DAY, "users") == tt.admin.QuickStats(
        new_chats=1, videos=3, video_chats=1, images=1, image_chats=1, music=1, music_chats=1
    )
    assert await tt.admin.get_quick_stats(DAY, "groups") == tt.admin.QuickStats(
        new_chats=1, videos=2, video_chats=1, images=1, image_chats=1, music=0, music_chats=0
    )


async def test_quick_stats_all_time_counts_null_timestamps(data: asyncpg.Connection) -> None:
    assert await tt.admin.get_quick_stats() == tt.admin.QuickStats(
        new_chats=5, videos=8, video_chats=3, images=3, image_chats=3, music=3, music_chats=3
    )
    assert await tt.admin.get_quick_stats(0, "users") == tt.admin.QuickStats(
        new_chats=3, videos=6, video_chats=2, images=2, image_chats=2, music=2, music_chats=2
    )
    assert await tt.admin.get_quick_stats(0, "groups") == tt.admin.QuickStats(
        new_chats=2, videos=2, video_chats=1, images=1, image_chats=1, music=1, music_chats=1
    )


async def test_quick_stats_window_boundaries(data: asyncpg.Connection) -> None:
    # 90 000 s ago is in a 25 h window, not in a 24 h one; NULL timestamps in neither.
    s = await tt.admin.get_quick_stats(90_000, "users")
    assert (s.videos, s.video_chats, s.images, s.image_chats) == (4, 2, 2, 2)
    assert (await tt.admin.get_quick_stats(1)).videos == 0  # nothing in the last second
    assert (await tt.admin.get_quick_stats(10)).videos == 1  # exactly 10 s ago is inside


async def test_quick_stats_rejects_bad_arguments(db: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="chat_type"):
        await tt.admin.get_quick_stats(0, "channels")
    with pytest.raises(ValueError, match="period"):
        await tt.admin.get_quick_stats(-1)
    with pytest.raises(ValueError, match="period"):
        await tt.admin.get_quick_stats(True)


# --- get_time_series ----------------------------------------------------------------------------


def hours(first: int, last: int) -> list[int]:
    return list(range(first, last + 1, HOUR))


async def test_series_empty_tables(db: asyncpg.Connection) -> None:
    for kind in ("users", "videos", "music"):
        assert await tt.admin.get_time_series(kind, 0, "day") == []
        series = await tt.admin.get_time_series(kind, DAY, "hour")
        # Every hour touching the window: 24 whole ones plus the current, partial one.
        assert [t for t, _ in series] == hours(D0 - DAY + 5 * HOUR, D0 + 5 * HOUR)
        assert all(n == 0 for _, n in series)


async def test_series_hourly_includes_current_bucket_and_zero_gaps(
    data: asyncpg.Connection,
) -> None:
    series = dict(await tt.admin.get_time_series("videos", DAY, "hour"))
    assert list(series) == hours(D0 - DAY + 5 * HOUR, D0 + 5 * HOUR)
    assert series[D0 + 5 * HOUR] == 2  # the current hour, still filling
    assert series[D0 + 4 * HOUR] == 1  # T - 4000
    assert series[D0 + 3 * HOUR] == 2  # the group's two at T - 7200
    assert sum(series.values()) == 5  # every other hour is there, with 0
    music = dict(await tt.admin.get_time_series("music", DAY, "hour"))
    assert music[D0 + 5 * HOUR] == 1 and sum(music.values()) == 1


async def test_series_daily(data: asyncpg.Connection) -> None:
    week = await tt.admin.get_time_series("videos", 7 * DAY, "day")
    assert [t for t, _ in week] == [D0 - d * DAY for d in range(7, -1, -1)]
    assert [n for _, n in week] == [0, 0, 0, 0, 1, 0, 1, 5]
    users = await tt.admin.get_time_series("users", 7 * DAY, "day")
    assert [n for _, n in users] == [0, 0, 0, 0, 0, 1, 0, 2]


async def test_series_all_time_starts_at_first_row(data: asyncpg.Connection) -> None:
    assert await tt.admin.get_time_series("videos", 0, "day") == [
        (D0 - 3 * DAY, 1),
        (D0 - 2 * DAY, 0),
        (D0 - DAY, 1),
        (D0, 5),
    ]
    assert await tt.admin.get_time_series("music", 0, "day") == [(D0 - DAY, 1), (D0, 1)]
    users = await tt.admin.get_time_series("users", 0, "hour")
    assert users[0] == (D0 - 2 * DAY + 5 * HOUR, 1) and users[-1] == (D0 + 5 * HOUR, 1)
    assert sum(n for _, n in users) == 3  # the two legacy chats have no time


async def test_series_rejects_bad_arguments(db: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="kind"):
        await tt.admin.get_time_series("images", 0, "day")
    with pytest.raises(ValueError, match="bucket"):
        await tt.admin.get_time_series("videos", 0, "week")
    with pytest.raises(ValueError, match="period"):
        await tt.admin.get_time_series("videos", -5, "day")


async def rollup(db: asyncpg.Connection, kind: str = "videos") -> dict[int, int]:
    rows = await db.fetch("SELECT hour, n FROM tt_storage_hourly WHERE kind = $1", kind)
    return {r["hour"]: r["n"] for r in rows}


async def test_rollup_folds_and_stays_exact(data: asyncpg.Connection) -> None:
    db = data
    before = await tt.admin.get_time_series("videos", 7 * DAY, "hour")
    # The first read only notes what there is; the next one folds it.
    assert await rollup(db) == {}
    # The read above noted the videos' highest pk_id: those 8 are folded now; music is noted.
    assert await tt.admin.refresh_rollup() == 8
    assert await rollup(db) == {
        D0 - 3 * DAY + 5 * HOUR: 1,
        D0 - DAY + 4 * HOUR: 1,
        D0 + 3 * HOUR: 2,
        D0 + 4 * HOUR: 1,
        D0 + 5 * HOUR: 2,
    }
    assert await tt.admin.get_time_series("videos", 7 * DAY, "hour") == before
    # New rows after the fold are counted live, backdated ones too, then folded in turn.
    await add_video(db, 1, T - 1)
    await add_video(db, 2, T - 5 * DAY)  # e.g. an outbox flushed late
    after = dict(await tt.admin.get_time_series("videos", 7 * DAY, "hour"))
    assert after[D0 + 5 * HOUR] == 3 and after[D0 - 5 * DAY + 5 * HOUR] == 1
    await tt.admin.refresh_rollup("videos")
    assert (await rollup(db))[D0 + 5 * HOUR] == 3
    assert dict(await tt.admin.get_time_series("videos", 7 * DAY, "hour")) == after


async def test_rollup_reset_by_delete_and_truncate(data: asyncpg.Connection) -> None:
    db = data
    await tt.admin.refresh_rollup()
    await tt.admin.refresh_rollup()
    assert await rollup(db)
    await db.execute("DELETE FROM videos WHERE downloaded_at = $1", T - 10)
    assert await rollup(db) == {}  # emptied, never wrong
    assert (
        await db.fetchval("SELECT count(*) FROM tt_storage_hourly_state WHERE kind = 'videos'") == 0
    )
    assert dict(await tt.admin.get_time_series("videos", DAY, "hour"))[D0 + 5 * HOUR] == 1
    assert await rollup(db, "music")  # the other table's rollup is untouched
    await db.execute("UPDATE music SET downloaded_at = downloaded_at - 1")
    assert await rollup(db, "music") == {}
    await tt.admin.refresh_rollup()
    await tt.admin.refresh_rollup()
    await db.execute("TRUNCATE videos")
    assert await rollup(db) == {}
    assert await tt.admin.get_time_series("videos", 0, "day") == []


async def test_rollup_waits_for_transactions_in_flight(
    data: asyncpg.Connection, db_url: str
) -> None:
    """A row whose transaction is still open when the fold looks is never skipped."""
    db = data
    other = await database.connect(db_url)
    try:
        tx = other.transaction()
        await tx.start()
        await add_video(other, 1, T - 5)  # takes a pk_id, not committed yet
        await add_video(db, 1, T - 6)  # a higher pk_id, committed
        await tt.admin.refresh_rollup("videos")  # notes the max pk_id and the open transaction
        await tt.admin.refresh_rollup("videos")  # not ripe: the transaction is still open
        assert await rollup(db) == {}
        await tx.commit()
        assert await tt.admin.refresh_rollup("videos") == 10
        assert (await rollup(db))[D0 + 5 * HOUR] == 4
        assert dict(await tt.admin.get_time_series("videos", DAY, "hour"))[D0 + 5 * HOUR] == 4
    finally:
        await other.close()


async def test_series_concurrent_reads_fold_once(data: asyncpg.Connection) -> None:
    await tt.admin.refresh_rollup()
    results = await asyncio.gather(
        *(tt.admin.get_time_series("videos", 0, "hour") for _ in range(8))
    )
    assert all(r == results[0] for r in results)
    assert sum((await rollup(data)).values()) == 7  # 8 downloads, one without a timestamp


# --- exports ------------------------------------------------------------------------------------


async def test_export_user_history_csv(data: asyncpg.Connection) -> None:
    out = io.StringIO()
    assert await tt.admin.export_user_history(2, out) == 3
    assert out.getvalue().splitlines() == [
        "downloaded_at,downloaded_at_utc,video_link,is_images,is_processed,is_inline",
        ",,v,false,false,false",  # the legacy row, first
        f"{T - 3 * DAY},2023-11-12T05:10:00Z,v,false,false,false",
        f"{T - 90_000},2023-11-14T04:10:00Z,v,true,false,true",
    ]
    empty = io.StringIO()
    assert await tt.admin.export_user_history(404, empty) == 0
    assert empty.getvalue() == (
        "downloaded_at,downloaded_at_utc,video_link,is_images,is_processed,is_inline\n"
    )


async def test_export_users_csv(data: asyncpg.Connection) -> None:
    out = io.StringIO()
    assert await tt.admin.export_users(out) == 5
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["user_id"] for r in rows] == ["-6", "-5", "1", "2", "3"]
    assert rows[2] == {
        "user_id": "1",
        "chat_type": "user",
        "registered_at": str(T - 100),
        "registered_at_utc": "2023-11-15T05:08:20Z",
        "lang": "ru",
        "link": "ref",
        "file_mode": "true",
        "blocked_at": "",
    }
    assert rows[1]["chat_type"] == "group" and rows[1]["blocked_at"] == str(T - 60)
    assert rows[0]["registered_at"] == rows[0]["registered_at_utc"] == ""
    groups = io.StringIO()
    assert await tt.admin.export_users(groups, chat_type="groups") == 2


async def test_export_streams_in_chunks_to_an_async_writer(db: asyncpg.Connection) -> None:
    await add_chat(db, 7, T)
    await db.execute(
        "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
        " is_inline) SELECT 7, $1 + g, 'https://t/' || g, g % 3 = 0, false, false"
        " FROM generate_series(1, 5000) g",
        T - 10_000,
    )

    class AsyncSink:
        def __init__(self) -> None:
            self.chunks: list[str] = []

        async def write(self, text: str) -> None:
            await asyncio.sleep(0)
            self.chunks.append(text)

    sink = AsyncSink()
    seen: list[int] = []
    n = await tt.admin.export_user_history(7, sink, progress=seen.append)
    assert n == 5000
    assert seen == [5000, 5000]  # after the chunk, and the final flush
    lines = "".join(sink.chunks).splitlines()
    assert len(lines) == 5001 and lines[1].split(",")[2] == "https://t/1"
    assert lines[-1] == f"{T - 5000},2023-11-15T03:46:40Z,https://t/5000,false,false,false"
