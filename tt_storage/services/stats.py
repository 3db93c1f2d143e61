"""Reads for the admin side: per-chat stats, top lists, and streams of ids and history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

from ..core import db, sql, validate
from ..core.models import Users
from .clock import now

ChatType = Literal["all", "users", "groups"]

#: How many rows the seed's top lists return.
TOP_N = 10

_CHAT_RANGES: dict[str, tuple[int, int]] = {
    "all": (validate.MIN_CHAT_ID, validate.MAX_CHAT_ID),
    "users": (1, validate.MAX_CHAT_ID),
    "groups": (validate.MIN_CHAT_ID, -1),
}


def chat_range(chat_type: str) -> tuple[int, int]:
    """The chat id range of ``all``, ``users`` (id > 0) or ``groups`` (id < 0)."""
    try:
        return _CHAT_RANGES[chat_type]
    except (KeyError, TypeError):
        raise ValueError(
            f"chat_type must be 'all', 'users' or 'groups', not {chat_type!r}"
        ) from None


async def get_user_stats(user_id: int) -> tuple[Users | None, int, int]:
    """``(user, videos, images)`` in one query; ``(None, 0, 0)`` for an unknown chat."""
    row = await db.read_fetchrow(sql.USER_STATS, validate.chat_id(user_id))
    if row is None:
        return None, 0, 0
    values = dict(row)
    videos, images = values.pop("videos"), values.pop("images")
    return Users._init_from_db(**values), videos, images


async def get_stats_by_period(period: int = 0, chat_type: str = "all") -> list[tuple[int, str]]:
    """``[(downloaded_at, video_link), …]`` of the last ``period`` seconds (0: all time)."""
    low, high = chat_range(chat_type)
    since = None if validate.positive_int(period, "period") == 0 else now() - period
    rows = await db.read_fetch(sql.STATS_BY_PERIOD, since, low, high)
    return [(r[0], r[1]) for r in rows]


async def get_referral_stats() -> list[tuple[str, int]]:
    """The top 10 referral links with their chat counts."""
    return [(r[0], r[1]) for r in await db.read_fetch(sql.REFERRAL_STATS, TOP_N)]


async def get_file_mode_count() -> int:
    """How many chats have file mode on."""
    return int(await db.read_fetchval(sql.FILE_MODE_COUNT))


async def get_language_stats() -> list[tuple[str, int]]:
    """Every language with its chat count, most used first."""
    return [(r[0], r[1]) for r in await db.read_fetch(sql.LANGUAGE_STATS)]


async def get_top_users(limit: int = TOP_N) -> list[tuple[int, int]]:
    """The chats with the most video downloads: ``[(user_id, downloads), …]``."""
    rows = await db.read_fetch(sql.TOP_USERS, validate.positive_int(limit, "limit"))
    return [(r[0], r[1]) for r in rows]


async def get_other_stats() -> tuple[int, list[tuple[str, int]], list[tuple[int, int]]]:
    """``(file_mode_count, languages, top_users)``: three queries, run side by side."""
    file_mode, languages, top = await asyncio.gather(
        get_file_mode_count(), get_language_stats(), get_top_users()
    )
    return file_mode, languages, top


async def iter_user_ids(
    only_positive: bool = True,
    batch_size: int = 10_000,
    include_blocked: bool = False,
    *,
    start_after: int | None = None,
) -> AsyncIterator[int]:
    """Every chat id in ascending order, a page at a time (constant memory, no long transaction).

    Blocked and left chats are skipped unless ``include_blocked``; ``start_after`` resumes
    after that id (exclusive).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("batch_size must be a positive int")
    every = validate.flag(include_blocked, "include_blocked")
    statement = sql.USER_IDS_PAGE if every else sql.ACTIVE_USER_IDS_PAGE
    low, high = chat_range("users" if only_positive else "all")
    after = low - 1
    if start_after is not None:
        after = max(after, validate.chat_id(start_after, "start_after"))
    while True:
        page = await db.read_fetch(statement, after, high, batch_size)
        for row in page:
            yield row[0]
        if len(page) < batch_size:
            return
        after = page[-1][0]


async def get_user_ids(only_positive: bool = True, include_blocked: bool = False) -> list[int]:
    """Every chat id (only users, id > 0, by default; without blocked and left chats)."""
    return [chat async for chat in iter_user_ids(only_positive, include_blocked=include_blocked)]


async def iter_user_videos(
    user_id: int, prefetch: int = 1_000
) -> AsyncIterator[tuple[int | None, str]]:
    """A chat's downloads, oldest first, streamed through a server-side cursor."""
    chat = validate.chat_id(user_id)
    async for row in db.read_stream(sql.USER_VIDEOS, chat, prefetch=prefetch):
        yield row[0], row[1]


async def get_user_videos(user_id: int) -> list[tuple[int | None, str]]:
    """A chat's downloads ``[(downloaded_at, video_link), …]``, oldest first."""
    return [item async for item in iter_user_videos(user_id)]
