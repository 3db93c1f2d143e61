"""Where a chat can be reached: blocked and left chats, and group -> supergroup migration."""

from __future__ import annotations

import logging
from typing import NamedTuple

from ..core import cache, db, sql, validate
from ..core.user_settings import ChatRef, chat_ref
from .clock import now

log = logging.getLogger("tt_storage")


class ChatState(NamedTuple):
    """What the middleware reads for a chat in its one SELECT."""

    lang: str
    file_mode: bool
    blocked: bool


async def get_chat_state(user_id: int, active_day: int | None = None) -> ChatState | None:
    """``(lang, file_mode, blocked)`` in one statement, or ``None`` for an unknown chat. With
    ``active_day`` (a UTC day's start) a known chat is also recorded active that day."""
    chat = validate.chat_id(user_id)
    if active_day is None:
        row = await db.fetchrow(sql.SELECT_SETTINGS, chat)
    else:
        row = await db.fetchrow(sql.SELECT_SETTINGS_ACTIVE, chat, active_day)
    return None if row is None else ChatState(row[0], bool(row[1]), row[2] is not None)


async def mark_blocked(user_id: ChatRef) -> bool:
    """The bot was blocked, kicked or left the chat: stop broadcasting to it.

    One UPDATE; keeps the time of the first block. ``False`` if the chat is unknown.
    """
    chat = chat_ref(user_id)
    changed = await db.execute(sql.MARK_BLOCKED, chat, now())
    # A cached chat would not be re-read, so a message from it could not unblock it.
    cache.invalidate(chat)
    return changed > 0


async def mark_unblocked(user_id: ChatRef) -> bool:
    """The chat can be reached again. One UPDATE; ``False`` if the chat is unknown."""
    changed = await db.execute(sql.MARK_UNBLOCKED, chat_ref(user_id))
    return changed > 0


async def migrate_chat(old_id: int, new_id: int) -> bool:
    """Move a group that became a supergroup to its new id, in one transaction.

    The new id gets the old row's settings, referral, registration time and ad state, and all
    of its download and music history; the old id is deleted. If the new id is already
    registered (its first update came before the migration), the two are merged: the old
    row's values win, the history is moved. The move is recorded: from then on downloads and
    registrations for the old id go to the new one (also those already waiting for the old
    row when the migration commits). Returns ``True`` if this call moved the chat, ``False``
    if there was nothing to move (old id unknown, or already migrated): calling it twice, or
    concurrently, is harmless.
    """
    old = validate.chat_id(old_id, "old_id")
    new = validate.chat_id(new_id, "new_id")
    if old == new:
        raise ValueError("old_id and new_id must differ")
    try:
        async with db.connection() as conn, conn.transaction():
            # Serializes concurrent migrations of the same chat and holds off downloads for
            # the old id; a second caller finds the row gone and returns False.
            locked = await conn.fetch(sql.LOCK_CHATS, sorted((old, new)))
            if old not in {r[0] for r in locked}:
                return False
            row = await conn.fetchrow(sql.MIGRATE_CHAT, old, new, now())
    finally:
        cache.invalidate(old)
        cache.invalidate(new)
    assert row is not None
    log.info(
        "chat %d migrated to %d (%d downloads, %d music moved)",
        old,
        new,
        row["videos"],
        row["music"],
    )
    return bool(row["migrated"])
