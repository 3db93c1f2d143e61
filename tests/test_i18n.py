"""tt_storage.bot.i18n: translations follow the stored ``UserSettings.lang`` with aiogram's own
``aiogram.utils.i18n`` (gettext catalogs compiled by Babel) and with aiogram-i18n (Fluent files),
whatever the registration order, and ``set_locale`` stores the language and switches the update
it runs in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import ErrorEvent, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram_i18n import I18nContext
from aiogram_i18n import I18nMiddleware as FluentI18nMiddleware
from aiogram_i18n.cores import FluentRuntimeCore
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

import tt_storage as tt
from tests.support import telegram as support_telegram
from tt_storage.bot.i18n import (
    I18nOrderError,
    SettingsI18nMiddleware,
    SettingsManager,
    check_order,
)
from tt_storage.bot.i18n._locale import pick_locale
from tt_storage.testing import FakeTelegram
from tt_storage.testing import updates as events

HELLO = {"en": "Hello", "ru": "Привет", "uk": "Привіт"}
LOCALES = tuple(HELLO)


@pytest.fixture(scope="module")
def gettext_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real compiled catalogs: locales/<lang>/LC_MESSAGES/messages.mo."""
    root = tmp_path_factory.mktemp("gettext")
    for lang, text in HELLO.items():
        catalog = Catalog(locale=lang)
        catalog.add("hello", text)
        target = root / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.mo").open("wb") as out:
            write_mo(out, catalog)
    return root


@pytest.fixture(scope="module")
def fluent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fluent")
    for lang, text in HELLO.items():
        (root / lang).mkdir()
        (root / lang / "main.ftl").write_text(f"hello = {text}, {{ $name }}!\n", encoding="utf8")
    return root


def sent(telegram: FakeTelegram) -> list[str]:
    return [c.text for c in telegram.methods() if isinstance(c, SendMessage) and c.text is not None]


async def feed(dp: Dispatcher, telegram: FakeTelegram, update: Any) -> list[str]:
    before = len(sent(telegram))
    await dp.feed_update(telegram.bot(), update)
    return sent(telegram)[before:]


async def stored_lang(db: asyncpg.Connection, chat_id: int) -> str | None:
    value: str | None = await db.fetchval("SELECT lang FROM users WHERE user_id = $1", chat_id)
    return value


# --- aiogram.utils.i18n ---------------------------------------------------------------------


def gettext_dispatcher(db_url: str, gettext_dir: Path, order: str) -> Dispatcher:
    dp = Dispatcher()
    middleware = SettingsI18nMiddleware(I18n(path=gettext_dir, default_locale="en"))
    if order == "i18n_first":
        middleware.setup(dp)
        tt.setup_storage(dp, db_url, languages=LOCALES, cache_size=0)
    else:
        tt.setup_storage(dp, db_url, languages=LOCALES, cache_size=0)
        middleware.setup(dp)

    @dp.message(Command("uk"))
    async def switch(message: Message, user_settings: tt.UserSettings) -> None:
        before = _("hello")
        await middleware.set_locale(user_settings, "uk")
        await message.answer(f"{before} → {_('hello')}")

    @dp.message(Command("fail"))
    async def fail(message: Message) -> None:
        raise tt.StorageUnavailable("database unreachable")

    @dp.errors()
    async def on_error(event: ErrorEvent) -> None:
        assert event.update.message is not None
        await event.update.message.answer("error: " + _("hello"))

    @dp.message()
    async def hello(message: Message) -> None:
        await message.answer(_("hello"))

    return dp


@pytest.mark.parametrize("order", ["i18n_first", "storage_first"])
async def test_gettext_renders_the_stored_language_in_either_order(
    db: asyncpg.Connection, db_url: str, gettext_dir: Path, order: str
) -> None:
    dp, telegram = gettext_dispatcher(db_url, gettext_dir, order), support_telegram.server()
    await dp.emit_startup()  # its check passes; init_storage on the same URL is a no-op
    await tt.create_user(10, "uk")
    # The stored language wins over the sender's language_code.
    assert await feed(dp, telegram, events.message(10, "hi", lang="en")) == ["Привіт"]
    # A new chat: registered with its language_code's locale, rendered in it at once.
    assert await feed(dp, telegram, events.message(11, "hi", lang="ru")) == ["Привет"]
    assert await stored_lang(db, 11) == "ru"
    # A language the catalogs lack (stored by another bot, or not offered): the default.
    await tt.create_user(12, "vi")
    assert await feed(dp, telegram, events.message(12, "hi", lang="ru")) == ["Hello"]
    # A group speaks the group's stored language, whoever writes.
    await tt.create_user(-13, "ru")
    assert await feed(dp, telegram, events.message(-13, "hi", from_id=14, lang="uk")) == ["Привет"]
    # Error handlers render in the chat's language too.
    assert await feed(dp, telegram, events.message(10, "/fail")) == ["error: Привіт"]


