"""What Telegram's answer to a send means for a broadcast: retry it (``is_transient``), the chat
is gone (``is_block``), and how an error is logged without the bot's token (``describe``)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramServerError,
)
from pydantic import ValidationError

#: Telegram's wording of a 403 that is not a block: the user never started the bot.
NOT_A_BLOCK = ("can't initiate conversation",)


def describe(exc: BaseException, bot: Bot) -> str:
    """An error for the log: Telegram's description or the exception, never the token."""
    text = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
    text = f"{type(exc).__name__}: {text}"
    token = getattr(bot, "token", None)
    if token:
        text = text.replace(token, "<token>")
    return text[:300]


def is_transient(exc: BaseException) -> bool:
    """An error after which the same send may well succeed: Telegram's 5xx
    (``TelegramServerError``, ``RestartingTelegram``), the HTTP client's failures
    (``TelegramNetworkError``: a timeout, a reset connection; not ``TelegramEntityTooLarge``),
    and a body that is not JSON at all (``ClientDecodeError``: a proxy's HTML error page)."""
    if isinstance(exc, TelegramEntityTooLarge):
        return False
    if isinstance(exc, TelegramServerError | TelegramNetworkError):
        return True
    # JSON that does not fit the method's result came with a 200: the message was sent, and a
    # retry would send it again (every time, were the mismatch permanent).
    return isinstance(exc, ClientDecodeError) and not isinstance(exc.original, ValidationError)


def is_block(exc: TelegramForbiddenError) -> bool:
    """A 403 that means the chat cannot be reached any more (not "can't initiate")."""
    text = exc.message.lower()
    return not any(marker in text for marker in NOT_A_BLOCK)
