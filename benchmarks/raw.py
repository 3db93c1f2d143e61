"""The limit: raw asyncpg on its own pool, the fewest round trips by hand, no checks.

Each operation is the least SQL that does the job on PostgreSQL 15 (one statement where one
statement can do it), with none of tt-storage's extras: no argument validation, no bounded
acquire, no error translation, no registration of unknown chats inside the download.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

SELECT_SETTINGS = "SELECT lang, file_mode FROM users WHERE user_id = $1"

INSERT_USER = (
    "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown) "
    "VALUES ($1, $2, $3, $4, false, 0, 0) ON CONFLICT (user_id) DO NOTHING"
)

# The ad decision on the locked row, the ad columns updated and the video row added: one
# statement, one round trip. $1 chat, $2 now, $3 link, $4 is_images, $5 is_processed.
PRIVATE_DOWNLOAD = (
    "WITH cur AS (SELECT user_id, (ad_count >= 3 OR ad_cooldown < $2) AS show"
    " FROM users WHERE user_id = $1 FOR NO KEY UPDATE), "
    "ad AS (UPDATE users u SET"
    " ad_count = CASE WHEN cur.show THEN 1 ELSE u.ad_count + 1 END,"
    " ad_cooldown = CASE WHEN cur.show THEN $2::bigint + 86400 ELSE u.ad_cooldown END"
    " FROM cur WHERE u.user_id = cur.user_id RETURNING cur.show), "
    "ins AS (INSERT INTO videos"
    " (user_id, downloaded_at, video_link, is_images, is_processed, is_inline)"
    " VALUES ($1, $2, $3, $4, $5, false)) "
    "SELECT show FROM ad"
)

INSERT_MUSIC = "INSERT INTO music (user_id, downloaded_at, video_id) VALUES ($1, $2, $3)"

TOGGLE_MODE = "UPDATE users SET file_mode = NOT file_mode WHERE user_id = $1 RETURNING file_mode"

LOCALES = frozenset({"ar", "en", "hi", "id", "ru", "so", "uk", "vi"})


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release, as tt-storage does: the limit is one round trip
    per statement, not two."""


async def create_pool(dsn: str, max_size: int) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=max_size, reset=_no_reset
    )
    return pool


def start_payload(text: str | None) -> str | None:
    """The lowercased payload of ``/start <payload>``."""
    if not text or not text.startswith("/start"):
        return None
    words = text.split()
    return words[1].lower() if len(words) > 1 else None


class RawMiddleware(BaseMiddleware):
    """The same job as ``StorageMiddleware`` with no cache: SELECT, INSERT if unknown."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = data.get("event_chat")
        user = data.get("event_from_user")
        chat_id = chat.id if chat is not None else user.id if user is not None else None
        settings = None
        if chat_id is not None:
            row = await self.pool.fetchrow(SELECT_SETTINGS, chat_id)
            if row is None:
                code = user.language_code if user is not None else None
                lang = code if code in LOCALES else "en"
                message = getattr(event, "message", None)
                link = start_payload(message.text) if message is not None else None
                await self.pool.execute(INSERT_USER, chat_id, int(time.time()), lang, link)
                settings = (lang, False)
            else:
                settings = (row[0], row[1])
        data["user_settings"] = settings
        return await handler(event, data)


async def private_download(pool: asyncpg.Pool, chat_id: int, link: str) -> bool:
    return bool(
        await pool.fetchval(PRIVATE_DOWNLOAD, chat_id, int(time.time()), link, False, False)
    )


async def add_music(pool: asyncpg.Pool, chat_id: int, video_id: int) -> None:
    await pool.execute(INSERT_MUSIC, chat_id, int(time.time()), video_id)


async def toggle_mode(pool: asyncpg.Pool, chat_id: int) -> bool | None:
    value = await pool.fetchval(TOGGLE_MODE, chat_id)
    return None if value is None else bool(value)
