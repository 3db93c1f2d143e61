"""The bots the fake server knows: any well-formed token is one, its id the token's number."""

from __future__ import annotations

import re
from typing import Any

#: The token tests use unless they need a second bot; its id is 42.
TOKEN = "42:TEST"
BOT_ID = 42

_TOKEN = re.compile(r"(\d+):([A-Za-z0-9_-]+)")


def bot_id_of(token: str) -> int | None:
    """The bot id a token carries, or ``None`` for a string that is not a token."""
    match = _TOKEN.fullmatch(token)
    return int(match.group(1)) if match else None


def username_of(token: str) -> str:
    """The username getMe gives for ``token``: ``"42:TEST"`` → ``test_42_bot``."""
    bot_id, _, secret = token.partition(":")
    return f"{secret.lower()[:16]}_{bot_id}_bot"


def bot_user(token: str, username: str | None = None) -> dict[str, Any]:
    """The bot as a ``User`` (what getMe returns and a bot's messages carry in ``from``)."""
    bot_id = bot_id_of(token)
    if bot_id is None:
        raise ValueError(f"not a bot token: {token!r}")
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": f"Test bot {bot_id}",
        "username": username or username_of(token),
    }
