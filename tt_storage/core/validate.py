"""Input checks shared by the public functions: a clear ``ValueError`` before any SQL."""

from __future__ import annotations

from typing import Any

#: Chat ids are BIGINT; Telegram's use at most 52 bits. The lowest BIGINT is kept out so that
#: ``> MIN_CHAT_ID - 1`` style bounds never overflow.
MIN_CHAT_ID = -(2**63) + 1
MAX_CHAT_ID = 2**63 - 1
#: Longest language tag accepted (BCP 47 tags in practice stay well below).
MAX_LANG_LENGTH = 35


def chat_id(value: Any, name: str = "user_id") -> int:
    """``value`` as a chat id, or ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    if not MIN_CHAT_ID <= value <= MAX_CHAT_ID:
        raise ValueError(f"{name} {value} is outside the BIGINT range of chat ids")
    return int(value)


def text(value: Any, name: str) -> str:
    """``value`` as storable text: PostgreSQL rejects NUL characters, so they are dropped.

    Lone surrogates (``"\\ud800"``, from a bad decode) have no UTF-8 form: ``ValueError``.
    """
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, not {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name} is not valid Unicode text: {exc.reason}") from None
    return value.replace("\x00", "")


def optional_text(value: Any, name: str) -> str | None:
    return None if value is None else text(value, name)


def lang(value: Any) -> str:
    """A language code to store: non-empty, at most ``MAX_LANG_LENGTH`` characters."""
    code = text(value, "lang").strip()
    if not code or len(code) > MAX_LANG_LENGTH:
        raise ValueError(f"lang must be 1 to {MAX_LANG_LENGTH} characters, got {len(code)}")
    return code


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int")
    return value


def url(value: Any, name: str) -> str | None:
    """A database URL argument: a ``str`` or ``None``, else ``TypeError`` naming ``name``."""
    if value is not None and not isinstance(value, str):
        raise TypeError(
            f"{name} must be a database URL (a str such as postgresql://user@host/db) or None, "
            f"not {type(value).__name__}"
        )
    return value
