"""The stats bot's numbers, computed in PostgreSQL: quick stats, time series, CSV exports.

Everything is UTC epoch seconds, like the tables: buckets start at multiples of 3600 (hour) or
86400 (day) seconds since 1970-01-01 UTC, never at a local midnight.

Download series (``videos``, ``music``) read an hourly rollup (``tt_storage_hourly``, migration 4)
for the rows it has folded in and count the newer rows live, so a month of daily points costs a
few hundred rollup rows plus the last minutes of downloads instead of millions of index entries.
The rollup is folded here, on read, never by a trigger on insert (downloads stay untouched): a
batch of rows is folded once every transaction that could still add a row below it has ended
(see ``refresh_rollup``). Deleting, truncating or re-timing downloads empties the rollup of that
table (statement triggers), and the next read refolds it: it is never wrong, only cold.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import asyncpg

from ..core import db, sql, validate
from .activity import DAY, ActiveChats, day_start, window_days
from .clock import now
from .stats import chat_range

SeriesKind = Literal[
    "users", "videos", "music", "cache_hits", "cache_misses", "active", "returning"
]
Bucket = Literal["hour", "day"]

#: Bucket widths in seconds.
BUCKETS: dict[str, int] = {"hour": 3_600, "day": 86_400}
SERIES_KINDS = ("users", "videos", "music", "cache_hits", "cache_misses", "active", "returning")
#: The kinds counted per UTC day only (``tt_storage.services.activity``).
DAILY_KINDS = ("active", "returning")
#: The stats bot's windows, in seconds (0: all time).
PERIODS: dict[str, int] = {"24h": 86_400, "week": 604_800, "month": 2_678_400, "all": 0}

#: Seconds a batch waits, after every transaction older than it ended, before it is folded.
ROLLUP_SETTLE = 60
#: Rows folded per transaction, and at most per series read (``refresh_rollup`` has no cap).
ROLLUP_BATCH = 1_000_000
ROLLUP_READ_BUDGET = 2_000_000
#: Rows per chunk handed to the CSV writer.
CSV_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class QuickStats:
    """The stats bot's overview of one window: counts and the chats behind them.

    The ``*active*`` figures count whole UTC days ending today (``ActiveChats``): for 24 h,
    the chats active today; ``returning_chats`` were registered before the window, ``retention``
    is the share of the previous window's active chats active again in this one (``None`` for
    all time, or when the previous window had none).
    """

    new_chats: int
    videos: int
    video_chats: int
    images: int
    image_chats: int
    music: int
    music_chats: int
    #: Downloads (videos and music) sent from the media cache's file_ids: each one a produce
    #: (extract, download, upload) the cache saved.
    cache_hits: int = 0
    #: Downloads through the cache that had to be produced (and then stored).
    cache_misses: int = 0

    @property
    def cache_hit_rate(self) -> float | None:
        """``cache_hits / (cache_hits + cache_misses)``; ``None`` with no download through the
        cache in the window."""
        through = self.cache_hits + self.cache_misses
        return None if through == 0 else self.cache_hits / through

    @property
    def produce_calls_saved(self) -> int:
        """How many times the bot did not have to produce the media: the hits."""
        return self.cache_hits

    active_chats: int = 0
    new_active_chats: int = 0
    returning_chats: int = 0
    previous_active_chats: int = 0
    retained_chats: int = 0
    retention: float | None = None


async def _planned(conn: asyncpg.Connection, statement: str, *args: Any) -> list[asyncpg.Record]:
    """Run ``statement`` with a plan made for these very values (two round trips).

    A statement from the driver's cache turns into a *generic* plan after five runs when its
    earlier plans looked expensive (a month, all time), and a generic plan cannot see which
    window ``$1`` is: for 24 h it walks the whole chat index, for a warm series the whole
    month. A statement prepared for this call alone is always planned for its values.
    """
    prepared = await conn.prepare(statement)
    return list(await prepared.fetch(*args))


async def get_quick_stats(period: int = 0, chat_type: str = "all") -> QuickStats:
    """Quick stats of the last ``period`` seconds (0: all time, rows without a timestamp too)
    for ``chat_type`` ``all``, ``users`` (id > 0) or ``groups`` (id < 0).

    Two statements (downloads, active chats), side by side on two connections."""
    low, high = chat_range(chat_type)
    validate.positive_int(period, "period")

    async def downloads() -> list[asyncpg.Record]:
        async with db.read_connection() as conn:
            if period == 0:
                return await _planned(conn, sql.QUICK_STATS_ALL, low, high)
            return await _planned(conn, sql.QUICK_STATS_SINCE, now() - period, low, high)

    async def active_chats() -> ActiveChats:
        async with db.read_connection() as conn:
            return await _active_chats(conn, period, low, high)

    rows, active = await asyncio.gather(downloads(), active_chats())
    counts = {k: int(v) for k, v in dict(rows[0]).items()}
    return QuickStats(
        **counts,
        active_chats=active.active_chats,
        new_active_chats=active.new_active_chats,
        returning_chats=active.returning_chats,
        previous_active_chats=active.previous_active_chats,
        retained_chats=active.retained_chats,
        retention=active.retention,
    )


async def get_active_chats(period: int = DAY, chat_type: str = "all") -> ActiveChats:
    """Chats active in the UTC days of the last ``period`` seconds (today included: 24 h is
    today, a week 7 days, a month 31; 0: all time), new and returning, and the retention from
    the window before. One statement."""
    low, high = chat_range(chat_type)
    validate.positive_int(period, "period")
    async with db.read_connection() as conn:
        return await _active_chats(conn, period, low, high)


async def _active_chats(conn: asyncpg.Connection, period: int, low: int, high: int) -> ActiveChats:
    if period == 0:
        rows = await _planned(conn, sql.ACTIVE_STATS_ALL, low, high)
        n = int(rows[0][0])
        return ActiveChats(0, n, n, 0, 0)
    days = window_days(period)
    start = day_start(now()) - (days - 1) * DAY
    async with conn.transaction(readonly=True):
        await conn.execute(sql.ACTIVE_STATS_SETTINGS)
        rows = await _planned(conn, sql.ACTIVE_STATS, start, start - days * DAY, low, high)
    row = rows[0]
    return ActiveChats(
        days,
        int(row["active_chats"]),
        int(row["new_active_chats"]),
        int(row["previous_active_chats"]),
        int(row["retained_chats"]),
    )


def _bucket_start(t: int, width: int) -> int:
    return t - t % width  # Python's % floors: right for negative t too


async def get_time_series(kind: str, period: int, bucket: str) -> list[tuple[int, int]]:
    """``[(bucket_start, count), …]`` of new chats (``users``), downloads (``videos``,
    ``music``) or downloads sent through the media cache (videos and music) from its file_ids
    (``cache_hits``: the produce calls it saved) or produced (``cache_misses``) per ``hour`` or
    ``day`` (UTC), or active chats (``active``; ``returning``: of them, those registered before
    that day) per ``day``, oldest first.

    Every bucket that overlaps the last ``period`` seconds is returned and counted whole, from
    the one holding ``now - period`` up to the current, still filling one; empty buckets are
    there with 0. ``period`` 0 starts at the first row's bucket (``[]`` when the table has no
    timestamped row). Rows without a timestamp are never in a series.
    """
    if kind not in SERIES_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SERIES_KINDS)}, not {kind!r}")
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
    if kind in DAILY_KINDS and bucket != "day":
        raise ValueError(f"{kind} chats are recorded per UTC day: use bucket 'day'")
    width = BUCKETS[bucket]
    current = now()
    if validate.positive_int(period, "period") == 0:
        first = await db.read_fetchval(
            sql.SERIES_FIRST_ACTIVE if kind in DAILY_KINDS else sql.SERIES_FIRST[_first_table(kind)]
        )
        if first is None:
            return []
        since = min(int(first), current)
    else:
        since = current - period
    start, end = _bucket_start(since, width), _bucket_start(current, width) + width
    if kind == "users" or kind in DAILY_KINDS:
        statement = sql.USERS_SERIES if kind == "users" else sql.ACTIVE_SERIES[kind]
        async with db.read_connection() as conn:
            rows = await _planned(conn, statement, start, end, width)
        return [(r[0], r[1]) for r in rows]
    parts = (
        [(kind, sql.ROLLUP_SERIES[kind])]
        if kind in ("videos", "music")
        else [(t, sql.CACHE_SERIES[kind.removeprefix("cache_"), t]) for t in ("videos", "music")]
    )
    for table, _ in parts:
        await _fold(table, ROLLUP_READ_BUDGET)
    # The fold marks and the rows in one snapshot: a concurrent fold cannot count a row twice.
    counts: dict[int, int] = {}
    async with (
        db.read_connection() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        for table, statement in parts:
            folded = await conn.fetchval(sql.ROLLUP_FOLDED, table) or 0
            for t, n in await _planned(conn, statement, start, end, width, folded):
                counts[t] = counts.get(t, 0) + n
    return sorted(counts.items())


def _first_table(kind: str) -> str:
    """The table whose first row starts an all-time series of ``kind``."""
    return kind if kind in ("users", "videos", "music") else "cache"


# --- the hourly rollup ------------------------------------------------------------------------


async def refresh_rollup(kind: str | None = None) -> int:
    """Fold every foldable download into the hourly rollup; return how many rows were folded.

    Reads do this as they go (at most ``ROLLUP_READ_BUDGET`` rows each), so calling it is never
    needed for correct numbers; it makes the first read after a bulk load fast (say from cron).
    A batch becomes foldable ``ROLLUP_SETTLE`` seconds after it was first seen, once every
    transaction running at that moment has ended: until then its rows are counted live.
    """
    kinds = ("videos", "music") if kind is None else (kind,)
    for k in kinds:
        if k not in ("videos", "music"):
            raise ValueError(f"kind must be 'videos' or 'music', not {k!r}")
    return sum([await _fold(k, None) for k in kinds])


async def _fold(table: str, budget: int | None) -> int:
    folded_rows = 0
    while budget is None or folded_rows < budget:
        async with db.connection() as conn, conn.transaction():
            await conn.execute(sql.ROLLUP_LOCK[table])
            await conn.execute(sql.ROLLUP_ADVISORY_LOCK, table)
            state = await conn.fetchrow(sql.ROLLUP_STATE, table, now(), ROLLUP_SETTLE)
            if state is None or state["pending_pk"] is None:
                # Nothing seen yet (or all of it folded): note what is there now, fold it later.
                await conn.execute(sql.ROLLUP_OBSERVE[table], now())
                return folded_rows
            if not state["ripe"]:
                return folded_rows
            low, pending = int(state["folded_pk"]), int(state["pending_pk"])
            high = min(pending, low + ROLLUP_BATCH)
            await conn.execute(sql.ROLLUP_FOLD[table], low, high)
            folded_rows += high - low
            if high == pending:
                await conn.execute(sql.ROLLUP_OBSERVE[table], now())
                return folded_rows
    return folded_rows


# --- CSV exports --------------------------------------------------------------------------------


class TextWriter(Protocol):
    """Anything with ``write(str)``: a text file, ``sys.stdout``, ``io.StringIO`` — or an async
    writer whose ``write`` returns an awaitable (it is awaited)."""

    def write(self, text: str, /) -> Any: ...


Progress = Callable[[int], Any]

HISTORY_HEADER = (
    "downloaded_at",
    "downloaded_at_utc",
    "video_link",
    "is_images",
    "is_processed",
    "is_inline",
)
USERS_HEADER = (
    "user_id",
    "chat_type",
    "registered_at",
    "registered_at_utc",
    "lang",
    "link",
    "file_mode",
    "blocked_at",
)


def utc(ts: int | None) -> str:
    """``2024-05-01T12:00:00Z`` for epoch seconds; empty for ``None``."""
    return "" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _flag(value: bool) -> str:
    return "true" if value else "false"


async def _write(out: TextWriter, text: str) -> None:
    result = out.write(text)
    if inspect.isawaitable(result):
        await result


async def _export(
    out: TextWriter,
    header: tuple[str, ...],
    statement: str,
    args: tuple[Any, ...],
    row_to_csv: Callable[[Any], list[Any]],
    progress: Progress | None,
) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    written = 0
    async for row in db.read_stream(statement, *args, prefetch=CSV_CHUNK):
        writer.writerow(row_to_csv(row))
        written += 1
        if written % CSV_CHUNK == 0:
            await _flush(out, buffer, written, progress)
    await _flush(out, buffer, written, progress)
    return written


async def _flush(
    out: TextWriter, buffer: io.StringIO, written: int, progress: Progress | None
) -> None:
    text = buffer.getvalue()
    if text:
        await _write(out, text)
        buffer.seek(0)
        buffer.truncate()
    if progress is not None:
        result = progress(written)
        if inspect.isawaitable(result):
            await result


async def export_user_history(
    user_id: int, out: TextWriter, *, progress: Progress | None = None
) -> int:
    """Write a chat's downloads to ``out`` as CSV, oldest first; return the number of rows.

    Columns: ``downloaded_at`` (epoch seconds, empty for old rows without one),
    ``downloaded_at_utc`` (ISO 8601), ``video_link``, ``is_images``, ``is_processed``,
    ``is_inline`` (``true``/``false``), after a header row. Rows stream through a server-side
    cursor and reach ``out`` in chunks of ``CSV_CHUNK``; ``progress(rows_so_far)`` is called
    after each chunk.
    """
    chat = validate.chat_id(user_id)
    return await _export(
        out,
        HISTORY_HEADER,
        sql.EXPORT_USER_HISTORY,
        (chat,),
        lambda r: [r[0], utc(r[0]), r[1], _flag(r[2]), _flag(r[3]), _flag(r[4])],
        progress,
    )


async def export_users(
    out: TextWriter, *, chat_type: str = "all", progress: Progress | None = None
) -> int:
    """Write every chat (of ``chat_type``) to ``out`` as CSV by id; return the number of rows.

    Columns: ``user_id``, ``chat_type`` (``user``/``group``), ``registered_at``,
    ``registered_at_utc``, ``lang``, ``link``, ``file_mode``, ``blocked_at`` (empty for NULL).
    Streamed like ``export_user_history``.
    """
    low, high = chat_range(chat_type)
    return await _export(
        out,
        USERS_HEADER,
        sql.EXPORT_USERS,
        (low, high),
        lambda r: [
            r[0],
            "user" if r[0] > 0 else "group",
            r[1],
            utc(r[1]),
            r[2],
            r[3],
            _flag(r[4]),
            r[5],
        ],
        progress,
    )
