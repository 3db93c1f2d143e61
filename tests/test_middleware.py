"""StorageMiddleware end to end: real updates through ``dp.feed_update`` on real PostgreSQL.

The library is bound by the session fixture, so dispatchers here are never started: the
middleware is registered on ``dp.update.outer_middleware`` and updates are fed directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher, Router
from aiogram.types import TelegramObject, Update
from tortoise import Tortoise

import tt_storage as tt
from tests.support import telegram as support_telegram
from tests.support.faults import unbound
from tt_storage import StorageMiddleware, UserSettings
from tt_storage.core import db as db_module
from tt_storage.core.errors import StorageUnavailable
from tt_storage.testing import updates as events

LANGS = ["ar", "en", "hi", "id", "ru", "so", "uk", "vi"]

#: Every update type aiogram routes, and the observer that receives it.
OBSERVERS = (
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
    "poll",
)


class Harness:
    """A dispatcher with only the middleware and a catch-all handler per update type."""

    def __init__(self, middleware: StorageMiddleware) -> None:
        self.middleware = middleware
        self.dp = Dispatcher()
        self.dp.update.outer_middleware.register(middleware)
        self.seen: list[UserSettings | None] = []
        router = Router()
        for name in OBSERVERS:
            router.observers[name].register(self._record)
        self.dp.include_router(router)
        self.telegram = support_telegram.server()
        self.bot = self.telegram.bot()

    async def _record(self, event: TelegramObject, user_settings: UserSettings | None) -> None:
        self.seen.append(user_settings)

    async def feed(self, update: Update) -> UserSettings | None:
        """Feed one update; the settings its handler got."""
        before = len(self.seen)
        await self.dp.feed_update(self.bot, update)
        assert len(self.seen) == before + 1, "the handler did not run"
        return self.seen[-1]

    async def live_cache(self, seconds: float = 5.0) -> None:
        """Wait until the LISTEN connection is up and the cache serves."""
        async with asyncio.timeout(seconds):
            while not self.middleware.cache.live:  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.01)


@asynccontextmanager
async def harness(**options: Any) -> AsyncIterator[Harness]:
    options.setdefault("languages", LANGS)
    made = Harness(StorageMiddleware(**options))
    try:
        yield made
    finally:
        await made.middleware.close()


async def row(db: asyncpg.Connection, chat_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM users WHERE user_id = $1", chat_id)


async def chat_ids(db: asyncpg.Connection) -> list[int]:
    return [r[0] for r in await db.fetch("SELECT user_id FROM users ORDER BY user_id")]


# --- which chat an update belongs to ------------------------------------------------------------

GROUP = -1_001_234_567_890
USER = 5_000_000_001

CASES: list[tuple[str, Callable[[], Update], int]] = [
    ("private message", lambda: events.message(USER, "hi"), USER),
    ("group message", lambda: events.message(GROUP, "hi", from_id=USER), GROUP),
    ("basic group message", lambda: events.message(-4242, "hi", from_id=USER), -4242),
    ("edited message", lambda: events.edited_message(GROUP, from_id=USER), GROUP),
    ("channel post", lambda: events.channel_post(-1_009_999_999_999), -1_009_999_999_999),
    ("callback in a group", lambda: events.callback(GROUP, "x", from_id=USER), GROUP),
    ("callback, inline-mode message", lambda: events.callback(None, "x", from_id=USER), USER),
    ("inline query", lambda: events.inline_query(USER, "q"), USER),
    ("chosen inline result", lambda: events.chosen_inline_result(USER, "q"), USER),
    ("bot added to a group", lambda: events.my_chat_member(GROUP, from_id=USER), GROUP),
]


@pytest.mark.parametrize(("update", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_every_update_type_gets_its_chat(
    db: asyncpg.Connection, update: Callable[[], Update], expected: int
) -> None:
    async with harness() as h:
        settings = await h.feed(update())
        assert settings is not None
        assert settings.chat_id == expected
        assert settings.is_new and settings.persisted
        assert await chat_ids(db) == [expected]
        again = await h.feed(update())
        assert again == UserSettings(expected, "en", False, is_new=False)


async def test_update_without_chat_or_user_runs_with_none(db: asyncpg.Connection) -> None:
    async with harness() as h:
        assert await h.feed(events.poll()) is None
    assert await chat_ids(db) == []


# --- registration -------------------------------------------------------------------------------


async def test_is_new_exactly_once_under_concurrent_first_updates(db: asyncpg.Connection) -> None:
    async with harness() as h:
        updates = [events.message(777, f"msg {i}", lang="ru") for i in range(100)]
        await asyncio.gather(*(h.dp.feed_update(h.bot, u) for u in updates))
        assert len(h.seen) == 100
        assert sum(1 for s in h.seen if s is not None and s.is_new) == 1
        assert all(s == UserSettings(777, "ru", False, s.is_new) for s in h.seen if s)
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_group_and_private_chat_of_one_user_are_two_rows(db: asyncpg.Connection) -> None:
    async with harness() as h:
        await h.feed(events.message(7, "hi", lang="ru"))
        # The group is registered with the language of whoever writes there first.
        group = await h.feed(events.message(-500, "hi", from_id=8, lang="uk"))
        later = await h.feed(events.message(-500, "hi", from_id=7, lang="ru"))
    assert group is not None and group.lang == "uk" and group.is_new
    assert later is not None and later.lang == "uk" and not later.is_new
    assert await chat_ids(db) == [-500, 7]  # user 8 wrote only in the group
    private, grp = await row(db, 7), await row(db, -500)
    assert private is not None and private["lang"] == "ru"
    assert grp is not None and grp["lang"] == "uk" and grp["link"] is None


# --- referrals ------------------------------------------------------------------------------------

PAYLOAD_64 = "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start ref_ABC", "ref_abc"),
        ("/start@tt_test_bot Promo-1", "promo-1"),
        ("/start  inline ", "inline"),
        (f"/start {PAYLOAD_64}", PAYLOAD_64),
        ("/start", None),
        ("/start hello world", None),
        (f"/start {PAYLOAD_64}b", None),
        ("/start 🎵", None),
        ("/start ref🎵", None),
        ("/start https://t.me/tt_test_bot", None),
        ("/startref", None),
        ("hello ref_abc", None),
        ("https://www.tiktok.com/@x/video/7000000000000000000 ref_abc", None),
    ],
)
async def test_referral_from_a_first_private_start(
    db: asyncpg.Connection, text: str, expected: str | None
) -> None:
    async with harness() as h:
        settings = await h.feed(events.message(42_000, text))
    assert settings is not None and settings.is_new
    stored = await row(db, 42_000)
    assert stored is not None and stored["link"] == expected


async def test_referral_only_from_the_first_update(db: asyncpg.Connection) -> None:
    async with harness() as h:
        await h.feed(events.message(1, "/start first"))
        await h.feed(events.message(1, "/start second"))  # never overwrites
        await h.feed(events.message(2, "hello"))
        await h.feed(events.message(2, "/start late"))  # not the first update
        await h.feed(events.callback(None, "x", from_id=3))
        await h.feed(events.message(3, "/start after_a_button"))
    links = dict(await db.fetch("SELECT user_id, link FROM users"))
    assert links == {1: "first", 2: None, 3: None}


@pytest.mark.parametrize("chat_id", [-600, -1_001_000_000_600])
async def test_no_referral_from_a_group_start(db: asyncpg.Connection, chat_id: int) -> None:
    async with harness() as h:
        await h.feed(events.message(chat_id, "/start ref_x", from_id=9))
        await h.feed(events.message(chat_id, "/start@tt_test_bot ref_y", from_id=9))
    stored = await row(db, chat_id)
    assert stored is not None and stored["link"] is None


# --- languages ------------------------------------------------------------------------------------

WITH_PT_ZH = ["en", "pt", "zh", "ru"]


@pytest.mark.parametrize(
    ("languages", "code", "expected"),
    [
        (WITH_PT_ZH, "pt-br", "pt"),
        (WITH_PT_ZH, "pt-BR", "pt"),
        (WITH_PT_ZH, "zh-hant-tw", "zh"),
        (WITH_PT_ZH, "ru", "ru"),
        (WITH_PT_ZH, "de", "en"),
        (WITH_PT_ZH, None, "en"),
        (WITH_PT_ZH, "", "en"),
        (LANGS, "pt-br", "en"),
        (LANGS, "uk", "uk"),
        (None, "pt-BR", "pt-br"),
        (None, "zh-hant-tw", "zh-hant-tw"),
        (None, None, "en"),
    ],
)
async def test_language_of_a_new_chat(
    db: asyncpg.Connection, languages: list[str] | None, code: str | None, expected: str
) -> None:
    async with harness(languages=languages) as h:
        settings = await h.feed(events.message(31, "hi", lang=code))
    assert settings is not None and settings.lang == expected
    stored = await row(db, 31)
    assert stored is not None and stored["lang"] == expected


async def test_default_lang_option(db: asyncpg.Connection) -> None:
    async with harness(languages=["ru", "uk"], default_lang="ru") as h:
        settings = await h.feed(events.message(32, "hi", lang="fr"))
    assert settings is not None and settings.lang == "ru"


async def test_a_known_chat_keeps_its_language(db: asyncpg.Connection) -> None:
    await tt.register_user(33, "vi")
    async with harness() as h:
        settings = await h.feed(events.message(33, "hi", lang="ru"))
    assert settings == UserSettings(33, "vi", False)


# --- settings changes ----------------------------------------------------------------------------


@pytest.mark.parametrize("cache_size", [0, 1000], ids=["no cache", "cache"])
async def test_settings_changes_show_on_the_next_update(
    db: asyncpg.Connection, cache_size: int
) -> None:
    async with harness(cache_size=cache_size) as h:
        first = await h.feed(events.message(40, "hi"))
        assert first == UserSettings(40, "en", False, is_new=True)
        if cache_size:
            await h.live_cache()
            await h.feed(events.message(40, "hi"))  # loaded into the cache…
            hits = h.middleware.cache.hits
            assert await h.feed(events.message(40, "hi")) == UserSettings(40, "en", False)
            assert h.middleware.cache.hits == hits + 1  # …and served from it
        assert await tt.update_user_lang(40, "uk")
        assert await h.feed(events.message(40, "hi")) == UserSettings(40, "uk", False)
        assert await tt.toggle_file_mode(40) is True
        assert await h.feed(events.message(40, "hi")) == UserSettings(40, "uk", True)
        await tt.update_user_mode(40, False)
        assert await h.feed(events.callback(40, "x")) == UserSettings(40, "uk", False)


async def test_settings_changed_by_plain_sql_reach_a_live_cache(db: asyncpg.Connection) -> None:
    async with harness() as h:
        await h.feed(events.message(41, "hi"))
        await h.live_cache()
        await h.feed(events.message(41, "hi"))
        await db.execute("UPDATE users SET lang = 'ar' WHERE user_id = 41")  # another process
        async with asyncio.timeout(5):
            # The NOTIFY arrives asynchronously: poll until the update sees it.
            while (await h.feed(events.message(41, "hi"))) != UserSettings(41, "ar"):  # noqa: ASYNC110
                await asyncio.sleep(0.01)


# --- registering or not ---------------------------------------------------------------------------


async def test_register_false(db: asyncpg.Connection) -> None:
    await tt.register_user(50, "ru")
    async with harness(register=False) as h:
        unknown = await h.feed(events.message(51, "/start ref_x", lang="uk"))
        known = await h.feed(events.message(50, "hi"))
    assert unknown == UserSettings(51, "uk", False, is_new=False, persisted=False)
    assert known == UserSettings(50, "ru", False)
    assert await chat_ids(db) == [50]


async def test_register_predicate(db: asyncpg.Connection) -> None:
    calls: list[tuple[TelegramObject, dict[str, Any]]] = []

    def only_start(update: TelegramObject, data: dict[str, Any]) -> bool:
        calls.append((update, data))
        assert isinstance(update, Update)
        return update.message is not None and (update.message.text or "").startswith("/start")

    async with harness(register=only_start) as h:
        chatter = await h.feed(events.message(60, "hi"))
        start = await h.feed(events.message(60, "/start ref_late"))
        after = await h.feed(events.message(60, "hi"))
    assert chatter is not None and not chatter.persisted and not chatter.is_new
    assert start is not None and start.persisted and start.is_new
    assert after == UserSettings(60, "en", False)
    assert len(calls) == 2  # asked only while the chat was unknown
    assert "event_from_user" in calls[0][1]
    stored = await row(db, 60)
    # Its first *registered* update was the /start: that is what the rule looks at.
    assert stored is not None and stored["link"] == "ref_late"


async def test_data_key_option(db: asyncpg.Connection) -> None:
    middleware = StorageMiddleware(data_key="chat_settings")
    dp = Dispatcher()
    dp.update.outer_middleware.register(middleware)
    got: list[Any] = []

    async def handler(message: TelegramObject, chat_settings: UserSettings) -> None:
        got.append(chat_settings)

    dp.message.register(handler)
    try:
        await dp.feed_update(support_telegram.bot(), events.message(70, "hi"))
    finally:
        await middleware.close()
    assert got == [UserSettings(70, "en", False, is_new=True)]


# --- without the library's lifecycle --------------------------------------------------------------


async def test_middleware_on_its_own_in_an_app_running_tortoise(
    db_url: str, db: asyncpg.Connection
) -> None:
    # An app that calls Tortoise.init itself (tt_storage's models in its config) and never
    # init_storage(): the library then runs on Tortoise's `default` connection.
    async with unbound():
        context = await Tortoise.init(
            config=tt.ops.tortoise_config(db_url), _enable_global_fallback=True
        )
        try:
            assert not tt.default_storage().initialized
            async with harness() as h:
                first = await h.feed(events.message(80, "/start app", lang="uk"))
                await h.live_cache()  # the LISTEN connection uses the same connection parameters
                assert await tt.toggle_file_mode(80) is True
                second = await h.feed(events.message(80, "hi"))
        finally:
            await context.close_connections()
    assert first == UserSettings(80, "uk", False, is_new=True)
    assert second == UserSettings(80, "uk", True)
    stored = await row(db, 80)
    assert stored is not None and stored["link"] == "app"


async def test_database_down_handler_still_runs(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    @asynccontextmanager
    async def unavailable(**kwargs: Any) -> AsyncIterator[Any]:
        raise StorageUnavailable("database unreachable: OSError")
        yield

    async with harness() as h:
        monkeypatch.setattr(db_module, "connection", unavailable)
        down = await h.feed(events.message(90, "hi", lang="ru"))
        monkeypatch.undo()
        up = await h.feed(events.message(90, "hi", lang="ru"))
    assert down == UserSettings(90, "ru", False, persisted=False)
    # Registered now, but this is not the chat's first update: that one came in the outage.
    assert up == UserSettings(90, "ru", False, is_new=False)


# --- round trips -------------------------------------------------------------------------------


async def test_round_trips_per_update(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New chat: 2 statements; known chat: 1; cache hit: 0 (the DESIGN's budget)."""
    statements = 0
    real = db_module.connection

    @asynccontextmanager
    async def counting(**kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
        nonlocal statements
        statements += 1
        async with real(**kwargs) as conn:
            yield conn

    monkeypatch.setattr(db_module, "connection", counting)

    async def cost(h: Harness, update: Update) -> int:
        nonlocal statements
        statements = 0
        await h.feed(update)
        return statements

    async with harness(cache_size=0) as h:
        assert await cost(h, events.message(100, "/start ref")) == 2
        assert await cost(h, events.message(100, "hi")) == 1
        assert await cost(h, events.message(-100, "hi", from_id=100)) == 2
        assert await cost(h, events.inline_query(100, "q")) == 1
    async with harness() as h:
        await h.feed(events.message(100, "hi"))
        await h.live_cache()
        assert await cost(h, events.message(100, "hi")) == 1  # loads into the cache
        assert await cost(h, events.message(100, "hi")) == 0
        assert await cost(h, events.callback(100, "x")) == 0