async def test_gettext_set_locale_stores_and_switches_the_current_update(
    db: asyncpg.Connection, db_url: str, gettext_dir: Path
) -> None:
    dp, telegram = (
        gettext_dispatcher(db_url, gettext_dir, "storage_first"),
        support_telegram.server(),
    )
    assert await feed(dp, telegram, events.message(20, "/uk", lang="ru")) == ["Привет → Привіт"]
    assert await stored_lang(db, 20) == "uk"
    assert await feed(dp, telegram, events.message(20, "hi", lang="ru")) == ["Привіт"]


async def test_gettext_set_locale_of_an_unregistered_chat_switches_only_this_update(
    db: asyncpg.Connection, db_url: str, gettext_dir: Path
) -> None:
    dp = Dispatcher()
    middleware = SettingsI18nMiddleware(I18n(path=gettext_dir))
    tt.setup_storage(dp, db_url, languages=LOCALES, cache_size=0, register=False)
    middleware.setup(dp)
    stored: list[bool] = []

    @dp.message()
    async def switch(message: Message, user_settings: tt.UserSettings) -> None:
        stored.append(await middleware.set_locale(user_settings, "uk"))
        await message.answer(_("hello"))

    telegram = support_telegram.server()
    assert await feed(dp, telegram, events.message(25, "hi", lang="ru")) == ["Привіт"]
    assert stored == [False]
    assert await stored_lang(db, 25) is None


async def test_gettext_on_dp_update_before_storage_fails_loudly(
    db: asyncpg.Connection, db_url: str, gettext_dir: Path
) -> None:
    """The hand-written mistake of the issue: on dp.update, before setup_storage."""
    dp = Dispatcher()
    middleware = SettingsI18nMiddleware(I18n(path=gettext_dir))
    dp.update.outer_middleware.register(middleware)
    tt.setup_storage(dp, db_url, cache_size=0)
    dp.message.register(lambda message: message.answer(_("hello")))
    with pytest.raises(I18nOrderError, match="setup_storage"):
        check_order(dp, middleware)
    with pytest.raises(I18nOrderError, match="runs before tt-storage"):
        await dp.feed_update(support_telegram.bot(), events.message(30, "hi", lang="ru"))


async def test_gettext_without_setup_storage_fails_at_startup(gettext_dir: Path) -> None:
    dp = Dispatcher()
    SettingsI18nMiddleware(I18n(path=gettext_dir)).setup(dp)
    with pytest.raises(I18nOrderError, match=r"call setup_storage\(dp\)"):
        await dp.emit_startup(dispatcher=dp)


def test_no_chat_falls_back_to_the_senders_language() -> None:
    user = events.message(1, "x", lang="uk-ua").message
    assert user is not None and user.from_user is not None
    assert pick_locale(None, user.from_user, LOCALES, "en") == "uk"
    assert pick_locale(None, None, LOCALES, "en") == "en"
    assert pick_locale(tt.UserSettings(1, "ru"), user.from_user, LOCALES, "en") == "ru"


# --- aiogram-i18n ---------------------------------------------------------------------------


def fluent_dispatcher(db_url: str, fluent_dir: Path, order: str) -> Dispatcher:
    dp = Dispatcher()
    middleware = FluentI18nMiddleware(
        core=FluentRuntimeCore(path=fluent_dir / "{locale}"),
        manager=SettingsManager(),
        default_locale="en",
    )
    if order == "i18n_first":
        middleware.setup(dp)
        tt.setup_storage(dp, db_url, languages=LOCALES, cache_size=0)
    else:
        tt.setup_storage(dp, db_url, languages=LOCALES, cache_size=0)
        middleware.setup(dp)

    @dp.message(Command("uk"))
    async def switch(message: Message, i18n: I18nContext) -> None:
        before = i18n.get("hello", name="A")
        await i18n.set_locale("uk")
        settings = i18n.data["user_settings"]
        await message.answer(f"{before} → {i18n.get('hello', name='A')} ({settings.lang})")

    @dp.message()
    async def hello(message: Message, i18n: I18nContext) -> None:
        await message.answer(i18n.get("hello", name="A"))

    return dp


