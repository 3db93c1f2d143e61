"""Group -> supergroup migration: migrate_chat, and the middleware running it on the service
messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher
from aiogram.types import Message

import tt_storage as tt
from tests.support import telegram as support_telegram
from tt_storage import UserSettings, default_storage
from tt_storage.core.cache import SettingsCache
from tt_storage.core.replay import OutboxEvent
from tt_storage.testing import updates as events

#: The default storage's outbox (the same object across close and init).
outbox = default_storage().outbox

OLD = -4_001
NEW = -1_000_000_004_001
PAST = 1_600_000_000


async def _old_group(db: asyncpg.Connection) -> None:
    """OLD with non-default settings, a referral, an old registration, ad state and history."""
    await tt.register_user(OLD, "uk", "partner")
    await db.execute(
        "UPDATE users SET registered_at = $2, file_mode = true, ad_count = 2, ad_cooldown = 77"
        " WHERE user_id = $1",
        OLD,
        PAST,
    )
    for n in range(3):
        await tt.add_video(OLD, f"https://t/v{n}", is_images=n == 2)
    await tt.add_music(OLD, 123)


async def _row(db: asyncpg.Connection, chat: int) -> dict[str, Any] | None:
    row = await db.fetchrow(
        "SELECT registered_at, lang, link, file_mode, ad_count, ad_cooldown, blocked_at"
        " FROM users WHERE user_id = $1",
        chat,
    )
    return None if row is None else dict(row)


async def _history(db: asyncpg.Connection, chat: int) -> tuple[int, int]:
    videos = await db.fetchval("SELECT count(*) FROM videos WHERE user_id = $1", chat)
    music = await db.fetchval("SELECT count(*) FROM music WHERE user_id = $1", chat)
    return videos, music


OLD_ROW = {
    "registered_at": PAST,
    "lang": "uk",
    "link": "partner",
    "file_mode": True,
    "ad_count": 2,
    "ad_cooldown": 77,
    "blocked_at": None,
}


async def test_moves_settings_and_history(db: asyncpg.Connection) -> None:
    await _old_group(db)
    links = await db.fetch("SELECT video_link FROM videos ORDER BY pk_id")
    assert await tt.migrate_chat(OLD, NEW) is True
    assert await _row(db, OLD) is None
    assert await _row(db, NEW) == OLD_ROW
    assert await _history(db, OLD) == (0, 0)
    assert await _history(db, NEW) == (3, 1)
    assert await db.fetch("SELECT video_link FROM videos ORDER BY pk_id") == links
    assert await tt.get_user_stats(NEW) == (await tt.get_user(NEW), 3, 1)


async def test_twice_is_harmless(db: asyncpg.Connection) -> None:
    await _old_group(db)
    assert await tt.migrate_chat(OLD, NEW) is True
    assert await tt.migrate_chat(OLD, NEW) is False
    assert await _row(db, OLD) is None
    assert await _row(db, NEW) == OLD_ROW
    assert await _history(db, NEW) == (3, 1)


async def test_unknown_chat_is_a_no_op(db: asyncpg.Connection) -> None:
    assert await tt.migrate_chat(OLD, NEW) is False
    assert await _row(db, NEW) is None


async def test_new_id_already_registered_is_merged(db: asyncpg.Connection) -> None:
    await _old_group(db)
    # The supergroup's first update came before the migration: registered with defaults.
    await tt.register_user(NEW, "en")
    await tt.add_video(NEW, "https://t/new", False)
    assert await tt.migrate_chat(OLD, NEW) is True
    assert await _row(db, OLD) is None
    assert await _row(db, NEW) == OLD_ROW  # the old row's settings and registration win
    assert await _history(db, NEW) == (4, 1)


async def test_new_id_keeps_its_own_blocked_state(db: asyncpg.Connection) -> None:
    await _old_group(db)
    await tt.register_user(NEW, "en")
    assert await tt.mark_blocked(NEW)
    assert await tt.migrate_chat(OLD, NEW)
    row = await _row(db, NEW)
    assert row is not None and row["blocked_at"] is not None and row["lang"] == "uk"


async def test_old_row_recreated_after_the_migration_does_not_win(
    db: asyncpg.Connection,
) -> None:
    """Before migration 8 a late download for the old id re-created it with defaults; migrating
    that (e.g. from a broadcast's TelegramMigrateToChat) moves its history but keeps the real
    settings."""
    await _old_group(db)
    assert await tt.migrate_chat(OLD, NEW)
    # A database migrated before the move was recorded: nothing to resolve OLD with.
    await db.execute("DELETE FROM tt_storage_chat_migrations")
    await tt.add_video(OLD, "https://t/late", False)  # registers OLD again, now
    assert await _row(db, OLD) is not None
    assert await tt.migrate_chat(OLD, NEW) is True
    assert await _row(db, OLD) is None
    assert await _row(db, NEW) == OLD_ROW
    assert await _history(db, NEW) == (4, 1)


async def test_same_id_is_rejected(db: asyncpg.Connection) -> None:
    with pytest.raises(ValueError):
        await tt.migrate_chat(OLD, OLD)
    with pytest.raises(ValueError):
        await tt.migrate_chat(OLD, "x")  # type: ignore[arg-type]


async def test_concurrent_calls(db: asyncpg.Connection) -> None:
    await _old_group(db)
    results = await asyncio.gather(*(tt.migrate_chat(OLD, NEW) for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]
    assert await _row(db, OLD) is None
    assert await _row(db, NEW) == OLD_ROW
    assert await _history(db, NEW) == (3, 1)


async def test_concurrent_with_the_supergroups_first_registration(db: asyncpg.Connection) -> None:
    await _old_group(db)
    outcome = await asyncio.gather(
        tt.migrate_chat(OLD, NEW), tt.register_user(NEW, "en"), tt.add_video(NEW, "x", False)
    )
    assert outcome[0] is True
    assert await _row(db, OLD) is None
    assert await _row(db, NEW) == OLD_ROW
    assert await _history(db, NEW) == (4, 1)


async def test_waits_for_a_download_in_flight(db_url: str, db: asyncpg.Connection) -> None:
    """A download for the old id, uncommitted when the migration starts, is moved too."""
    await _old_group(db)
    other = await asyncpg.connect(db_url.replace("asyncpg://", "postgresql://", 1))
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute(
            "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
            " is_inline) VALUES ($1, 1, 'in-flight', false, false, false)",
            OLD,
        )
        task = asyncio.create_task(tt.migrate_chat(OLD, NEW))
        await asyncio.sleep(0.3)
        assert not task.done()  # waits for the download's foreign-key lock
        await tx.commit()
        assert await asyncio.wait_for(task, 5) is True
    finally:
        await other.close()
    assert await _history(db, OLD) == (0, 0)
    assert await _history(db, NEW) == (4, 1)


async def test_invalidates_both_cached_ids(db: asyncpg.Connection) -> None:
    await _old_group(db)
    cache = SettingsCache()
    cache.live = True
    try:
        cache.put(OLD, "uk", True, cache.generation)
        cache.put(NEW, "en", False, cache.generation)
        await tt.migrate_chat(OLD, NEW)
        assert cache.get(OLD) is None and cache.get(NEW) is None
    finally:
        cache.close()


# --- through the middleware ---------------------------------------------------------------------


@pytest.fixture
async def bot_dp(db: asyncpg.Connection) -> AsyncIterator[tuple[Any, Dispatcher, list[Any]]]:
    """A dispatcher wired like setup_storage (startup not emitted: storage is initialised)."""
    telegram = support_telegram.server()
    dp = Dispatcher()
    middleware = tt.setup_storage(dp, cache_size=0)
    seen: list[tuple[int, UserSettings]] = []

    @dp.message()
    async def on_message(message: Message, user_settings: UserSettings) -> None:
        seen.append((message.chat.id, user_settings))

    yield telegram.bot(), dp, seen
    await middleware.close()


def _migrate_to() -> Any:
    return events.message(OLD, None, migrate_to_chat_id=NEW)


def _migrate_from() -> Any:
    return events.message(NEW, None, migrate_from_chat_id=OLD)


@pytest.mark.parametrize("order", ["to_first", "from_first", "together"])
async def test_service_messages_in_any_order(
    bot_dp: tuple[Any, Dispatcher, list[Any]], db: asyncpg.Connection, order: str
) -> None:
    bot, dp, seen = bot_dp
    await _old_group(db)
    pair = (_migrate_to(), _migrate_from())
    first, second = pair if order == "to_first" else pair[::-1]
    if order == "together":
        await asyncio.gather(dp.feed_update(bot, first), dp.feed_update(bot, second))
    else:
        await dp.feed_update(bot, first)
        await dp.feed_update(bot, second)
    assert await _row(db, OLD) is None  # not re-registered by its own service message
    assert await _row(db, NEW) == OLD_ROW
    assert await _history(db, NEW) == (3, 1)
    expected = UserSettings(NEW, "uk", True, is_new=False)
    assert sorted(chat for chat, _ in seen) == sorted([OLD, NEW])
    assert all(settings == expected for _, settings in seen)


async def test_first_update_of_the_supergroup_is_not_new(
    bot_dp: tuple[Any, Dispatcher, list[Any]], db: asyncpg.Connection
) -> None:
    bot, dp, seen = bot_dp
    await _old_group(db)
    await dp.feed_update(bot, _migrate_from())
    await dp.feed_update(bot, events.message(NEW, "/mode"))
    assert [settings.is_new for _, settings in seen] == [False, False]
    assert [settings.lang for _, settings in seen] == ["uk", "uk"]
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_unknown_old_group_registers_the_new_one_normally(
    bot_dp: tuple[Any, Dispatcher, list[Any]], db: asyncpg.Connection
) -> None:
    bot, dp, seen = bot_dp
    await dp.feed_update(bot, _migrate_to())
    assert await _row(db, OLD) is None
    assert await _row(db, NEW) is not None
    assert seen[0][1].chat_id == NEW and seen[0][1].is_new


# --- downloads racing the migration ---------------------------------------------------------------

SLOW_KEY = 7_474_012  # the advisory lock a slowed migration waits for inside its statement


@asynccontextmanager
async def _slowed_migration(db_url: str, db: asyncpg.Connection, when: str) -> AsyncIterator[None]:
    """While inside: migrate_chat stops in the middle of its move statement, holding the old
    chat's row -- ``before`` its DELETE (row locked FOR UPDATE), or ``after`` it (row deleted,
    uncommitted) -- until the block ends."""
    await db.execute(
        "CREATE FUNCTION test_slow_migration() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM pg_advisory_xact_lock(" + str(SLOW_KEY) + "); RETURN OLD; END $$"
    )
    timing = "BEFORE" if when == "before" else "AFTER"
    await db.execute(
        "CREATE TRIGGER test_slow_migration " + timing + " DELETE ON users FOR EACH ROW"
        " EXECUTE FUNCTION test_slow_migration()"
    )
    holder = await asyncpg.connect(db_url.replace("asyncpg://", "postgresql://", 1))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", SLOW_KEY)
        yield
    finally:
        await holder.close()
        await db.execute("DROP TRIGGER IF EXISTS test_slow_migration ON users")
        await db.execute("DROP FUNCTION IF EXISTS test_slow_migration()")


async def _until_waiting(db: asyncpg.Connection, n: int, on: str = "rows") -> None:
    """Until ``n`` backends of this database wait for a row lock (``rows``), or for the slowed
    migration's advisory lock (``advisory``)."""
    condition = "wait_event = 'advisory'" if on == "advisory" else "wait_event <> 'advisory'"
    for _ in range(250):
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND " + condition
        )
        if waiting >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{n} statements never waited ({on})")


