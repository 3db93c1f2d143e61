"""Checks several test modules share: row counts, rejected calls, settings via a middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiogram.types import Chat, Update, User

from tt_storage import StorageMiddleware, UserSettings


async def table_counts(db: asyncpg.Connection) -> tuple[int, int, int]:
    """Rows in users, videos, music."""
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM videos),"
        " (SELECT count(*) FROM music)"
    )
    assert row is not None
    return row[0], row[1], row[2]


async def assert_rejected(raw: asyncpg.Connection, call: Callable[[], Awaitable[Any]]) -> None:
    """``call`` raises ValueError and writes nothing. For tests on ``raw`` (no TRUNCATE): they
    use chat ids no other test writes, so a wrongly accepted call would add a row."""
    before = await table_counts(raw)
    with pytest.raises(ValueError):
        await call()
    assert await table_counts(raw) == before


async def middleware_settings(mw: StorageMiddleware, chat_id: int) -> UserSettings:
    """What ``mw`` hands a handler for an update of the private chat ``chat_id``, called the
    way aiogram calls it (``event_chat``/``event_from_user`` already in ``data``)."""
    seen: list[UserSettings] = []

    async def handler(_event: Any, data: dict[str, Any]) -> None:
        seen.append(data["user_settings"])

    data: dict[str, Any] = {
        "event_chat": Chat(id=chat_id, type="private"),
        "event_from_user": User(id=chat_id, is_bot=False, first_name="u", language_code="en"),
    }
    await mw(handler, Update(update_id=1), data)
    return seen[0]
