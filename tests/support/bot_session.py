"""A Bot API session that never touches the network: it records every call and answers it.

Answers go through aiogram's real ``check_response``, so a queued error raises exactly what
Telegram's would (``TelegramForbiddenError``, ``TelegramRetryAfter``, ``TelegramMigrateToChat``,
…)::

    session = RecordingSession()
    bot = session.bot()                                   # Bot("42:TEST", session=session)
    session.add_error(403, "Forbidden: bot was blocked by the user", chat_id=7)
    session.add_error(429, "Too Many Requests: retry after 3", retry_after=3)
    session.add_error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                      migrate_to_chat_id=-1001234567890)
    session.add_result(True, method=AnswerCallbackQuery)
    await dp.feed_update(bot, update)
    assert session.texts(chat_id) == ["Welcome!"]

Without a queued answer, common methods get a plausible default (a ``Message`` for the
``send*``/``edit*`` family, ``True`` for boolean methods, the bot itself for ``getMe``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    CopyMessage,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMediaGroup,
    TelegramMethod,
)
from aiogram.types import TelegramObject

TOKEN = "42:TEST"
BOT_ID = 42
BOT_USERNAME = "tt_test_bot"

#: Which attribute of a send method carries the media, and the Message field it becomes.
_MEDIA = {
    "video": "video",
    "document": "document",
    "photo": "photo",
    "audio": "audio",
    "animation": "animation",
    "voice": "voice",
}


@dataclass
class _Queued:
    method: type[TelegramMethod[Any]] | None
    status_code: int
    content: str
    #: Only for a call addressed to this chat (``None``: any call).
    chat_id: int | None = None

    def matches(self, method: TelegramMethod[Any]) -> bool:
        if self.method is not None and not isinstance(method, self.method):
            return False
        return self.chat_id is None or getattr(method, "chat_id", None) == self.chat_id


def _chat_type(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


def _as_json(value: Any) -> Any:
    if isinstance(value, TelegramObject):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    return value


class RecordingSession(BaseSession):
    """Records ``calls`` (the method objects, in order) and answers them offline."""

    def __init__(self, bot_id: int = BOT_ID, username: str = BOT_USERNAME) -> None:
        super().__init__()
        self.bot_id = bot_id
        self.username = username
        self.calls: list[TelegramMethod[Any]] = []
        self._queue: deque[_Queued] = deque()
        self._message_ids = itertools.count(1000)
        self.closed = False

    def bot(self, token: str = TOKEN) -> Bot:
        """A ``Bot`` on this session (token ``42:TEST``: id 42, no ``getMe`` needed)."""
        return Bot(token, session=self)

    # --- queueing answers ---------------------------------------------------------------------

    def add_result(
        self,
        result: Any,
        *,
        method: type[TelegramMethod[Any]] | None = None,
        chat_id: int | None = None,
    ) -> None:
        """The next call (of ``method``, to ``chat_id``, if given) returns ``result``
        (an aiogram object, a dict as in the Bot API, or a plain value)."""
        content = json.dumps({"ok": True, "result": _as_json(result)})
        self._queue.append(_Queued(method, 200, content, chat_id))

    def add_error(
        self,
        status_code: int,
        description: str,
        *,
        method: type[TelegramMethod[Any]] | None = None,
        chat_id: int | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """The next call (of ``method``, to ``chat_id``, if given) fails as Telegram would."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status_code,
            "description": description,
        }
        parameters = {
            key: value
            for key, value in (
                ("retry_after", retry_after),
                ("migrate_to_chat_id", migrate_to_chat_id),
            )
            if value is not None
        }
        if parameters:
            body["parameters"] = parameters
        self._queue.append(_Queued(method, status_code, json.dumps(body), chat_id))

    def _take(self, method: TelegramMethod[Any]) -> _Queued | None:
        for queued in self._queue:
            if queued.matches(method):
                self._queue.remove(queued)
                return queued
        return None

    @property
    def pending(self) -> int:
        """Queued answers not used yet."""
        return len(self._queue)

    # --- the BaseSession interface ------------------------------------------------------------

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> Any:
        self.calls.append(method)
        queued = self._take(method)
        if queued is None:
            status_code = 200
            content = json.dumps({"ok": True, "result": _as_json(self.default_result(method))})
        else:
            status_code, content = queued.status_code, queued.content
        response = self.check_response(bot, method, status_code, content)
        return response.result

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - BaseSession's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        self.closed = True

    # --- default answers ----------------------------------------------------------------------

    def default_result(self, method: TelegramMethod[Any]) -> Any:
        """A plausible answer for ``method`` (override or queue one for anything else)."""
        if isinstance(method, GetMe):
            return {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Test bot",
                "username": self.username,
            }
        if isinstance(method, CopyMessage):
            return {"message_id": next(self._message_ids)}
        if isinstance(method, SendMediaGroup):
            return [self.message_for(method, media) for media in method.media]
        if isinstance(method, EditMessageText | EditMessageCaption | EditMessageReplyMarkup):
            if method.inline_message_id is not None:
                return True
            return self.message_for(method)
        returning = getattr(method, "__returning__", None)
        if returning is bool:
            return True
        if getattr(method, "chat_id", None) is not None:
            return self.message_for(method)
        raise NotImplementedError(
            f"no default answer for {type(method).__name__}: queue one with add_result()"
        )

    def message_for(self, method: TelegramMethod[Any], media: Any = None) -> dict[str, Any]:
        """The ``Message`` Telegram would return for a send/edit ``method``."""
        raw_chat = getattr(method, "chat_id", None)
        chat_id = raw_chat if isinstance(raw_chat, int) else -1
        message_id = getattr(method, "message_id", None)
        message: dict[str, Any] = {
            "message_id": message_id if isinstance(message_id, int) else next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": _chat_type(chat_id)},
            "from": {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Test bot",
                "username": self.username,
            },
        }
        text = getattr(method, "text", None)
        if isinstance(text, str):
            message["text"] = text
        caption = getattr(media if media is not None else method, "caption", None)
        if isinstance(caption, str):
            message["caption"] = caption
        markup = getattr(method, "reply_markup", None)
        if markup is not None and type(markup).__name__ == "InlineKeyboardMarkup":
            message["reply_markup"] = _as_json(markup)
        kind = getattr(media, "type", None)
        for attribute, field in _MEDIA.items():
            if kind == attribute or (media is None and getattr(method, attribute, None)):
                file = {"file_id": f"{field}-{message['message_id']}", "file_unique_id": "u"}
                if field == "photo":
                    message[field] = [{**file, "width": 1080, "height": 1920}]
                elif field in ("video", "animation"):
                    message[field] = {**file, "width": 1080, "height": 1920, "duration": 15}
                elif field in ("audio", "voice"):
                    message[field] = {**file, "duration": 15}
                else:
                    message[field] = file
                break
        return message

    # --- reading what was recorded ------------------------------------------------------------

    def calls_of(self, *methods: type[TelegramMethod[Any]]) -> list[TelegramMethod[Any]]:
        """The recorded calls of the given method types (all calls without arguments)."""
        if not methods:
            return list(self.calls)
        return [call for call in self.calls if isinstance(call, methods)]

    def to_chat(self, chat_id: int) -> list[TelegramMethod[Any]]:
        """Every recorded call addressed to ``chat_id``."""
        return [call for call in self.calls if getattr(call, "chat_id", None) == chat_id]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts and captions sent (to ``chat_id``), in order."""
        calls = self.calls if chat_id is None else self.to_chat(chat_id)
        out = []
        for call in calls:
            for attribute in ("text", "caption"):
                value = getattr(call, attribute, None)
                if isinstance(value, str):
                    out.append(value)
        return out

    def names(self) -> list[str]:
        """The recorded calls' Bot API method names (``sendMessage``, …)."""
        return [call.__api_method__ for call in self.calls]

    def clear(self) -> None:
        self.calls.clear()
        self._queue.clear()


def params(call: TelegramMethod[Any]) -> Mapping[str, Any]:
    """A call's parameters that were set (for readable assertions)."""
    return call.model_dump(exclude_none=True)