@pytest.mark.parametrize("when", ["before", "after"])
async def test_downloads_held_by_the_migration_land_under_the_new_id(
    db_url: str, db: asyncpg.Connection, when: str
) -> None:
    """A download for the old id that reaches the database while the migration holds the old
    row (locked: its foreign-key check waits; deleted: its registration waits) is written
    under the new id once the migration commits; nothing raises, the old id stays gone."""
    await _old_group(db)
    async with _slowed_migration(db_url, db, when):
        migration = asyncio.create_task(tt.migrate_chat(OLD, NEW))
        await _until_waiting(db, 1, on="advisory")  # inside its move statement
        downloads = asyncio.gather(
            tt.add_video(OLD, "https://t/held", False),
            tt.track_download(OLD, "https://t/held-ad", False, ad=True),
            tt.add_music(OLD, 456),
            return_exceptions=True,
        )
        await _until_waiting(db, 3)
    assert await asyncio.wait_for(migration, 10) is True
    outcome = await asyncio.wait_for(downloads, 10)
    assert list(outcome) == [None, True, None]  # the ad: the group's cooldown (77) long expired
    assert await _row(db, OLD) is None
    assert await _history(db, OLD) == (0, 0)
    assert await _history(db, NEW) == (5, 2)
    row = await _row(db, NEW)
    assert row is not None and (row["lang"], row["link"], row["registered_at"]) == (
        "uk",
        "partner",
        PAST,
    )


