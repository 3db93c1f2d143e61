"""Blocked and left chats: mark_blocked / mark_unblocked, the my_chat_member tracking wired by
setup_storage (next to the bot's own my_chat_member handlers), unblocking by a new message,
and the include_blocked flag of the id streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher, Router
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, Update

import tt_storage as tt
from tests.support import telegram as support_telegram
from tests.support.waiting import until
from tt_storage import StorageError, UserSettings
from tt_storage.testing import updates as events

USER = 800_001
GROUP = -800_002


async def _blocked_at(db: asyncpg.Connection, chat: int) -> int | None:
    value: int | None = await db.fetchval("SELECT blocked_at FROM users WHERE user_id = $1", chat)
    return value


# --- the services ------------------------------------------------------------------------------


async def test_mark_blocked_and_unblocked(db: asyncpg.Connection) -> None:
    assert await tt.mark_blocked(USER) is False  # unknown chat
    assert await tt.mark_unblocked(USER) is False
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    await tt.register_user(USER)
    before = int(time.time())
    assert await tt.mark_blocked(USER) is True
    first = await _blocked_at(db, USER)
    assert first is not None and before <= first <= int(time.time())
    await db.execute("UPDATE users SET blocked_at = 5 WHERE user_id = $1", USER)
    assert await tt.mark_blocked(USER) is True  # already blocked: the first time is kept
    assert await _blocked_at(db, USER) == 5
    assert await tt.mark_unblocked(USER) is True
    assert await _blocked_at(db, USER) is None
    assert await tt.mark_unblocked(USER) is True  # known chat, already reachable


async def test_user_ids_skip_blocked_chats_unless_asked(db: asyncpg.Connection) -> None:
    for chat in (1, 2, 3, 4, -5, -6):
        await tt.register_user(chat)
    await tt.mark_blocked(2)
    await tt.mark_blocked(-6)
    assert await tt.get_user_ids() == [1, 3, 4]
    assert await tt.get_user_ids(True, True) == [1, 2, 3, 4]
    assert await tt.get_user_ids(False) == [-5, 1, 3, 4]
    assert await tt.get_user_ids(only_positive=False, include_blocked=True) == [-6, -5, 1, 2, 3, 4]
    assert [c async for c in tt.admin.iter_user_ids(True, 1)] == [1, 3, 4]
    assert [c async for c in tt.admin.iter_user_ids(batch_size=2, include_blocked=True)] == [
        1,
        2,
        3,
        4,
    ]
    assert [c async for c in tt.admin.iter_user_ids(start_after=1, batch_size=1)] == [3, 4]
    assert [c async for c in tt.admin.iter_user_ids(False, start_after=-6)] == [-5, 1, 3, 4]
    with pytest.raises(ValueError):
        await tt.get_user_ids(True, "yes")  # type: ignore[arg-type]


# --- my_chat_member through a real dispatcher ---------------------------------------------------


class Bot:
    """A dispatcher wired by setup_storage plus the bot's own routers (startup not emitted:
    the storage is already initialised)."""

    def __init__(self, **options: Any) -> None:
        self.telegram = support_telegram.server()
        self.bot = self.telegram.bot()
        self.dp = Dispatcher()
        self.middleware = tt.setup_storage(self.dp, **options)
        self.seen: list[tuple[str, Any]] = []
        own = Router(name="own")

        @own.my_chat_member()
        async def on_member(event: ChatMemberUpdated, user_settings: UserSettings) -> None:
            self.seen.append(("member", (event.chat.id, event.new_chat_member.status)))

        @own.message()
        async def on_message(message: Message, user_settings: UserSettings) -> None:
            self.seen.append(("message", user_settings))

        @own.callback_query()
        async def on_callback(query: CallbackQuery, user_settings: UserSettings) -> None:
            self.seen.append(("callback", user_settings))

        self.dp.include_router(own)

    async def feed(self, update: Update) -> Any:
        return await self.dp.feed_update(self.bot, update)


@pytest.fixture
async def bot(db: asyncpg.Connection) -> AsyncIterator[Bot]:
    wired = Bot(cache_size=0)
    yield wired
    await wired.middleware.close()


async def test_allowed_updates_include_my_chat_member() -> None:
    dp = Dispatcher()
    tt.setup_storage(dp)
    assert dp.resolve_used_update_types() == ["my_chat_member"]
    plain = Dispatcher()
    tt.setup_storage(plain, track_blocks=False)
    assert plain.resolve_used_update_types() == []


@pytest.mark.parametrize(
    ("chat", "gone", "back"),
    [(USER, "kicked", "member"), (GROUP, "left", "member"), (GROUP, "kicked", "member")],
)
async def test_transitions_and_the_bots_own_handler(
    bot: Bot, db: asyncpg.Connection, chat: int, gone: str, back: str
) -> None:
    await tt.register_user(chat)
    await bot.feed(events.my_chat_member(chat, "member", gone))
    assert await _blocked_at(db, chat) is not None
    assert chat not in await tt.get_user_ids(only_positive=False)
    await bot.feed(events.my_chat_member(chat, gone, back))
    assert await _blocked_at(db, chat) is None
    assert chat in await tt.get_user_ids(only_positive=False)
    # The bot's own handler saw both updates: the plugin's handler consumed nothing.
    assert bot.seen == [("member", (chat, gone)), ("member", (chat, back))]


async def test_a_dispatcher_level_handler_does_not_hide_updates_from_tracking(
    db: asyncpg.Connection,
) -> None:
    dp = Dispatcher()
    middleware = tt.setup_storage(dp, cache_size=0)
    seen: list[str] = []

    @dp.my_chat_member()  # the root's own handlers are asked before any included router
    async def first(event: ChatMemberUpdated) -> None:
        seen.append(event.new_chat_member.status)

    try:
        await tt.register_user(USER)
        bot = support_telegram.bot()
        await dp.feed_update(bot, events.my_chat_member(USER, "member", "kicked"))
        assert seen == ["kicked"]
        assert await _blocked_at(db, USER) is not None
    finally:
        await middleware.close()


async def test_without_own_handlers_updates_are_just_unhandled(db: asyncpg.Connection) -> None:
    dp = Dispatcher()
    middleware = tt.setup_storage(dp, cache_size=0)
    try:
        await tt.register_user(USER)
        bot = support_telegram.bot()
        await dp.feed_update(bot, events.my_chat_member(USER, "member", "kicked"))
        assert await _blocked_at(db, USER) is not None
    finally:
        await middleware.close()


async def test_leaving_update_does_not_register_an_unknown_chat(
    bot: Bot, db: asyncpg.Connection
) -> None:
    await bot.feed(events.my_chat_member(USER, "member", "kicked"))
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    assert bot.seen and bot.seen[0][0] == "member"  # handlers still ran


async def test_database_error_still_runs_the_handlers(
    bot: Bot, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(chat_id: int) -> bool:
        raise StorageError("down")

    monkeypatch.setattr("tt_storage.bot.blocking.mark_blocked", broken)
    await tt.register_user(USER)
    await bot.feed(events.my_chat_member(USER, "member", "kicked"))
    assert bot.seen == [("member", (USER, "kicked"))]


# --- a message unblocks ---------------------------------------------------------------------


async def test_new_message_from_a_blocked_private_chat_unblocks_it(
    bot: Bot, db: asyncpg.Connection
) -> None:
    await tt.register_user(USER, "uk")
    await tt.mark_blocked(USER)
    await bot.feed(events.message(USER, "/start"))
    assert await _blocked_at(db, USER) is None
    assert bot.seen == [("message", UserSettings(USER, "uk"))]


async def test_other_updates_do_not_unblock(bot: Bot, db: asyncpg.Connection) -> None:
    await tt.register_user(USER)
    await tt.mark_blocked(USER)
    callback = Update.model_validate(
        {
            "update_id": 1,
            "callback_query": {
                "id": "1",
                "from": events.user(USER),
                "chat_instance": "x",
                "data": "d",
            },
        }
    )
    await bot.feed(callback)
    assert await _blocked_at(db, USER) is not None
    assert [kind for kind, _ in bot.seen] == ["callback"]


async def test_blocked_chats_are_not_cached_so_a_message_still_unblocks(
    db: asyncpg.Connection,
) -> None:
    wired = Bot()  # with the settings cache
    try:
        await tt.register_user(USER)
        await wired.feed(events.message(USER))
        await until(lambda: wired.middleware.cache.live)
        await wired.feed(events.message(USER))  # now cached
        assert wired.middleware.cache.get(USER) is not None

        await tt.mark_blocked(USER)  # e.g. by a broadcast in this process: drops the entry
        assert wired.middleware.cache.get(USER) is None
        await wired.feed(events.my_chat_member(USER, "member", "kicked"))
        assert wired.middleware.cache.get(USER) is None  # blocked: never cached
        await wired.feed(events.message(USER, "/start"))
        assert await _blocked_at(db, USER) is None
        # Reachable again: cached again, once the unblock's own NOTIFY has come and gone.
        for _ in range(100):
            await wired.feed(events.message(USER))
            if wired.middleware.cache.get(USER) is not None:
                break
            await asyncio.sleep(0.05)
        assert wired.middleware.cache.get(USER) is not None
    finally:
        await wired.middleware.close()
