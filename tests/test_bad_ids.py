"""Updates carrying a chat id no BIGINT holds (Telegram's use at most 52 bits), through a real
``Dispatcher`` wired by ``setup_storage``: the group -> supergroup service messages
(``migrate_to_chat_id`` / ``migrate_from_chat_id``) and ``my_chat_member`` updates.

Each must reach the handlers with fallback settings (``persisted=False``), store nothing, and
log exactly one warning; ``feed_update`` never raises.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from aiogram import Dispatcher, Router
from aiogram.types import ChatMemberUpdated, Message, Update

import tt_storage as tt
from tests.support import telegram as support_telegram
from tests.support.checks import table_counts
from tt_storage import UserSettings
from tt_storage.bot.blocking import setup_block_tracking
from tt_storage.testing import updates as events

GROUP = -4_242
SUPERGROUP = -1_001_234_567_890
USER = 5_000_000_001
HIGH = 2**63  # one past the largest BIGINT
LOW = -(2**63)  # the lowest BIGINT, kept out of the chat ids (validate.MIN_CHAT_ID)

CASES: list[tuple[str, Callable[[], Update], int]] = [
    # (name, update, the chat id its handler's settings carry)
    ("migrate_to above", lambda: events.message(GROUP, None, migrate_to_chat_id=HIGH), GROUP),
    ("migrate_to below", lambda: events.message(GROUP, None, migrate_to_chat_id=LOW), GROUP),
    ("migrate_to 2**64", lambda: events.message(GROUP, None, migrate_to_chat_id=-(2**64)), GROUP),
    (
        "migrate_from above",
        lambda: events.message(SUPERGROUP, None, migrate_from_chat_id=HIGH),
        SUPERGROUP,
    ),
    (
        "migrate_from below",
        lambda: events.message(SUPERGROUP, None, migrate_from_chat_id=LOW - 1),
        SUPERGROUP,
    ),
    (
        "migrate_to from a chat above",
        lambda: events.message(HIGH, None, migrate_to_chat_id=SUPERGROUP),
        HIGH,
    ),
    (
        "migrate_from into a chat below",
        lambda: events.message(LOW, None, migrate_from_chat_id=GROUP),
        LOW,
    ),
    ("kicked, chat above", lambda: events.my_chat_member(HIGH, "member", "kicked"), HIGH),
    ("left, chat below", lambda: events.my_chat_member(LOW, "member", "left"), LOW),
    ("back, chat above", lambda: events.my_chat_member(2**70, "kicked", "member"), 2**70),
    ("added, chat below", lambda: events.my_chat_member(-(2**64), "left", "member"), -(2**64)),
    ("message, chat above", lambda: events.message(HIGH, "hi"), HIGH),
]


class Wired:
    """``setup_storage`` on a dispatcher (not started: the storage is already initialised) and
    the bot's own message / my_chat_member handlers, recording the settings they got."""

    def __init__(self) -> None:
        self.dp = Dispatcher()
        self.middleware = tt.setup_storage(self.dp, cache_size=0)
        self.seen: list[UserSettings] = []
        own = Router(name="own")
        own.message.register(self._on_message)
        own.my_chat_member.register(self._on_member)
        self.dp.include_router(own)
        self.telegram = support_telegram.server()
        self.bot = self.telegram.bot()

    async def _on_message(self, message: Message, user_settings: UserSettings) -> None:
        self.seen.append(user_settings)

    async def _on_member(self, event: ChatMemberUpdated, user_settings: UserSettings) -> None:
        self.seen.append(user_settings)


@pytest.fixture
async def wired(db: asyncpg.Connection) -> AsyncIterator[Wired]:
    made = Wired()
    yield made
    await made.middleware.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tt_storage" and r.levelno >= logging.WARNING]


@pytest.mark.parametrize(("make", "chat"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_out_of_range_ids_reach_the_handlers_with_fallback_settings(
    wired: Wired,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[], Update],
    chat: int,
) -> None:
    for known in (GROUP, SUPERGROUP):  # real chats the update names: neither moved nor touched
        await tt.register_user(known, "uk")
    before = await table_counts(db)
    with caplog.at_level(logging.WARNING, logger="tt_storage"):
        await wired.dp.feed_update(wired.bot, make())  # never raises
    assert len(wired.seen) == 1, "the handler did not run"
    settings = wired.seen[0]
    assert settings.chat_id == chat and settings.persisted is False and not settings.is_new
    assert await table_counts(db) == before
    langs = await db.fetch("SELECT user_id, lang FROM users ORDER BY user_id")
    assert [tuple(r) for r in langs] == [(SUPERGROUP, "uk"), (GROUP, "uk")]
    warned = _warnings(caplog)
    assert len(warned) == 1, [r.getMessage() for r in warned]
    assert "BIGINT" in warned[0].getMessage()


async def test_in_range_ids_are_still_migrated_and_tracked(
    wired: Wired, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """The control: the same updates with real ids do their work, with no warning."""
    await tt.register_user(GROUP, "uk")
    await tt.register_user(USER, "en")
    with caplog.at_level(logging.WARNING, logger="tt_storage"):
        await wired.dp.feed_update(
            wired.bot, events.message(GROUP, None, migrate_to_chat_id=SUPERGROUP)
        )
        await wired.dp.feed_update(wired.bot, events.my_chat_member(USER, "member", "kicked"))
    assert [s.chat_id for s in wired.seen] == [SUPERGROUP, USER]
    assert wired.seen[0] == UserSettings(SUPERGROUP, "uk")
    assert await db.fetchval("SELECT count(*) FROM users WHERE user_id = $1", GROUP) == 0
    assert await db.fetchval("SELECT blocked_at FROM users WHERE user_id = $1", USER) is not None
    assert _warnings(caplog) == []


async def test_block_tracking_on_its_own_warns_once(
    db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """``setup_block_tracking`` without the settings middleware: the tracker itself warns."""
    dp = Dispatcher()
    setup_block_tracking(dp)
    seen: list[int] = []

    @dp.my_chat_member()
    async def own(event: ChatMemberUpdated) -> None:
        seen.append(event.chat.id)

    bot = support_telegram.bot()
    with caplog.at_level(logging.WARNING, logger="tt_storage"):
        await dp.feed_update(bot, events.my_chat_member(HIGH, "member", "kicked"))
    assert seen == [HIGH]
    assert len(_warnings(caplog)) == 1