async def test_aiogram_i18n_renders_the_stored_language(
    db: asyncpg.Connection, db_url: str, fluent_dir: Path
) -> None:
    dp, telegram = fluent_dispatcher(db_url, fluent_dir, "storage_first"), support_telegram.server()
    await dp.emit_startup(dispatcher=dp)
    await tt.create_user(40, "uk")
    assert await feed(dp, telegram, events.message(40, "hi", lang="en")) == ["Привіт, A!"]
    assert await feed(dp, telegram, events.message(41, "hi", lang="ru")) == ["Привет, A!"]
    await tt.create_user(42, "vi")
    assert await feed(dp, telegram, events.message(42, "hi", lang="ru")) == ["Hello, A!"]


async def test_aiogram_i18n_set_locale_stores_and_switches_the_current_update(
    db: asyncpg.Connection, db_url: str, fluent_dir: Path
) -> None:
    dp, telegram = fluent_dispatcher(db_url, fluent_dir, "storage_first"), support_telegram.server()
    await dp.emit_startup(dispatcher=dp)
    assert await feed(dp, telegram, events.message(50, "/uk", lang="ru")) == [
        "Привет, A! → Привіт, A! (uk)"
    ]
    assert await stored_lang(db, 50) == "uk"
    assert await feed(dp, telegram, events.message(50, "hi", lang="ru")) == ["Привіт, A!"]


async def test_aiogram_i18n_registered_before_storage_fails_loudly(
    db: asyncpg.Connection, db_url: str, fluent_dir: Path
) -> None:
    dp = fluent_dispatcher(db_url, fluent_dir, "i18n_first")
    # Started: the dispatcher refuses to start.
    with pytest.raises(I18nOrderError, match=r"call setup_storage\(dp\) first"):
        await dp.emit_startup(dispatcher=dp)
    # Never started (feed_update only): the first update fails instead of speaking English.
    dp = fluent_dispatcher(db_url, fluent_dir, "i18n_first")
    with pytest.raises(I18nOrderError, match="runs before tt-storage"):
        await dp.feed_update(support_telegram.bot(), events.message(60, "hi", lang="ru"))
    assert await stored_lang(db, 60) is None  # stopped before anything ran


async def test_gettext_set_locale_refuses_a_locale_with_no_catalog(
    db: asyncpg.Connection, db_url: str, gettext_dir: Path
) -> None:
    dp = Dispatcher()
    middleware = SettingsI18nMiddleware(I18n(path=gettext_dir, default_locale="en"))
    tt.setup_storage(dp, db_url, languages=LOCALES, cache_size=0)
    middleware.setup(dp)

    @dp.message()
    async def switch(message: Message, user_settings: tt.UserSettings) -> None:
        try:
            await middleware.set_locale(user_settings, "xx")
        except ValueError as exc:
            await message.answer(f"refused: {exc}")

    telegram = support_telegram.server()
    [answer] = await feed(dp, telegram, events.message(26, "hi", lang="ru"))
    assert answer.startswith("refused: locale 'xx' is not one of this bot's locales (en, ru, uk)")
    assert await stored_lang(db, 26) == "ru"


async def test_aiogram_i18n_set_locale_refuses_a_locale_with_no_catalog(
    db: asyncpg.Connection, db_url: str, fluent_dir: Path
) -> None:
    for started in (True, False):  # the core's locales are known with or without a startup
        dp = fluent_dispatcher(db_url, fluent_dir, "storage_first")
        telegram = support_telegram.server()

        @dp.message(Command("xx"))
        async def switch(message: Message, i18n: I18nContext) -> None:
            try:
                await i18n.set_locale("xx")
            except ValueError as exc:
                await message.answer(f"refused: {exc}")

        dp.message.handlers.insert(0, dp.message.handlers.pop())  # before the catch-all
        if started:
            await dp.emit_startup(dispatcher=dp)
        chat = 51 if started else 52
        [answer] = await feed(dp, telegram, events.message(chat, "/xx", lang="ru"))
        assert answer.startswith("refused: locale 'xx' is not one of"), answer
        assert await stored_lang(db, chat) == "ru"
