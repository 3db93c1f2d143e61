"""examples/bot.py's handlers, end to end: its real Dispatcher, a real Bot on the fake Bot API
server and the test database (the storage is already initialised, so the dispatcher is never
started)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerInlineQuery,
    EditMessageText,
    SendAudio,
    SendMediaGroup,
    SendVideo,
)
from aiogram.types import (
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from babel.messages.pofile import read_po

import tt_storage as tt
from tests.support.examples import EXAMPLES, load_example
from tt_storage.testing import FakeTelegram
from tt_storage.testing import updates as events

ADMIN = 999


example = load_example("bot.py", "tt_storage_example_bot")

VIDEO = "https://www.tiktok.com/@creator/video/7350000000000000001"
PHOTO = "https://www.tiktok.com/@creator/photo/7350000000000000002"
REEL = "https://www.instagram.com/reel/C1a2b3c4d5e/"


class BotUnderTest:
    def __init__(self, dp: Dispatcher, telegram: FakeTelegram) -> None:
        self.dp, self.telegram, self.bot = dp, telegram, telegram.bot()

    async def feed(self, update: Update) -> list[Any]:
        """Feed an update; the Bot API calls it caused."""
        before = len(self.telegram)
        await self.dp.feed_update(self.bot, self.telegram.remember(update))
        return self.telegram.methods(since=before)

    async def texts(self, update: Update) -> list[str | None]:
        """The texts and captions of the messages an update caused (an album: its first item's,
        and nothing for the albums after it)."""
        calls = await self.feed(update)
        texts = [
            c.media[0].caption
            if isinstance(c, SendMediaGroup)
            else getattr(c, "text", None) or getattr(c, "caption", None)
            for c in calls
            if c.__api_method__.startswith("send")
        ]
        return [text for text in texts if text is not None]


@pytest.fixture
async def bot(db: asyncpg.Connection, telegram: FakeTelegram) -> AsyncIterator[BotUnderTest]:
    dp = example.create_dispatcher(admin_ids={ADMIN}, storage_chat_id=None)
    try:
        yield BotUnderTest(dp, telegram)
    finally:
        await dp["tt_storage"].close()


def t(lang: str, key: str, **values: Any) -> str:
    return str(example.t(lang, key, **values))


async def user_row(db: asyncpg.Connection, chat_id: int) -> asyncpg.Record:
    found = await db.fetchrow("SELECT * FROM users WHERE user_id = $1", chat_id)
    assert found is not None
    return found


async def test_start_welcomes_new_and_returning_users(
    bot: BotUnderTest, db: asyncpg.Connection
) -> None:
    assert await bot.texts(events.message(10, "/start ref_Promo", lang="ru")) == [
        t("ru", "welcome_new")
    ]
    assert await bot.texts(events.message(10, "/start other", lang="ru")) == [
        t("ru", "welcome_back")
    ]
    stored = await user_row(db, 10)
    assert (stored["lang"], stored["link"]) == ("ru", "ref_promo")
    # Unsupported language: English; the locale dict falls back to English for missing keys.
    assert await bot.texts(events.message(11, "/start", lang="pt-br")) == [t("en", "welcome_new")]
    assert await bot.texts(events.message(12, "/start", lang="so")) == [t("so", "welcome_new")]
    assert t("so", "video", link="x") == t("en", "video", link="x")


async def test_link_in_private_shows_ads_on_first_and_fourth_download(
    bot: BotUnderTest, db: asyncpg.Connection
) -> None:
    replies = [await bot.texts(events.message(20, link)) for link in (VIDEO, PHOTO, REEL, VIDEO)]
    ad = t("en", "ad")
    assert replies == [
        [t("en", "video", link=VIDEO), ad],
        [t("en", "slideshow", link=PHOTO)],
        [t("en", "video", link=REEL)],
        [t("en", "video", link=VIDEO), ad],
    ]
    rows = await db.fetch(
        "SELECT video_link, is_images, is_processed, is_inline FROM videos"
        " WHERE user_id = 20 ORDER BY pk_id"
    )
    assert [tuple(r) for r in rows] == [
        (VIDEO, False, False, False),
        (PHOTO, True, True, False),  # slideshow images are converted outside file mode
        (REEL, False, False, False),
        (VIDEO, False, False, False),
    ]
    assert (await user_row(db, 20))["ad_count"] == 1  # just shown: the counter restarted


async def test_link_reply_has_a_music_button_for_tiktok_only(bot: BotUnderTest) -> None:
    calls = await bot.feed(events.message(21, VIDEO))
    markup = calls[0].reply_markup
    [[button]] = markup.inline_keyboard
    assert button.text == t("en", "music_button")
    assert button.callback_data == "music:7350000000000000001"
    calls = await bot.feed(events.message(21, REEL))
    assert calls[0].reply_markup is None
    assert calls[0].reply_parameters is not None  # a reply to the link's message


async def test_a_repeated_link_is_sent_by_file_id_and_recorded_as_a_hit(
    bot: BotUnderTest, db: asyncpg.Connection
) -> None:
    downloader = bot.dp["downloader"]
    first = await bot.feed(events.message(22, VIDEO))
    again = await bot.feed(events.message(23, f"look {VIDEO}"))
    assert downloader.calls == 1  # the second chat's video came from the cache
    assert isinstance(first[0], SendVideo) and len(bot.telegram.uploads(chat_id=22)) == 1
    assert isinstance(again[0], SendVideo) and bot.telegram.uploads(chat_id=23) == []  # file_id
    rows = await db.fetch("SELECT user_id, media_id, cache_hit FROM videos ORDER BY pk_id")
    assert [(r["user_id"], r["cache_hit"]) for r in rows] == [(22, False), (23, True)]
    assert rows[0]["media_id"] is not None and rows[0]["media_id"] == rows[1]["media_id"]
    await bot.feed(events.callback(23, example.MusicCallback(video_id=7350000000000000001).pack()))
    await bot.feed(events.callback(22, example.MusicCallback(video_id=7350000000000000001).pack()))
    assert downloader.calls == 2  # the sound, once
    hits = await db.fetch("SELECT user_id, cache_hit FROM music ORDER BY pk_id")
    assert [tuple(r) for r in hits] == [(23, False), (22, True)]


async def test_link_in_a_group_is_recorded_without_ads(
    bot: BotUnderTest, db: asyncpg.Connection
) -> None:
    group = -1_001_000_000_030
    for sender in (31, 32, 31, 33, 32):
        texts = await bot.texts(events.message(group, VIDEO, from_id=sender, lang="uk"))
        assert texts == [t("uk", "video", link=VIDEO)]
    assert await db.fetchval("SELECT count(*) FROM videos WHERE user_id = $1", group) == 5
    stored = await user_row(db, group)
    assert (stored["lang"], stored["ad_count"], stored["ad_cooldown"]) == ("uk", 0, 0)
    # The members' own private chats were never registered.
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_group_ignores_chatter(bot: BotUnderTest) -> None:
    assert await bot.feed(events.message(-40, "lol", from_id=41)) == []


async def test_music_callback_records_the_download(
    bot: BotUnderTest, db: asyncpg.Connection
) -> None:
    group = -50
    data = example.MusicCallback(video_id=7350000000000000001).pack()
    calls = await bot.feed(events.callback(group, data, from_id=51))
    assert isinstance(calls[0], AnswerCallbackQuery)
    assert isinstance(calls[1], SendAudio) and calls[1].chat_id == group
    assert calls[1].caption == t("en", "music", video_id=7350000000000000001)
    # A button under a message sent in inline mode: no chat, the user's own row.
    calls = await bot.feed(events.callback(None, data, from_id=52, lang="ru"))
    assert [type(c) for c in calls] == [AnswerCallbackQuery]
    assert calls[0].show_alert and calls[0].text == t("ru", "music", video_id=7350000000000000001)
    rows = await db.fetch("SELECT user_id, video_id FROM music ORDER BY pk_id")
    assert [tuple(r) for r in rows] == [(group, 7350000000000000001), (52, 7350000000000000001)]


async def test_mode_toggles_file_mode(bot: BotUnderTest, db: asyncpg.Connection) -> None:
    assert await bot.texts(events.message(60, "/mode")) == [t("en", "mode_on")]
    assert (await user_row(db, 60))["file_mode"] is True
    calls = await bot.feed(events.message(60, PHOTO))  # a slideshow as an album of documents
    assert isinstance(calls[0], SendMediaGroup)
    albums = [c for c in calls if isinstance(c, SendMediaGroup)]
    assert {item.type for c in albums for item in c.media} == {"document"}
    assert calls[0].media[0].caption == t("en", "as_file", link=PHOTO)
    assert await db.fetchval("SELECT is_processed FROM videos WHERE user_id = 60") is False
    assert await bot.texts(events.message(60, "/mode")) == [t("en", "mode_off")]
    assert (await user_row(db, 60))["file_mode"] is False
    calls = await bot.feed(events.message(60, VIDEO))
    assert isinstance(calls[0], SendVideo)


async def test_lang_keyboard_and_choice(bot: BotUnderTest, db: asyncpg.Connection) -> None:
    [call] = await bot.feed(events.message(70, "/lang"))
    assert call.text == t("en", "choose_lang")
    buttons = [b for row in call.reply_markup.inline_keyboard for b in row]
    assert [b.callback_data for b in buttons] == [f"lang:{code}" for code in example.LANGUAGES]
    calls = await bot.feed(events.callback(70, "lang:uk"))
    assert isinstance(calls[0], AnswerCallbackQuery) and calls[0].text == t("uk", "lang_set")
    assert isinstance(calls[1], EditMessageText) and calls[1].text == t("uk", "lang_set")
    assert (await user_row(db, 70))["lang"] == "uk"
    # The next update already speaks Ukrainian.
    assert await bot.texts(events.message(70, "hello")) == [t("uk", "hint")]
    # Not a locale of the bot: ignored.
    await bot.feed(events.callback(70, "lang:xx"))
    assert (await user_row(db, 70))["lang"] == "uk"


async def test_inline_query_and_chosen_result(bot: BotUnderTest, db: asyncpg.Connection) -> None:
    [answer] = await bot.feed(events.inline_query(80, f"look {PHOTO}", lang="ru"))
    assert isinstance(answer, AnswerInlineQuery)
    [article] = answer.results
    assert isinstance(article, InlineQueryResultArticle)
    assert isinstance(article.input_message_content, InputTextMessageContent)
    assert article.title == t("ru", "inline_title")
    assert article.input_message_content.message_text == t("ru", "slideshow", link=PHOTO)
    assert await bot.feed(events.chosen_inline_result(80, f"look {PHOTO}")) == []
    row = await db.fetchrow("SELECT user_id, video_link, is_images, is_inline FROM videos")
    assert row is not None and tuple(row) == (80, PHOTO, True, True)
    # Inline downloads are outside the ad rule.
    stored = await user_row(db, 80)
    assert (stored["ad_count"], stored["ad_cooldown"]) == (0, 0)
    # No link: the "start the bot" button, whose /start carries the `inline` referral.
    [empty] = await bot.feed(events.inline_query(81, ""))
    assert empty.results == [] and empty.button.start_parameter == "inline"


async def test_stats_for_admins_only(bot: BotUnderTest, db: asyncpg.Connection) -> None:
    await bot.feed(events.message(90, "/start ref_a"))
    await bot.feed(events.message(90, VIDEO))
    await bot.feed(events.message(-91, PHOTO, from_id=90))
    await bot.feed(events.message(92, "/mode", lang="uk"))
    [stats] = await bot.texts(events.message(ADMIN, "/stats"))
    assert stats is not None
    lines = stats.splitlines()
    assert lines[0] == "📊 Stats"
    assert "Chats: 4 (users 3, groups 1)" in lines  # 90, 92, the admin, the group
    assert "Downloads, last 24 h: 1 in private chats, 1 in groups" in lines
    assert "File mode: 1" in lines
    assert "Top referrals: ref_a 1" in lines
    # Anybody else: just the usual hint, no numbers.
    assert await bot.texts(events.message(93, "/stats")) == [t("en", "hint")]


async def test_storage_error_in_a_handler_is_reported_to_the_user(
    bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.feed(events.message(95, "hi", lang="ru"))

    async def failing(*args: Any) -> None:
        raise tt.StorageUnavailable("database unreachable: OSError")

    monkeypatch.setattr(tt, "toggle_file_mode", failing)
    assert await bot.texts(events.message(95, "/mode")) == [t("ru", "unavailable")]


def po_entries(lang: str) -> dict[str, str]:
    """A catalog read straight from its file with Babel (not through the bot's loader)."""
    path = EXAMPLES / "locales" / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalog = read_po(source)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


async def test_replies_are_the_translation_files_texts(bot: BotUnderTest) -> None:
    """What the handlers send is what examples/locales holds, in the chat's stored language."""
    ru, en = po_entries("ru"), po_entries("en")
    assert await bot.texts(events.message(100, "/start", lang="ru")) == [ru["welcome_new"]]
    assert ru["welcome_new"].startswith("👋 Привет!")
    assert await bot.texts(events.message(100, VIDEO, lang="en")) == [
        ru["video"].format(link=VIDEO),
        ru["ad"],
    ]
    # Somali has no "video" text: English, from en's catalog.
    assert "video" not in po_entries("so")
    await bot.feed(events.message(101, "/start", lang="so"))
    assert await bot.texts(events.message(101, VIDEO)) == [
        en["video"].format(link=VIDEO),
        en["ad"],
    ]


@pytest.mark.parametrize("lang", example.LANGUAGES)
def test_each_catalog_has_only_known_keys_and_their_placeholders(lang: str) -> None:
    en, entries = po_entries("en"), po_entries(lang)
    assert set(entries) <= set(en), f"{lang}: keys English does not have"
    for key, text in entries.items():
        assert re.findall(r"{\w+}", text) == re.findall(r"{\w+}", en[key]), (lang, key)
    assert set(example.I18N.available_locales) == set(example.LANGUAGES)


def test_main_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="BOT_TOKEN is not set"):
        example.main()


def test_admin_ids_from_env() -> None:
    assert example.admin_ids_from_env("1, 2,,3") == frozenset({1, 2, 3})
    assert example.admin_ids_from_env("") == frozenset()
    with pytest.raises(ValueError, match="ADMIN_IDS"):
        example.admin_ids_from_env("1,x")
