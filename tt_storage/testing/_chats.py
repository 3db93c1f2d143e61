"""What the fake server remembers per bot and chat: the messages it can copy, edit, delete."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


def chat_type(chat_id: int) -> str:
    """Private for ids > 0, a supergroup for -100…, else a basic group."""
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


def chat_json(chat_id: int | str, kind: str | None = None) -> dict[str, Any]:
    """The ``Chat`` object Telegram puts in a message (a ``@username`` is a channel)."""
    if isinstance(chat_id, str):
        return {"id": -1001000000000, "type": "channel", "title": chat_id, "username": chat_id[1:]}
    kind = kind or chat_type(chat_id)
    if kind == "private":
        return {"id": chat_id, "type": kind, "first_name": f"User{chat_id}"}
    return {"id": chat_id, "type": kind, "title": f"A {kind}"}


@dataclass
class Chat:
    """One chat as one bot sees it."""

    chat_id: int | str
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def add(self, message: dict[str, Any]) -> dict[str, Any]:
        """Keep ``message`` (a new one gets the next message id)."""
        if "message_id" not in message:
            message["message_id"] = self.next_id
        self.next_id = max(self.next_id, message["message_id"] + 1)
        self.messages[message["message_id"]] = message
        return message


class Chats:
    """The chats of every bot, by (bot id, chat id)."""

    def __init__(self) -> None:
        self._chats: dict[tuple[int, int | str], Chat] = {}

    def get(self, bot_id: int, chat_id: int | str) -> Chat:
        key = (bot_id, chat_id)
        if key not in self._chats:
            self._chats[key] = Chat(chat_id)
        return self._chats[key]

    def new_message(
        self, bot_id: int, chat_id: int | str, sender: dict[str, Any], **content: Any
    ) -> dict[str, Any]:
        """A message the bot sends now, kept in its chat."""
        message = {
            "date": int(time.time()),
            "chat": chat_json(chat_id),
            "from": sender,
            **{key: value for key, value in content.items() if value is not None},
        }
        return self.get(bot_id, chat_id).add(message)

    def clear(self) -> None:
        self._chats.clear()
