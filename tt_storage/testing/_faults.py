"""Answers a test injects: Telegram's errors, a dropped connection, a slow answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """Fails matching requests (``None`` matches anything) after letting ``after`` through,
    ``times`` times (``None``: every one from then on)."""

    method: str | None = None
    chat_id: int | str | None = None
    bot_id: int | None = None
    status: int = 400
    description: str = "Bad Request"
    parameters: dict[str, Any] = field(default_factory=dict)
    times: int | None = 1
    after: int = 0
    #: Close the connection instead of answering (aiogram raises TelegramNetworkError).
    drop: bool = False
    #: Seconds to wait before answering (past the Bot's timeout: TelegramNetworkError).
    delay: float = 0.0
    #: A body that is not Telegram's JSON (a proxy's HTML error page), sent as is.
    raw: str | None = None
    #: Matching requests seen, and how many of them this fault answered.
    seen: int = 0
    used: int = 0

    def matches(self, method: str, chat_id: int | str | None, bot_id: int) -> bool:
        return (
            (self.method is None or self.method.lower() == method.lower())
            and (self.chat_id is None or self.chat_id == chat_id)
            and (self.bot_id is None or self.bot_id == bot_id)
        )

    def take(self, method: str, chat_id: int | str | None, bot_id: int) -> bool:
        """Whether this fault answers this request (counting it)."""
        if not self.matches(method, chat_id, bot_id):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.used >= self.times):
            return False
        self.used += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body
