"""aiogram without a network: an offline Bot, updates, and one download bot per implementation.

Each bot is a real ``Dispatcher`` with an outer update middleware that loads (or registers)
the chat's settings and a message handler that records a private download with the ad rule
and answers through the Bot API (offline session): what tt-bot does per link.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.dispatcher.middlewares.user_context import (
    EVENT_CHAT_KEY,
    EVENT_CONTEXT_KEY,
    EVENT_FROM_USER_KEY,
    UserContextMiddleware,
)
from aiogram.methods import TelegramMethod
from aiogram.types import Chat, Message, Update

import tt_storage

from . import flows, raw

TOKEN = "42:TEST"


class OfflineSession(BaseSession):
    """Answers every Bot API call with the same ``Message``; counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self._reply = Message(
            message_id=1,
            date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
            chat=Chat(id=1, type="private"),
            text="ok",
        )

    async def close(self) -> None:
        pass

    # The signatures are BaseSession's (hence the timeout parameters).
    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> Any:
        self.requests += 1
        return self._reply

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""


def offline_bot() -> Bot:
    return Bot(TOKEN, session=OfflineSession())


def message_update(
    bot: Bot, update_id: int, chat_id: int, text: str, language_code: str = "en"
) -> Update:
    """A private text message, bound to ``bot`` (so ``feed_update`` does not rebuild it)."""
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private", "first_name": "u"},
                "from": {
                    "id": chat_id,
                    "is_bot": False,
                    "first_name": "u",
                    "language_code": language_code,
                },
                "text": text,
            },
        },
        context={"bot": bot},
    )


def middleware_data(bot: Bot, update: Update) -> dict[str, Any]:
    """The ``data`` an outer update middleware gets from aiogram for ``update``."""
    context = UserContextMiddleware.resolve_event_context(update)
    data: dict[str, Any] = {"bot": bot, "event_update": update, EVENT_CONTEXT_KEY: context}
    if context.user is not None:
        data[EVENT_FROM_USER_KEY] = context.user
    if context.chat is not None:
        data[EVENT_CHAT_KEY] = context.chat
    return data


def _dispatcher(middleware: BaseMiddleware) -> Dispatcher:
    dp = Dispatcher()
    dp.update.outer_middleware.register(middleware)
    return dp


def tt_dispatcher(middleware: tt_storage.StorageMiddleware) -> Dispatcher:
    dp = _dispatcher(middleware)

    @dp.message()
    async def download(message: Message, user_settings: tt_storage.UserSettings) -> None:
        link = message.text or ""
        if await flows.tt_private_download(user_settings, link):
            await message.answer("ad")
        await message.answer("video")

    return dp


def seed_dispatcher() -> Dispatcher:
    dp = _dispatcher(flows.SeedMiddleware())

    @dp.message()
    async def download(message: Message) -> None:
        link = message.text or ""
        if await flows.seed_private_download(message.chat.id, link):
            await message.answer("ad")
        await message.answer("video")

    return dp


def raw_dispatcher(pool: asyncpg.Pool) -> Dispatcher:
    dp = _dispatcher(raw.RawMiddleware(pool))

    @dp.message()
    async def download(message: Message) -> None:
        link = message.text or ""
        if await raw.private_download(pool, message.chat.id, link):
            await message.answer("ad")
        await message.answer("video")

    return dp
