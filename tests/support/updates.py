"""Telegram updates for feeding a real ``Dispatcher`` (built from Bot API JSON, as Telegram
sends them)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiogram.types import Update

from tests.support.bot_session import BOT_ID, BOT_USERNAME

_ids = itertools.count(1)


def chat_type(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


def chat(chat_id: int) -> dict[str, Any]:
    kind = chat_type(chat_id)
    if kind == "private":
        return {"id": chat_id, "type": kind, "first_name": "User"}
    return {"id": chat_id, "type": kind, "title": "Group"}


def user(user_id: int, language_code: str | None = "en") -> dict[str, Any]:
    value: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "User"}
    if language_code is not None:
        value["language_code"] = language_code
    return value


BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Test bot", "username": BOT_USERNAME}


def message(
    chat_id: int, text: str | None = "hi", from_id: int | None = None, **fields: Any
) -> Update:
    """A ``message`` update in ``chat_id`` (from the chat's own user, or ``from_id``)."""
    sender = from_id if from_id is not None else (chat_id if chat_id > 0 else 1_000)
    body: dict[str, Any] = {
        "message_id": next(_ids),
        "date": int(time.time()),
        "chat": chat(chat_id),
        "from": user(sender),
        **fields,
    }
    if text is not None:
        body["text"] = text
    return Update.model_validate({"update_id": next(_ids), "message": body})


def _member(status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": BOT_USER}
    if status == "kicked":
        member["until_date"] = 0
    return member


def my_chat_member(chat_id: int, old: str, new: str, from_id: int | None = None) -> Update:
    """The bot's status in ``chat_id`` went from ``old`` to ``new`` (member, kicked, left…)."""
    sender = from_id if from_id is not None else (chat_id if chat_id > 0 else 1_000)
    return Update.model_validate(
        {
            "update_id": next(_ids),
            "my_chat_member": {
                "chat": chat(chat_id),
                "from": user(sender),
                "date": int(time.time()),
                "old_chat_member": _member(old),
                "new_chat_member": _member(new),
            },
        }
    )
