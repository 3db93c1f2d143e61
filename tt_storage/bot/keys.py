"""The FSM table's key for an aiogram ``StorageKey``, and what PostgreSQL text can hold: the
storage's rows and the isolation's locks are named by it."""

from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey


def key_text(key: StorageKey) -> str:
    """Every field of ``key``, unambiguously (the business connection id is length-prefixed, the
    destiny comes last); not checked: the lock id hashes its lossless bytes."""
    business = key.business_connection_id or ""
    thread = "" if key.thread_id is None else str(int(key.thread_id))
    return (
        f"{int(key.bot_id)}:{int(key.chat_id)}:{int(key.user_id)}:{thread}:"
        f"{len(business)}:{business}:{key.destiny}"
    )


def storable(value: str) -> bool:
    """Whether PostgreSQL text can hold ``value`` as it is: no NUL, no surrogate code point
    (lone, or a pair split in two: neither has a UTF-8 form)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def row_key(key: StorageKey) -> str:
    """The table's key for ``key``; ``ValueError`` (naming the field, not its text) if a text
    field holds what PostgreSQL text cannot (see ``storable``)."""
    text = key_text(key)
    if not storable(text):
        field = "destiny" if not storable(key.destiny) else "business_connection_id"
        raise ValueError(
            f"StorageKey.{field} holds a NUL or a surrogate, which PostgreSQL text cannot store"
        )
    return text
