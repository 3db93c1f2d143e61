"""forget_chat: every row tt-storage keeps for a chat goes, in one transaction, and nothing of
it comes back half when updates of the chat race it."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest
from aiogram.fsm.storage.base import StorageKey

import tt_storage as tt
from tests.test_middleware import harness
from tt_storage.admin import get_time_series, refresh_rollup
from tt_storage.bot.fsm import PostgresStorage
from tt_storage.core.errors import StorageError
from tt_storage.services import activity, analytics
from tt_storage.services.privacy import forget_chat
from tt_storage.testing import updates as events

CHAT = 5_000_000_123
GROUP = -1_001_000_000_777
OLD_GROUP = -777


async def counts(db: asyncpg.Connection, chat: int) -> dict[str, int]:
    """Rows that name ``chat`` anywhere tt-storage keeps data."""
    text = str(chat)
    return {
        "users": await db.fetchval("SELECT count(*) FROM users WHERE user_id = $1", chat),
        "videos": await db.fetchval("SELECT count(*) FROM videos WHERE user_id = $1", chat),
        "music": await db.fetchval("SELECT count(*) FROM music WHERE user_id = $1", chat),
        "activity": await db.fetchval(
            "SELECT count(*) FROM tt_storage_activity WHERE chat_id = $1", chat
        ),
        "fsm": await db.fetchval(
            "SELECT count(*) FROM tt_storage_fsm"
            " WHERE split_part(key, ':', 2) = $1 OR split_part(key, ':', 3) = $1",
            text,
        ),
        "migrations": await db.fetchval(
            "SELECT count(*) FROM tt_storage_chat_migrations WHERE old_id = $1 OR new_id = $1",
            chat,
        ),
    }


async def fill(chat: int, fsm: PostgresStorage, user: int | None = None) -> None:
    await tt.register_user(chat, "uk", "ref")
    await tt.add_video(chat, "https://t/1", False, False)
    await tt.add_video(chat, "https://t/2", True, False)
    await tt.add_music(chat, 42)
    await activity.record_activity(chat)
    key = StorageKey(bot_id=42, chat_id=chat, user_id=user if user is not None else chat)
    await fsm.set_state(key, "S:one")
    await fsm.set_data(key, {"a": 1})


@pytest.fixture
async def fsm(db: asyncpg.Connection) -> PostgresStorage:
    await db.execute("TRUNCATE tt_storage_fsm")
    return PostgresStorage()


async def test_forget_removes_every_row_of_the_chat_and_nothing_else(
    db: asyncpg.Connection, fsm: PostgresStorage
) -> None:
    await fill(CHAT, fsm)
    await fill(CHAT + 1, fsm)  # a neighbour: untouched
    await fill(OLD_GROUP, fsm, user=CHAT)  # CHAT's own state in a group goes too
    assert await tt.migrate_chat(OLD_GROUP, GROUP)
    await activity.record_activity(GROUP)
    await db.execute(
        "INSERT INTO tt_storage_activity (day, chat_id) VALUES (0, $1)", OLD_GROUP
    )  # the group's history under its old id
    result = await forget_chat(GROUP)
    assert (result.users, result.videos, result.music, result.migrations) == (1, 2, 1, 1)
    # Activity under both ids (today's of both, the old id's day 0); the FSM row of the old id
    assert (result.activity, result.fsm) == (3, 1)
    assert await counts(db, GROUP) == dict.fromkeys(result.__slots__, 0)
    assert (
        await db.fetchval("SELECT count(*) FROM tt_storage_activity WHERE chat_id = $1", OLD_GROUP)
        == 0
    )

    result = await forget_chat(CHAT)
    assert (result.users, result.videos, result.music, result.activity) == (1, 2, 1, 1)
    assert result.fsm == 1  # its private chat's (its row in the old group went with the group)
    assert result.total == 6
    assert set((await counts(db, CHAT)).values()) == {0}
    neighbour = await counts(db, CHAT + 1)
    assert neighbour == {
        "users": 1,
        "videos": 2,
        "music": 1,
        "activity": 1,
        "fsm": 1,
        "migrations": 0,
    }
    again = await forget_chat(CHAT)
    assert again.total == 0
    assert (await tt.register_user(CHAT))[1]  # new again


async def test_forget_keeps_the_rollup_right_without_a_refold(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    for chat in (1, 2):
        for n in range(3):
            await tt.add_video(chat, f"https://t/{chat}/{n}", False, False)
    monkeypatch.setattr(analytics, "ROLLUP_SETTLE", 0)
    folded = None
    async with asyncio.timeout(30):  # a batch folds once the transactions running then ended
        while folded != 6:
            await refresh_rollup()
            folded = await db.fetchval(
                "SELECT folded_pk FROM tt_storage_hourly_state WHERE kind = 'videos'"
            )
            await asyncio.sleep(0.05)
    await tt.add_video(1, "https://t/late", False, False)  # not folded yet
    await forget_chat(1)
    # The rollup was adjusted, not reset: its state is still there.
    assert (
        await db.fetchval("SELECT folded_pk FROM tt_storage_hourly_state WHERE kind = 'videos'")
        == 6
    )
    assert await db.fetchval("SELECT sum(n) FROM tt_storage_hourly WHERE kind = 'videos'") == 3
    assert sum(n for _, n in await get_time_series("videos", 86_400, "hour")) == 3
    await db.execute("DELETE FROM videos WHERE user_id = 2")  # a plain DELETE still resets
    assert (
        await db.fetchval("SELECT count(*) FROM tt_storage_hourly_state WHERE kind = 'videos'") == 0
    )


async def test_forget_drops_the_cached_settings_and_the_chat_is_new_again(
    db: asyncpg.Connection,
) -> None:
    await tt.register_user(CHAT, "uk")  # a registration notifies nobody: nothing in flight
    async with harness() as h:
        await h.feed(events.message(CHAT, "hi"))  # starts the listener
        await h.live_cache()
        await h.feed(events.message(CHAT, "hi"))  # cached: uk
        assert h.middleware.cache.get(CHAT) == ("uk", False)
        await forget_chat(CHAT)
        assert h.middleware.cache.get(CHAT) is None
        again = await h.feed(events.message(CHAT, "hi"))
    assert again is not None and again.is_new and again.lang == "en"
    assert (await counts(db, CHAT))["activity"] == 1  # active again today, as a new chat


async def test_forget_across_processes_drops_the_other_cache(
    db: asyncpg.Connection, db_url: str
) -> None:
    """Another process's cache learns of it from the delete trigger's NOTIFY."""
    async with harness() as h:
        await h.feed(events.message(CHAT, "hi"))
        await h.live_cache()
        await h.feed(events.message(CHAT, "hi"))
        assert h.middleware.cache.get(CHAT) is not None
        other = await tt.Storage().init(db_url, max_size=2)
        try:
            await other.forget_chat(CHAT)
        finally:
            await other.close()
        async with asyncio.timeout(5):
            while h.middleware.cache.peek(CHAT) is not None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)


@pytest.mark.parametrize("on_delete", ["CASCADE", "RESTRICT", "NO ACTION"])
async def test_the_hosts_own_foreign_keys(db: asyncpg.Connection, on_delete: str) -> None:
    await db.execute(
        "CREATE TABLE host_notes (user_id BIGINT NOT NULL REFERENCES users (user_id)"
        f" ON DELETE {on_delete}, text TEXT)"
    )
    try:
        await tt.register_user(CHAT)
        await tt.add_video(CHAT, "https://t/1", False, False)
        await db.execute("INSERT INTO host_notes VALUES ($1, 'note')", CHAT)
        if on_delete == "CASCADE":
            await forget_chat(CHAT)
            assert await db.fetchval("SELECT count(*) FROM host_notes") == 0
        else:
            with pytest.raises(StorageError):
                await forget_chat(CHAT)
            # Nothing removed: one transaction.
            assert (await counts(db, CHAT))["videos"] == 1
            assert await tt.get_user(CHAT) is not None
    finally:
        await db.execute("DROP TABLE host_notes")


async def test_updates_racing_forget_never_leave_a_half_chat(db: asyncpg.Connection) -> None:
    """Rounds of updates (middleware + downloads) racing forget_chat: afterwards the chat is
    either gone entirely, or registered afresh (default language, no download from before)."""
    rng = random.Random(20)
    async with harness() as h:
        for round_ in range(25):
            chat = CHAT + round_
            await tt.register_user(chat, "uk")
            await tt.add_video(chat, "https://t/before", False, False)

            async def update(n: int, chat: int = chat) -> None:
                await asyncio.sleep(rng.random() * 0.01)
                await h.dp.feed_update(h.bot, events.message(chat, "hi"))
                await tt.track_download(chat, f"https://t/race/{n}", False, False)

            async def forget(chat: int = chat) -> None:
                await asyncio.sleep(rng.random() * 0.01)
                await forget_chat(chat)

            await asyncio.gather(forget(), *(update(n) for n in range(6)))
            row = await tt.get_user(chat)
            links = {
                r[0]
                for r in await db.fetch("SELECT video_link FROM videos WHERE user_id = $1", chat)
            }
            assert "https://t/before" not in links
            days = (await counts(db, chat))["activity"]
            if row is None:
                assert links == set() and days == 0
            else:
                assert row.lang == "en"  # registered afresh, not the old row's "uk"
                assert links and all(link.startswith("https://t/race/") for link in links)
            # no orphan activity: a row there means the chat is registered
            assert days == 0 or row is not None
