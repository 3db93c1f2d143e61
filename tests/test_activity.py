"""Active chats: one row per chat and UTC day, written by the middleware at most once a day per
process (decided in memory), and the figures built on them (quick stats, series)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

import tt_storage as tt
from tests.test_middleware import harness
from tt_storage.admin import get_quick_stats, get_time_series
from tt_storage.bot import middleware as middleware_module
from tt_storage.services import activity, analytics
from tt_storage.services.activity import DAY, ActivityMarks, day_start
from tt_storage.testing import updates as events

NOW = 1_800_000_000 - 1_800_000_000 % DAY + 12 * 3600  # noon UTC
TODAY = day_start(NOW)


@pytest.fixture
async def attempts(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """Counts every row an INSERT into tt_storage_activity proposes (a BEFORE trigger fires
    before ON CONFLICT decides), so a no-op write counts too."""
    await db.execute(
        """
        CREATE TABLE test_activity_attempts (chat_id BIGINT);
        CREATE FUNCTION test_count_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO test_activity_attempts VALUES (NEW.chat_id); RETURN NEW; END $$;
        CREATE TRIGGER test_count_attempt BEFORE INSERT ON tt_storage_activity
            FOR EACH ROW EXECUTE FUNCTION test_count_attempt();
        """
    )
    try:
        yield db
    finally:
        await db.execute(
            "DROP TRIGGER test_count_attempt ON tt_storage_activity;"
            "DROP FUNCTION test_count_attempt(); DROP TABLE test_activity_attempts"
        )


async def count_attempts(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM test_activity_attempts"))


async def days_of(db: asyncpg.Connection, chat_id: int) -> list[int]:
    rows = await db.fetch(
        "SELECT day FROM tt_storage_activity WHERE chat_id = $1 ORDER BY day", chat_id
    )
    return [r[0] for r in rows]


def at(monkeypatch: pytest.MonkeyPatch, t: int) -> None:
    monkeypatch.setattr(middleware_module, "now", lambda: t)
    monkeypatch.setattr(analytics, "now", lambda: t)
    monkeypatch.setattr("tt_storage.services.users.now", lambda: t)


async def test_one_write_per_chat_per_day(
    attempts: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOW)
    async with harness() as h:
        await h.feed(events.message(100, "/start"))  # registers it: recorded in that statement
        await h.live_cache()
        for _ in range(5):
            await h.feed(events.message(100, "hi"))
        assert await days_of(attempts, 100) == [TODAY]
        assert await count_attempts(attempts) == 1
        at(monkeypatch, NOW + DAY)  # the next UTC day: one more row, from a cache hit
        for _ in range(3):
            await h.feed(events.message(100, "hi"))
        assert await days_of(attempts, 100) == [TODAY, TODAY + DAY]
        assert await count_attempts(attempts) == 2
    rows = await attempts.fetch("SELECT * FROM tt_storage_activity ORDER BY day")
    assert [r["registered_at"] for r in rows] == [NOW, NOW]  # copied from the chat's row
    assert [r["previous_day"] for r in rows] == [None, TODAY]


@pytest.mark.parametrize("cache_size", [100_000, 0])
async def test_burst_of_one_chat_writes_once(
    attempts: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, cache_size: int
) -> None:
    """100 concurrent updates of one chat: one INSERT, cached or not, known or new."""
    at(monkeypatch, NOW)
    async with harness(cache_size=cache_size) as h:
        await asyncio.gather(
            *(h.dp.feed_update(h.bot, events.message(7, "hi")) for _ in range(100))
        )
        assert await count_attempts(attempts) == 1
        at(monkeypatch, NOW + DAY)
        if cache_size:
            await h.live_cache()
            await h.feed(events.message(7, "hi"))  # cached now
            at(monkeypatch, NOW + 2 * DAY)
        await asyncio.gather(
            *(h.dp.feed_update(h.bot, events.message(7, "hi")) for _ in range(100))
        )
    assert await count_attempts(attempts) == (3 if cache_size else 2)
    assert len(await days_of(attempts, 7)) == (3 if cache_size else 2)


async def test_unregistered_and_untracked_chats_write_nothing(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOW)
    async with harness(register=False) as h:
        await h.feed(events.message(8, "hi"))
    async with harness(track_activity=False) as h:
        await h.feed(events.message(9, "hi"))
        await h.feed(events.message(9, "hi"))
    assert await db.fetchval("SELECT count(*) FROM tt_storage_activity") == 0
    assert await tt.get_user(9) is not None


async def test_a_failed_write_is_retried_by_a_later_update(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOW)
    async with harness() as h:
        await h.feed(events.message(10, "hi"))
        await h.live_cache()
        await h.feed(events.message(10, "hi"))  # cached
        at(monkeypatch, NOW + DAY)
        await db.execute("ALTER TABLE tt_storage_activity RENAME TO activity_away")
        try:
            settings = await h.feed(events.message(10, "hi"))  # the write fails: handled anyway
        finally:
            await db.execute("ALTER TABLE activity_away RENAME TO tt_storage_activity")
        assert settings is not None and settings.persisted
        await h.feed(events.message(10, "hi"))
    assert await days_of(db, 10) == [TODAY, TODAY + DAY]


def test_marks_are_bounded_and_start_over_each_day() -> None:
    marks = ActivityMarks(max_marks=3)
    assert [marks.claim(c, TODAY) for c in (1, 2, 1, 3)] == [True, True, False, True]
    assert marks.claim(4, TODAY) and len(marks) == 1  # full: started over
    assert marks.claim(4, TODAY + DAY)  # a new day
    marks.release(4)
    assert marks.claim(4, TODAY + DAY)


async def test_record_and_last_active(db: asyncpg.Connection) -> None:
    assert not await activity.record_activity(11, NOW)  # not registered: nothing
    await tt.register_user(11)
    assert await activity.record_activity(11, NOW)
    assert not await activity.record_activity(11, NOW + 60)  # same day
    # Days are recorded in order: an earlier one than the last is refused (nothing written).
    assert not await activity.record_activity(11, NOW - 3 * DAY)
    assert await activity.record_activity(11, NOW + DAY)
    assert await activity.last_active(11) == TODAY + DAY
    assert await activity.last_active(12) is None


async def insert_activity(db: asyncpg.Connection, rows: list[tuple[int, int, int | None]]) -> None:
    """``(day, chat, registered_at)`` rows, with each chat's previous day as the library writes."""
    last: dict[int, int] = {}
    values = []
    for day, chat, reg in sorted(rows, key=lambda r: (r[0], r[1])):
        values.append((day, chat, reg, last.get(chat)))
        last[chat] = day
    await db.executemany(
        "INSERT INTO tt_storage_activity (day, chat_id, registered_at, previous_day)"
        " VALUES ($1, $2, $3, $4)",
        values,
    )


