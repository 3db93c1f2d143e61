"""Group -> supergroup migration: migrate_chat, and the middleware running it on the service
messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher
from aiogram.types import Message

import tt_storage as tt
from tests.support import events
from tests.support.bot_session import RecordingSession
from tt_storage import UserSettings
from tt_storage.cache import SettingsCache

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
    """A late download for the old id re-creates it with defaults; migrating that (e.g. from a
    broadcast's TelegramMigrateToChat) moves its history but keeps the real settings."""
    await _old_group(db)
    assert await tt.migrate_chat(OLD, NEW)
    await tt.add_video(OLD, "https://t/late", False)  # registers OLD again, now
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
    session = RecordingSession()
    dp = Dispatcher()
    middleware = tt.setup_storage(dp, cache_size=0)
    seen: list[tuple[int, UserSettings]] = []

    @dp.message()
    async def on_message(message: Message, user_settings: UserSettings) -> None:
        seen.append((message.chat.id, user_settings))

    yield session.bot(), dp, seen
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
