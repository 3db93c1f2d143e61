"""The media cache's admin reads: top media by use, the cache's size (hit rates are in
``get_quick_stats`` and ``get_time_series``). They read from the replica when one is set."""

from __future__ import annotations

from dataclasses import dataclass

from ..core import db, sql_media, validate
from .clock import now


@dataclass(frozen=True, slots=True)
class TopMedia:
    """One media entry and how often it was used."""

    media_id: int
    #: The normalized key (``tt_storage.media.media_key``); ``None`` once pruned.
    key: str | None
    #: Downloads recorded with it (all time: its use count).
    uses: int
    #: Of those, sent from cached file_ids; ``None`` all time (the count is not kept per entry).
    hits: int | None


@dataclass(frozen=True, slots=True)
class CacheSize:
    entries: int
    #: Live sets of file_ids (per entry, bot and variant; invalidated ones not counted).
    file_sets: int
    #: Both tables with their indexes, on disk.
    bytes: int


async def get_top_media(limit: int = 10, *, period: int = 0) -> list[TopMedia]:
    """The most used media: all time by the entries' use counts (``period`` 0, a scan of the
    entries), else by the downloads of the last ``period`` seconds (through the time indexes)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError("limit must be an int from 1 to 1000")
    if validate.positive_int(period, "period") == 0:
        rows = await db.read_fetch(sql_media.MEDIA_TOP_ALL, limit)
    else:
        rows = await db.read_fetch(sql_media.MEDIA_TOP_SINCE, now() - period, limit)
    return [TopMedia(r["media_id"], r["key"], r["uses"], r["hits"]) for r in rows]


async def get_cache_size() -> CacheSize:
    """Entries and live file sets (exact counts: index scans at most) and bytes on disk."""
    row = await db.read_fetchrow(sql_media.MEDIA_CACHE_SIZE)
    assert row is not None
    return CacheSize(row["entries"], row["file_sets"], row["bytes"])
