"""A tt-bot-shaped bot on tt-storage: TikTok/Instagram links in, (pretend) downloads out.

Only the public ``tt_storage`` API is used. ``setup_storage`` does the data-layer work tt-bot
did by hand in every handler: each update's chat is loaded (or registered, with its language
and deep-link referral) and handlers get it as ``user_settings: UserSettings``. The texts live
in gettext catalogs (``examples/locales``) and follow the chat's stored language through
``tt_storage.bot.i18n.SettingsI18nMiddleware``.

Nothing is downloaded: a stand-in ``Downloader`` makes placeholder files for a link (a video,
a slideshow's photos, the music, documents in file mode). They are sent through the media
cache (``tt_storage.media.send_cached``): the first request of a link runs the downloader and
uploads, every later one (any chat, any process of the bot) is sent by Telegram's file_ids.
The download is recorded as tt-bot records it, linked to its media entry with ``cache_hit``.

Run it for real::

    BOT_TOKEN=123:ABC ADMIN_IDS=11111,22222 python examples/bot.py

``DB_URL`` (``postgresql://user:password@host/db``) selects the database; without it an
embedded PostgreSQL is started in ``TT_STORAGE_DATA_DIR`` (default ``./.tt_storage``).
Inline mode and inline feedback (for ``chosen_inline_result``) are enabled in @BotFather;
``STORAGE_CHAT_ID`` (a channel the bot posts to) makes inline answers cached videos/photos.
"""

from __future__ import annotations

import asyncio
import gettext
import io
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandStart, ExceptionTypeFilter, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    ChosenInlineResult,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Message,
)
from aiogram.utils.i18n import I18n

import tt_storage as tt
from tt_storage import StorageError, UserSettings, setup_storage
from tt_storage.bot.i18n import SettingsI18nMiddleware
from tt_storage.media import answer_inline_cached, send_cached

# examples/ is a folder of scripts: the downloader next to this file, wherever it is run from.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from downloader import (
    LINK,
    Downloader,
    is_slideshow,
    is_tiktok,
    media_key,
    variant_of,
    video_id_of,
)

log = logging.getLogger("tt_bot_example")

#: tt-bot's locales.
LANGUAGES = ("ar", "en", "hi", "id", "ru", "so", "uk", "vi")
DEFAULT_LANG = "en"
#: The payload of the "start the bot" button shown in inline mode (tt-bot's referral `inline`).
INLINE_START_PAYLOAD = "inline"

LANGUAGE_NAMES = {
    "ar": "🇸🇦 العربية",
    "en": "🇬🇧 English",
    "hi": "🇮🇳 हिन्दी",
    "id": "🇮🇩 Indonesia",
    "ru": "🇷🇺 Русский",
    "so": "🇸🇴 Soomaali",
    "uk": "🇺🇦 Українська",
    "vi": "🇻🇳 Tiếng Việt",
}

# --- texts -------------------------------------------------------------------------------------
# gettext catalogs in examples/locales/<lang>/LC_MESSAGES/messages.po, keyed by short ids
# (msgid "video" → "🎬 Your video: {link}"); a text missing in a language is taken from English.
# The locale of each update is the chat's stored language (UserSettings.lang), set by
# tt_storage.bot.i18n.SettingsI18nMiddleware: handlers just call _("key").

LOCALES_DIR = Path(__file__).resolve().parent / "locales"


class PoI18n(I18n):
    """aiogram's ``I18n`` reading the ``.po`` files themselves, compiled in memory by Babel:
    no ``.mo`` files to build or commit, so a clean clone runs as is."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        try:
            from babel.messages.mofile import write_mo
            from babel.messages.pofile import read_po
        except ImportError:
            raise ImportError(
                "the example bot compiles its .po files with Babel: pip install 'tt-storage[i18n]'"
            ) from None
        translations: dict[str, gettext.GNUTranslations] = {}
        for po in sorted(self.path.glob(f"*/LC_MESSAGES/{self.domain}.po")):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parents[1].name)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            translations[po.parents[1].name] = gettext.GNUTranslations(compiled)
        default = translations[self.default_locale]
        for lang, translation in translations.items():
            if lang != self.default_locale:
                translation.add_fallback(default)
        return translations


I18N = PoI18n(path=LOCALES_DIR, default_locale=DEFAULT_LANG)


def t(lang: str, key: str, **values: Any) -> str:
    """The ``key`` text in ``lang`` (English when missing), formatted with ``values``."""
    text = I18N.gettext(key, locale=lang)
    return text.format(**values) if values else text


def _(key: str, **values: Any) -> str:
    """The ``key`` text in this update's language."""
    return t(I18N.current_locale, key, **values)