async def test_downloads_after_the_migration_resolve_to_the_new_id(
    db: asyncpg.Connection,
) -> None:
    """A late download for the old id (an update processed after the migration) does not
    re-create it with default settings: it goes to the new id."""
    await _old_group(db)
    assert await tt.migrate_chat(OLD, NEW)
    await tt.add_video(OLD, "https://t/late", False)
    assert await tt.track_download(OLD, "https://t/late-ad", False, ad=True) is True
    await tt.add_music(OLD, 789)
    assert await _row(db, OLD) is None
    assert await _history(db, NEW) == (5, 2)


ROUNDS = 15
CALLS = 200


async def test_many_downloads_racing_the_migration_are_all_kept(db: asyncpg.Connection) -> None:
    """Statistically: migrate_chat started in the middle of 200 concurrent add_video calls on
    the old and new ids, 15 rounds: none raises, none is lost, none stays under the old id."""
    raised = lost = left = recreated = 0
    for r in range(ROUNDS):
        old, new = OLD - 10 * (r + 1), NEW - 10 * (r + 1)
        await tt.register_user(old, "uk", "partner")
        await tt.add_video(old, "https://t/before", False)
        calls: list[Any] = [
            tt.add_video(old if n % 2 else new, f"https://t/{r}/{n}", False) for n in range(CALLS)
        ]
        calls.insert(CALLS // 2, tt.migrate_chat(old, new))
        outcome = await asyncio.gather(*calls, return_exceptions=True)
        raised += sum(isinstance(o, BaseException) for o in outcome)
        await tt.ops.flush_outbox()  # a call that waited too long for the pool was queued, not lost
        counts = dict(
            await db.fetch(
                "SELECT user_id, count(*) FROM videos WHERE video_link LIKE $1 GROUP BY user_id",
                f"https://t/{r}/%",
            )
        )
        left += counts.get(old, 0)
        lost += CALLS - sum(counts.values())
        recreated += await _row(db, old) is not None
    assert (raised, lost, left, recreated) == (0, 0, 0, 0)


async def test_registering_a_migrated_id_returns_the_new_chat(db: asyncpg.Connection) -> None:
    await _old_group(db)
    assert await tt.migrate_chat(OLD, NEW)
    user, inserted = await tt.register_user(OLD, "en", "late")
    assert (user.user_id, user.lang, user.link, inserted) == (NEW, "uk", "partner", False)
    assert await _row(db, OLD) is None


async def test_a_migration_of_a_migrated_chat_is_followed(db: asyncpg.Connection) -> None:
    """A -> B, then B -> C: writes for A and B go to C; C -> A (back) makes A live again."""
    a, b, c = -4_101, -4_102, -4_103
    await tt.register_user(a, "uk")
    assert await tt.migrate_chat(a, b)
    assert await tt.migrate_chat(b, c)
    await tt.add_video(a, "https://t/a", False)
    await tt.add_video(b, "https://t/b", False)
    assert await db.fetch("SELECT user_id FROM users") == [(c,)]
    assert await _history(db, c) == (2, 0)
    assert dict(await db.fetch("SELECT old_id, new_id FROM tt_storage_chat_migrations")) == {
        a: c,
        b: c,
    }
    assert await tt.migrate_chat(c, a)
    await tt.add_video(a, "https://t/a2", False)
    assert await db.fetch("SELECT user_id FROM users") == [(a,)]
    assert await _history(db, a) == (3, 0)


async def test_queued_downloads_of_a_migrated_group_go_to_the_new_id(
    db: asyncpg.Connection,
) -> None:
    """Downloads queued in the outbox under the old id (an outage) and replayed after the
    migration: written under the new id, its ad counter counted there; the old id stays gone."""
    await _old_group(db)
    events = [
        OutboxEvent("video", OLD, 1_700_000_000, True, "https://t/queued"),
        OutboxEvent("music", OLD, 1_700_000_001, False, video_id=9, maybe_written=True),
    ]
    async with outbox._lock:  # queued, not flushed before the migration
        assert all(outbox.add(event) for event in events)
        assert await tt.migrate_chat(OLD, NEW)
    await tt.ops.flush_outbox()
    assert [event.outcome for event in events] == ["written", "written"]
    assert await _row(db, OLD) is None
    assert await _history(db, NEW) == (4, 2)
    assert await db.fetchval("SELECT ad_count FROM users WHERE user_id = $1", NEW) == 3


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_replay_held_by_the_migration_lands_under_the_new_id(
    db_url: str, db: asyncpg.Connection, when: str
) -> None:
    """The outbox's replay resolved the old id, then waits for the migrating row: it is re-run
    once the migration commits, and writes under the new id."""
    await _old_group(db)
    event = OutboxEvent("video", OLD, 1_700_000_000, False, "https://t/replayed")
    async with _slowed_migration(db_url, db, when):
        migration = asyncio.create_task(tt.migrate_chat(OLD, NEW))
        await _until_waiting(db, 1, on="advisory")
        assert outbox.add(event)
        flushed = asyncio.create_task(tt.ops.flush_outbox())
        await _until_waiting(db, 1)
    assert await asyncio.wait_for(migration, 10) is True
    await asyncio.wait_for(flushed, 10)
    assert event.outcome == "written"
    assert await _row(db, OLD) is None
    assert await _history(db, NEW) == (4, 1)


async def test_a_late_update_of_the_old_group_gets_the_new_settings(
    bot_dp: tuple[Any, Dispatcher, list[Any]], db: asyncpg.Connection
) -> None:
    """An update from the old id handled after the migration (sent before it): the supergroup's
    settings, not new, and the old id is not registered again."""
    bot, dp, seen = bot_dp
    await _old_group(db)
    await dp.feed_update(bot, _migrate_from())
    await dp.feed_update(bot, events.message(OLD, "hi"))
    assert seen[-1] == (OLD, UserSettings(OLD, "uk", True, is_new=False))
    assert await _row(db, OLD) is None
    assert await db.fetchval("SELECT count(*) FROM users") == 1
