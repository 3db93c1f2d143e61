"""A real Dispatcher with FSM on PostgresStorage: a form flow through ``dp.feed_update``, the
one-line setups, and what an update costs in statements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.types import Message, Update

from tests.support import telegram as support_telegram
from tests.support.checks import middleware_settings
from tests.support.database import database_name
from tests.support.faults import FreezableProxy, rebound
from tt_storage import (
    PostgresStorage,
    StorageMiddleware,
    StorageUnavailable,
    UserSettings,
    setup_storage,
)
from tt_storage.bot.isolation import AdvisoryLockIsolation
from tt_storage.core import db as db_module
from tt_storage.testing import BOT_ID, FakeTelegram
from tt_storage.testing import updates as events


class Form(StatesGroup):
    name = State()
    age = State()


def form_router() -> Router:
    router = Router()

    @router.message(Command("form"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Form.name)
        await message.answer("Your name?")

    @router.message(Form.name, F.text)
    async def got_name(message: Message, state: FSMContext, user_settings: UserSettings) -> None:
        await state.update_data(name=message.text, lang=user_settings.lang)
        await state.set_state(Form.age)
        await message.answer("Your age?")

    @router.message(Form.age, F.text.isdigit())
    async def got_age(message: Message, state: FSMContext) -> None:
        data = await state.update_data(age=int(message.text or 0))
        await state.clear()
        await message.answer(f"{data['name']} ({data['lang']}), {data['age']}")

    @router.message(Form.age)
    async def bad_age(message: Message) -> None:
        await message.answer("A number, please")

    @router.message(StateFilter(None))
    async def idle(message: Message, raw_state: str | None) -> None:
        await message.answer(f"idle {raw_state}")

    return router


@asynccontextmanager
async def bot_with_fsm(**options: Any) -> AsyncIterator[tuple[Dispatcher, FakeTelegram]]:
    """``setup_storage(dp, fsm=True)`` on the session's database (already initialised, so the
    startup hook is not run), the settings cache off: every update reads the chat."""
    dp = Dispatcher()
    options.setdefault("cache_size", 0)
    middleware = setup_storage(dp, fsm=True, **options)
    dp.include_router(form_router())
    telegram = support_telegram.server()
    telegram.clear()  # what this dispatcher sends, not a previous one's
    try:
        yield dp, telegram
    finally:
        await dp.fsm.close()
        await middleware.close()


@pytest.fixture
async def fsm_db(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute("TRUNCATE tt_storage_fsm")
    return db


async def test_form_flow_through_the_dispatcher(fsm_db: asyncpg.Connection) -> None:
    async with bot_with_fsm(languages=["en", "ru"]) as (dp, telegram):
        bot = telegram.bot()
        assert isinstance(dp.storage, PostgresStorage)
        for text in ("hello", "/form", "Ann", "old", "33", "after"):
            await dp.feed_update(bot, events.message(501, text, lang="ru"))
        assert telegram.texts(501) == [
            "idle None",
            "Your name?",
            "Your age?",
            "A number, please",
            "Ann (ru), 33",
            "idle None",
        ]
    # The form was cleared: no row left behind.
    assert await fsm_db.fetchval("SELECT count(*) FROM tt_storage_fsm") == 0


async def test_state_survives_a_new_dispatcher(fsm_db: asyncpg.Connection) -> None:
    """A bot restart mid-form: the new process continues where the old one stopped."""
    async with bot_with_fsm() as (dp, telegram):
        bot = telegram.bot()
        await dp.feed_update(bot, events.message(502, "/form"))
        await dp.feed_update(bot, events.message(502, "Bob"))
    async with bot_with_fsm() as (dp, telegram):
        await dp.feed_update(telegram.bot(), events.message(502, "41"))
        assert telegram.texts(502) == ["Bob (en), 41"]


async def test_users_in_a_group_have_their_own_state(fsm_db: asyncpg.Connection) -> None:
    async with bot_with_fsm() as (dp, telegram):
        bot = telegram.bot()
        await dp.feed_update(bot, events.message(-503, "/form", from_id=1))
        await dp.feed_update(bot, events.message(-503, "hi", from_id=2))
        await dp.feed_update(bot, events.message(-503, "Cy", from_id=1))
        assert telegram.texts(-503) == ["Your name?", "idle None", "Your age?"]
    storage = PostgresStorage()
    key = StorageKey(bot_id=BOT_ID, chat_id=-503, user_id=1)
    assert await storage.get_state(key) == "Form:age"


async def test_setup_storage_installs_isolation(fsm_db: asyncpg.Connection) -> None:
    dp = Dispatcher()
    setup_storage(dp, fsm=True, fsm_isolation=True)
    try:
        assert isinstance(dp.fsm.storage, PostgresStorage)
        assert isinstance(dp.fsm.events_isolation, AdvisoryLockIsolation)
        dp.include_router(form_router())
        telegram = support_telegram.server()
        await dp.feed_update(telegram.bot(), events.message(504, "/form"))
        assert telegram.texts(504) == ["Your name?"]
    finally:
        await dp.fsm.close()
        await dp["tt_storage"].close()


def test_setup_storage_keeps_a_storage_given_to_the_dispatcher() -> None:
    class Other(MemoryStorage):
        pass

    with pytest.raises(ValueError, match="already has an FSM storage"):
        setup_storage(Dispatcher(storage=Other()), fsm=True)
    with pytest.raises(ValueError, match="already has events isolation"):
        setup_storage(Dispatcher(events_isolation=SimpleEventIsolation()), fsm_isolation=True)
    dp = Dispatcher()
    setup_storage(dp)  # no fsm=: aiogram's default stays
    assert type(dp.storage) is MemoryStorage


# --- round trips -------------------------------------------------------------------------------


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts statements sent through tt-storage's pool (one pooled connection each)."""
    count = [0]
    real = db_module.connection

    @asynccontextmanager
    async def counting(**kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
        count[0] += 1
        async with real(**kwargs) as conn:
            yield conn

    monkeypatch.setattr(db_module, "connection", counting)
    return count


async def test_the_state_read_carries_the_settings(
    fsm_db: asyncpg.Connection, statements: list[int]
) -> None:
    """Known chat, cache off: aiogram's state read and the settings load are one statement."""

    async def cost(dp: Dispatcher, bot: Any, update: Update) -> int:
        statements[0] = 0
        await dp.feed_update(bot, update)
        return statements[0]

    async with bot_with_fsm() as (dp, telegram):
        bot = telegram.bot()
        assert await cost(dp, bot, events.message(505, "hello")) == 2  # + registration
        assert await cost(dp, bot, events.message(505, "hello")) == 1
        assert await cost(dp, bot, events.callback(505, "x")) == 1
        assert await cost(dp, bot, events.inline_query(505, "q")) == 1
        # The group's row is its own (chat -506), read along with user 505's state in it.
        assert await cost(dp, bot, events.message(-506, "hi", from_id=505)) == 2
        assert await cost(dp, bot, events.message(-506, "hi", from_id=505)) == 1
        # The handler's own FSM statements come on top: set_state here.
        assert await cost(dp, bot, events.message(505, "/form")) == 2
    assert telegram.texts(505)[-1] == "Your name?"

    # Without the piggyback, the same known-chat update costs two.
    async with bot_with_fsm() as (dp, telegram):
        dp.fsm.storage = PostgresStorage(prefetch_settings=False)
        assert await cost(dp, telegram.bot(), events.message(-506, "hi", from_id=505)) == 2


async def test_prefetched_settings_are_this_updates(
    fsm_db: asyncpg.Connection, statements: list[int]
) -> None:
    """A change between two updates is seen by the next one (nothing is kept across updates),
    and a middleware without aiogram's FSM context in ``data`` never takes a prefetched row."""
    async with bot_with_fsm() as (dp, telegram):
        bot = telegram.bot()
        seen: list[UserSettings] = []

        @dp.message(F.text == "lang")  # the dispatcher's own handlers come before the form's
        async def record(message: Message, user_settings: UserSettings) -> None:
            seen.append(user_settings)

        await dp.feed_update(bot, events.message(507, "lang"))
        await fsm_db.execute("UPDATE users SET lang = 'ru', file_mode = true WHERE user_id = 507")
        await dp.feed_update(bot, events.message(507, "lang"))
        assert [(s.lang, s.file_mode) for s in seen] == [("en", False), ("ru", True)]

        # The state read of this task left a row for chat 507; a bare middleware call (no FSM
        # context in data) must still read the database.
        await PostgresStorage().get_state(StorageKey(bot_id=BOT_ID, chat_id=507, user_id=507))
        await fsm_db.execute("UPDATE users SET lang = 'uk' WHERE user_id = 507")
        statements[0] = 0
        mw = dp["tt_storage"]
        assert isinstance(mw, StorageMiddleware)
        assert (await middleware_settings(mw, 507)).lang == "uk"
        assert statements[0] == 1


async def test_a_migrated_group_gets_its_settings_not_the_prefetched_row(
    fsm_db: asyncpg.Connection,
) -> None:
    """The supergroup's ``migrate_from_chat_id`` message: aiogram reads the state (and the new
    id's row, from before the move) first; the middleware then moves the chat and must hand
    the handler the moved settings, not the row read before."""
    old, new = -509, -1000000000509
    await fsm_db.execute(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown)"
        " VALUES ($1, 1, 'ru', NULL, true, 0, 0), ($2, 2, 'en', NULL, false, 0, 0)",
        old,
        new,
    )
    async with bot_with_fsm() as (dp, telegram):
        seen: list[UserSettings] = []

        @dp.message(F.migrate_from_chat_id)
        async def migrated(message: Message, user_settings: UserSettings) -> None:
            seen.append(user_settings)

        await dp.feed_update(
            telegram.bot(), events.message(new, None, from_id=1, migrate_from_chat_id=old)
        )
    assert [(s.chat_id, s.lang, s.file_mode) for s in seen] == [(new, "ru", True)]