class MusicCallback(CallbackData, prefix="music"):
    video_id: int


class LangCallback(CallbackData, prefix="lang"):
    code: str


def music_keyboard(link: str) -> InlineKeyboardMarkup | None:
    if not is_tiktok(link):
        return None
    button = InlineKeyboardButton(
        text=_("music_button"),
        callback_data=MusicCallback(video_id=video_id_of(link)).pack(),
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def language_keyboard() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=LANGUAGE_NAMES[code], callback_data=LangCallback(code=code).pack()
        )
        for code in LANGUAGES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + 2] for i in range(0, 8, 2)])


# --- filters -----------------------------------------------------------------------------------
# Async on purpose: aiogram runs a synchronous filter (any ``F.…`` magic filter included) in a
# worker thread through ``asyncio.to_thread``, a thread hop per check and per update.


class HasLink(Filter):
    """A message with a TikTok/Instagram link; the handler gets it as ``link_match``."""

    async def __call__(self, message: Message) -> bool | dict[str, Any]:
        found = LINK.search(message.text or "")
        return {"link_match": found} if found is not None else False


class FromAdmin(Filter):
    """The sender is in the dispatcher's ``admin_ids``."""

    async def __call__(self, message: Message, admin_ids: frozenset[int]) -> bool:
        return message.from_user is not None and message.from_user.id in admin_ids


