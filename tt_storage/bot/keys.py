"""The FSM table's key for an aiogram ``StorageKey``: the storage's rows and the isolation's
locks are named by it."""

from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey


def row_key(key: StorageKey) -> str:
    """The table's key for ``key``: every field, unambiguously (the business connection id is
    length-prefixed, the destiny comes last)."""
    business = key.business_connection_id or ""
    if "\x00" in business or "\x00" in key.destiny:
        raise ValueError("StorageKey text fields cannot contain NUL characters")
    thread = "" if key.thread_id is None else str(int(key.thread_id))
    return (
        f"{int(key.bot_id)}:{int(key.chat_id)}:{int(key.user_id)}:{thread}:"
        f"{len(business)}:{business}:{key.destiny}"
    )
