"""What a bot does per update, with the seed's data layer and with tt-storage's public API.

The seed calls are sequenced as tt-bot sequences them (see the seed file's usage examples and
/work/shared/NOTES.md): settings, else register; the ad decision, then ``record_ad_show`` or
``increase_ad_count``, then ``add_video``; ``/mode`` reads the user and writes the flipped mode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

import tt_storage

from . import seed
from .raw import LOCALES

# --- the seed, as tt-bot uses it -----------------------------------------------------------------


class SeedMiddleware(BaseMiddleware):
    """tt-bot's per-handler preamble as one middleware: ``get_user_settings``, else register."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = data.get("event_chat")
        user = data.get("event_from_user")
        chat_id = chat.id if chat is not None else user.id if user is not None else None
        settings = None
        if chat_id is not None:
            settings = await seed.get_user_settings(chat_id)
            if not settings:
                # lang_func: the user's language if it is one of the bot's locales, else en.
                code = user.language_code if user is not None else None
                lang = code if code in LOCALES else "en"
                # start_manager: the referral is the 2nd word of the first message.
                message = getattr(event, "message", None)
                words = (message.text or "").split() if message is not None else []
                link = words[1].lower() if len(words) > 1 else None
                await seed.create_user(chat_id, lang, link)
                settings = (lang, False)
        data["user_settings"] = settings
        return await handler(event, data)


async def seed_private_download(chat_id: int, link: str) -> bool:
    show = await seed.should_show_ad(chat_id)
    if show:
        await seed.record_ad_show(chat_id)
    else:
        await seed.increase_ad_count(chat_id)
    await seed.add_video(chat_id, link, False, False)
    return show


async def seed_music(chat_id: int, video_id: int) -> None:
    await seed.add_music(chat_id, video_id)


async def seed_toggle_mode(chat_id: int) -> bool:
    user = await seed.get_user(chat_id)
    assert user is not None
    file_mode = not user.file_mode
    await seed.update_user_mode(chat_id, file_mode)
    return file_mode


# --- tt-storage's public API ---------------------------------------------------------------------


async def tt_private_download(chat: int | tt_storage.UserSettings, link: str) -> bool:
    return await tt_storage.track_download(chat, link, False, ad=True)


async def tt_music(chat_id: int, video_id: int) -> None:
    await tt_storage.add_music(chat_id, video_id)


async def tt_toggle_mode(chat_id: int) -> bool | None:
    return await tt_storage.toggle_file_mode(chat_id)