class PrivateText(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.chat.type == "private" and message.text is not None


# --- handlers ----------------------------------------------------------------------------------


async def on_start(message: Message, user_settings: UserSettings) -> None:
    """Welcome. The middleware already registered the chat (and stored a deep-link referral)."""
    key = "welcome_new" if user_settings.is_new else "welcome_back"
    await message.answer(_(key))


async def on_link(
    message: Message,
    user_settings: UserSettings,
    link_match: re.Match[str],
    bot: Bot,
    downloader: Downloader,
) -> None:
    """Send the link's media through the cache, then record the download (and maybe an ad)."""
    settings = user_settings
    link = link_match.group(0)
    images = is_slideshow(link)
    variant = variant_of(link, settings.file_mode)
    caption = _("as_file" if settings.file_mode else "slideshow" if images else "video", link=link)
    sent = await send_cached(
        bot,
        message.chat.id,
        media_key(link),
        variant,
        lambda: downloader.extract(link, variant),
        caption=caption,
        reply_markup=music_keyboard(link),
        reply_to_message_id=message.message_id,
    )
    # tt-bot converts slideshow images unless file mode is on.
    processed = images and not settings.file_mode
    try:
        if message.chat.type == "private":
            # Record the download and apply the ad rule (downloads 1, 4, 7, … and after 24 h).
            show_ad = await tt.track_download(
                settings, link, images, processed, ad=True, **sent.track
            )
        else:
            await tt.add_video(settings, link, images, processed, **sent.track)
            show_ad = False
    except StorageError as exc:
        # The user got their download; only the statistics miss it.
        log.error("download of chat %s not recorded: %s", message.chat.id, exc)
        return
    if show_ad:
        await message.answer(_("ad"))


async def on_music(
    callback: CallbackQuery,
    callback_data: MusicCallback,
    user_settings: UserSettings,
    bot: Bot,
    downloader: Downloader,
) -> None:
    """The "🎵 Music" button: send the sound through the cache, record the music download."""
    video_id = callback_data.video_id
    text = _("music", video_id=video_id)
    if callback.message is None:
        # The button of an inline-mode message: there is no chat to send to.
        await tt.add_music(user_settings, video_id)
        await callback.answer(text, show_alert=True)
        return
    await callback.answer()
    link = f"https://www.tiktok.com/video/{video_id}"
    sent = await send_cached(
        bot,
        callback.message.chat.id,
        ("tiktok", str(video_id)),
        "audio",
        lambda: downloader.extract(link, "audio"),
        caption=text,
    )
    await tt.add_music(user_settings, video_id, **sent.track)


async def on_mode(message: Message, user_settings: UserSettings) -> None:
    """Toggle file mode atomically (two quick /mode never lose a flip)."""
    file_mode = await tt.toggle_file_mode(user_settings)
    await message.answer(_("mode_on" if file_mode else "mode_off"))


async def on_lang(message: Message) -> None:
    await message.answer(_("choose_lang"), reply_markup=language_keyboard())


async def on_lang_chosen(
    callback: CallbackQuery,
    callback_data: LangCallback,
    user_settings: UserSettings,
    i18n_middleware: SettingsI18nMiddleware,
) -> None:
    code = callback_data.code
    if code not in LANGUAGES:
        await callback.answer()
        return
    # Stored, and this very update already answers in the new language.
    await i18n_middleware.set_locale(user_settings, code)
    await callback.answer(_("lang_set"))
    if isinstance(callback.message, Message):
        try:
            await callback.message.edit_text(_("lang_set"))
        except TelegramBadRequest:  # "message is not modified" and the like
            pass


async def on_inline_query(
    query: InlineQuery, bot: Bot, downloader: Downloader, storage_chat_id: int | None
) -> None:
    found = LINK.search(query.query)
    if found is None:
        # tt-bot's "start the bot" button: its /start carries the `inline` referral.
        button = InlineQueryResultsButton(
            text=_("inline_start"), start_parameter=INLINE_START_PAYLOAD
        )
        await query.answer([], button=button, cache_time=300, is_personal=True)
        return
    link = found.group(0)
    kind = "slideshow" if is_slideshow(link) else "video"
    if storage_chat_id is not None:
        # Cached results: a miss is uploaded to the storage chat first (Telegram gives file_ids
        # only for files it holds), then answered.
        variant = variant_of(link, False)
        await answer_inline_cached(
            bot,
            query.id,
            media_key(link),
            variant,
            lambda: downloader.extract(link, variant),
            storage_chat_id=storage_chat_id,
            title=_("inline_title"),
            caption=_(kind, link=link),
            cache_time=0,
            is_personal=True,
        )
        return
    article = InlineQueryResultArticle(
        id=f"{kind[0]}{video_id_of(link)}",
        title=_("inline_title"),
        description=link,
        input_message_content=InputTextMessageContent(message_text=_(kind, link=link)),
        reply_markup=music_keyboard(link),
    )
    await query.answer([article], cache_time=0, is_personal=True)


async def on_chosen_inline_result(result: ChosenInlineResult, user_settings: UserSettings) -> None:
    """The user sent an inline result: an inline download, recorded on the user's own chat."""
    found = LINK.search(result.query)
    if found is not None:
        link = found.group(0)
        await tt.add_video(user_settings, link, is_slideshow(link), False, True)


async def on_stats(message: Message) -> None:
    """Quick stats for admins, read with the seed-compatible stats functions (they load every
    id / row of the period: fine for an example, a counting stats API suits a big bot)."""
    (
        users,
        chats,
        (file_mode, languages, top),
        referrals,
        day_users,
        day_groups,
    ) = await asyncio.gather(
        tt.get_user_ids(),
        tt.get_user_ids(only_positive=False),
        tt.get_other_stats(),
        tt.get_referral_stats(),
        tt.get_stats_by_period(86_400, "users"),
        tt.get_stats_by_period(86_400, "groups"),
    )
    lines = [
        "📊 Stats",
        f"Chats: {len(chats)} (users {len(users)}, groups {len(chats) - len(users)})",
        f"Downloads, last 24 h: {len(day_users)} in private chats, {len(day_groups)} in groups",
        f"File mode: {file_mode}",
        "Languages: " + (" · ".join(f"{lang} {n}" for lang, n in languages) or "—"),
        "Top referrals: " + (" · ".join(f"{link} {n}" for link, n in referrals) or "—"),
        "Top chats: " + (" · ".join(f"{chat} ({n})" for chat, n in top[:5]) or "—"),
    ]
    await message.answer("\n".join(lines))


async def on_private_text(message: Message) -> None:
    await message.answer(_("hint"))


async def on_storage_error(event: ErrorEvent) -> None:
    """The database failed inside a handler: log it, tell the user to retry (in their language:
    the i18n middleware runs for error events too)."""
    log.error("storage error: %s", event.exception)
    message = event.update.message
    if message is not None:
        await message.answer(_("unavailable"))


# --- wiring ------------------------------------------------------------------------------------


def admin_ids_from_env(value: str | None = None) -> frozenset[int]:
    """``ADMIN_IDS`` (``123,456``) as a set of user ids."""
    raw = os.environ.get("ADMIN_IDS", "") if value is None else value
    try:
        return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError(
            f"ADMIN_IDS must be a comma-separated list of user ids, not {raw!r}"
        ) from None


def create_router() -> Router:
    """The bot's handlers (a new router per dispatcher: a router has a single parent)."""
    router = Router(name="tt_bot_example")
    msg = router.message
    msg.register(on_start, CommandStart())
    msg.register(on_stats, Command("stats"), FromAdmin())
    msg.register(on_mode, Command("mode"))
    msg.register(on_lang, Command("lang"))
    msg.register(on_link, HasLink())
    msg.register(on_private_text, PrivateText())
    router.callback_query.register(on_music, MusicCallback.filter())
    router.callback_query.register(on_lang_chosen, LangCallback.filter())
    router.inline_query.register(on_inline_query)
    router.chosen_inline_result.register(on_chosen_inline_result)
    router.errors.register(on_storage_error, ExceptionTypeFilter(StorageError))
    return router


def create_dispatcher(db_url: str | None = None, **options: Any) -> Dispatcher:
    """The bot's dispatcher, with tt-storage set up on ``db_url`` (default: ``DB_URL``/embedded).

    ``admin_ids`` (default: ``ADMIN_IDS``) may see ``/stats``; ``downloader`` makes the files
    (default: a new ``Downloader``); ``storage_chat_id`` (default: ``STORAGE_CHAT_ID``) turns
    on cached inline answers; every other option goes to
    ``setup_storage`` (``cache_size=0``, ``migrate=True``, pool options, …). The storage is
    initialised by the dispatcher's startup (``start_polling`` or ``emit_startup``).
    """
    admin_ids = options.pop("admin_ids", None)
    admins = admin_ids_from_env() if admin_ids is None else frozenset(admin_ids)
    downloader = options.pop("downloader", None) or Downloader()
    storage_chat = options.pop("storage_chat_id", None) or os.environ.get("STORAGE_CHAT_ID")
    dispatcher = Dispatcher(
        admin_ids=admins,
        downloader=downloader,
        storage_chat_id=None if storage_chat is None else int(storage_chat),
    )
    setup_storage(dispatcher, db_url, languages=LANGUAGES, **options)
    # Every handler's texts in the chat's stored language (either order of these two calls).
    SettingsI18nMiddleware(I18N).setup(dispatcher)
    dispatcher.include_router(create_router())
    return dispatcher


def main() -> None:
    token = os.environ.get("BOT_TOKEN", "").strip()
    if not token:
        raise SystemExit(
            "BOT_TOKEN is not set: export BOT_TOKEN=<the token from @BotFather>.\n"
            "Optional: DB_URL=postgresql://user:password@host/db (default: an embedded "
            "PostgreSQL in $TT_STORAGE_DATA_DIR), ADMIN_IDS=<ids allowed to use /stats>.\n"
            "To try the bot offline, without a token, run: python examples/demo.py"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # migrate=True: pending aerich migrations are applied at startup (the embedded default
    # always is). A bot that runs `aerich upgrade` itself leaves it out.
    dispatcher = create_dispatcher(os.environ.get("DB_URL") or None, migrate=True)
    # The token is never logged: aiogram logs the bot's id and username only.
    asyncio.run(dispatcher.start_polling(Bot(token)))


if __name__ == "__main__":
    main()