async def test_during_an_outage_updates_run_with_no_state(
    db_url: str, fsm_db: asyncpg.Connection
) -> None:
    """The database black-holed: aiogram's state read answers "no state" (stateless handlers
    still run, as tt-storage promises for every update), FSM writes raise; afterwards the
    stored state is back."""
    key = StorageKey(bot_id=BOT_ID, chat_id=510, user_id=510)
    fast = {"connect_timeout": 1.0, "acquire_timeout": 1.0, "command_timeout": 0.5}
    async with (
        FreezableProxy(db_url) as proxy,
        rebound(proxy.url(database_name(db_url)), max_size=2, **fast),
    ):
        async with bot_with_fsm() as (dp, telegram):
            bot = telegram.bot()
            await dp.feed_update(bot, events.message(510, "/form"))
            proxy.freeze()
            await dp.feed_update(bot, events.message(510, "hello"))
            with pytest.raises(StorageUnavailable):
                await dp.storage.set_state(key, "lost")
            strict = PostgresStorage(fail_open=False)
            with pytest.raises(StorageUnavailable):
                await strict.get_state(key)
            proxy.thaw()
            await dp.feed_update(bot, events.message(510, "Dee"))
        assert telegram.texts(510) == ["Your name?", "idle None", "Your age?"]
