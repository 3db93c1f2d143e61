"""Chats and their settings."""

from __future__ import annotations

from ..core import cache, db, sql, validate
from ..core.models import Users
from ..core.user_settings import DEFAULT_LANG, ChatRef, chat_ref
from .clock import now


async def get_user(user_id: int) -> Users | None:
    """The chat's row, or ``None``."""
    row = await db.fetchrow(sql.SELECT_USER, validate.chat_id(user_id))
    return None if row is None else Users._init_from_db(**row)


async def register_user(
    user_id: int, lang: str = DEFAULT_LANG, link: str | None = None
) -> tuple[Users, bool]:
    """Register the chat unless it exists; return its stored row and whether this call made it.

    A group migrated to a supergroup is never registered again under its old id: the
    supergroup's row is returned (``row.user_id`` is the new id).
    """
    return await register_chat(user_id, lang, link)


async def register_chat(
    user_id: int, lang: str = DEFAULT_LANG, link: str | None = None, active_day: int | None = None
) -> tuple[Users, bool]:
    """``register_user``; with ``active_day`` (a UTC day's start) the chat is also recorded
    active that day, in the same statement (the middleware's registration)."""
    chat = validate.chat_id(user_id)
    registered_at = now()
    lang = validate.lang(lang)
    link = validate.optional_text(link, "link")
    statement, day = (
        (sql.REGISTER_USER, ()) if active_day is None else (sql.REGISTER_ACTIVE_USER, (active_day,))
    )
    async with db.connection() as conn:
        row = await db.fetchrow_resolved(conn, statement, chat, registered_at, lang, link, *day)
    assert row is not None  # the upsert always returns the row
    values = dict(row)
    inserted = bool(values.pop("inserted"))
    return Users._init_from_db(**values), inserted


async def create_user(user_id: int, lang: str, link: str | None = None) -> Users:
    """Register the chat; an already registered chat is returned unchanged (never an error)."""
    user, _ = await register_user(user_id, lang, link)
    return user


async def get_user_settings(user_id: int) -> tuple[str, bool] | None:
    """``(lang, file_mode)``, or ``None`` for an unknown chat."""
    row = await db.fetchrow(sql.SELECT_SETTINGS, validate.chat_id(user_id))
    return None if row is None else (row[0], bool(row[1]))


async def update_user_mode(user_id: ChatRef, file_mode: bool) -> bool:
    """Set file mode; ``False`` if the chat is unknown."""
    chat = chat_ref(user_id)
    changed = await db.execute(sql.UPDATE_MODE, chat, validate.flag(file_mode, "file_mode"))
    cache.invalidate(chat)
    return changed > 0


async def update_user_lang(user_id: ChatRef, lang: str) -> bool:
    """Set the language; ``False`` if the chat is unknown."""
    chat = chat_ref(user_id)
    changed = await db.execute(sql.UPDATE_LANG, chat, validate.lang(lang))
    cache.invalidate(chat)
    return changed > 0


async def toggle_file_mode(user_id: ChatRef) -> bool | None:
    """Flip file mode atomically; return the new value, ``None`` for an unknown chat."""
    chat = chat_ref(user_id)
    value = await db.fetchval(sql.TOGGLE_MODE, chat)
    cache.invalidate(chat)
    return None if value is None else bool(value)