async def seed_activity(db: asyncpg.Connection) -> None:
    """Chats 1..4 (users) and -5 (a group) over three weeks before NOW."""
    rows = [
        # chat, day offset, registered_at
        (1, 0, NOW - 30 * DAY),  # returning today and yesterday
        (1, -1, NOW - 30 * DAY),
        (2, 0, NOW - 3600),  # new today
        (3, -1, NOW - 30 * DAY),  # yesterday only
        (4, -8, None),  # last week only, registered at an unknown time
        (4, 0, None),
        (-5, -2, NOW - 2 * DAY),
        (-5, 0, NOW - 2 * DAY),
    ]
    await insert_activity(db, [(TODAY + off * DAY, chat, reg) for chat, off, reg in rows])


async def test_quick_stats_active_new_returning_retention(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOW)
    await seed_activity(db)
    today = await get_quick_stats(86_400)
    assert (today.active_chats, today.new_active_chats, today.returning_chats) == (4, 1, 3)
    # yesterday: 1, 3 -> of them 1 is back today
    assert (today.previous_active_chats, today.retained_chats, today.retention) == (2, 1, 0.5)
    users = await get_quick_stats(86_400, "users")
    assert (users.active_chats, users.new_active_chats) == (3, 1)
    week = await get_quick_stats(604_800)
    # days -6..0: 1, 2, 3, 4, -5; -5 registered within the week, 2 too
    assert (week.active_chats, week.new_active_chats, week.returning_chats) == (5, 2, 3)
    assert (week.previous_active_chats, week.retained_chats) == (1, 1)  # 4 on day -8
    assert week.retention == 1.0
    groups = await get_quick_stats(604_800, "groups")
    assert (groups.active_chats, groups.previous_active_chats, groups.retention) == (1, 0, None)
    every = await get_quick_stats(0)
    assert (every.active_chats, every.retention) == (5, None)
    assert (await analytics.get_active_chats(86_400)).days == 1


async def test_series_of_active_and_returning_chats(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOW)
    await seed_activity(db)
    days = [TODAY + off * DAY for off in range(-8, 1)]
    active = await get_time_series("active", 8 * DAY, "day")
    assert active == list(zip(days, [1, 0, 0, 0, 0, 0, 1, 2, 4], strict=True))
    returning = await get_time_series("returning", 8 * DAY, "day")
    # day -2: -5 registered that very day (new); today: 1, 4 (unknown), -5
    assert returning == list(zip(days, [1, 0, 0, 0, 0, 0, 0, 2, 3], strict=True))
    assert (await get_time_series("active", 0, "day"))[0] == (TODAY - 8 * DAY, 1)
    with pytest.raises(ValueError, match="per UTC day"):
        await get_time_series("active", DAY, "hour")


async def test_series_of_active_chats_is_empty_without_rows(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOW)
    assert await get_time_series("active", 0, "day") == []
