"""BRANCH-ONLY SHIM of the media services (MEDIA_API.md): replaced by the real ones on merge."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core import db
from ..core.database import current

MediaKey = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MediaFile:
    kind: str
    file_id: str
    file_unique_id: str | None = None


@dataclass(frozen=True, slots=True)
class CachedMedia:
    media_id: int
    bot_id: int
    variant: str
    version: int
    files: tuple[MediaFile, ...]
    metadata: dict[str, Any] | None
    metadata_stale: bool


def normalize_key(key: MediaKey) -> str:
    if isinstance(key, str):
        return key
    return "\x1f".join(key)


_DDL = (
    "CREATE TABLE IF NOT EXISTS shim_media (id BIGSERIAL, key TEXT, bot_id BIGINT, "
    "variant TEXT, version INT NOT NULL DEFAULT 0, files JSONB, metadata JSONB, "
    "live BOOL NOT NULL DEFAULT true, PRIMARY KEY (key, bot_id, variant))"
)


_ready: set[int] = set()


async def _ddl() -> None:
    database = current()
    if id(database) in _ready:
        return
    async with database.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(77)")
        try:
            await conn.execute(_DDL)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(77)")
    _ready.add(id(database))


def _row(row: Any) -> CachedMedia:
    files = tuple(MediaFile(*f) for f in json.loads(row["files"]))
    meta = json.loads(row["metadata"]) if row["metadata"] else None
    return CachedMedia(row["id"], row["bot_id"], row["variant"], row["version"], files, meta, False)


async def lookup_media(
    key: MediaKey, bot_id: int, variant: str, *, metadata_ttl: float | None = None
) -> CachedMedia | None:
    await _ddl()
    row = await db.fetchrow(
        "SELECT * FROM shim_media WHERE key = $1 AND bot_id = $2 AND variant = $3 AND live",
        normalize_key(key),
        bot_id,
        variant,
    )
    return None if row is None else _row(row)


async def store_media(
    key: MediaKey,
    bot_id: int,
    variant: str,
    files: Sequence[MediaFile],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> CachedMedia:
    if not files:
        raise ValueError("files: empty")
    await _ddl()
    row = await db.fetchrow(
        "INSERT INTO shim_media (key, bot_id, variant, version, files, metadata) "
        "VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (key, bot_id, variant) DO UPDATE SET "
        "version = shim_media.version + 1, files = $4, metadata = $5, live = true RETURNING *",
        normalize_key(key),
        bot_id,
        variant,
        json.dumps([[f.kind, f.file_id, f.file_unique_id] for f in files]),
        None if metadata is None else json.dumps(dict(metadata)),
    )
    assert row is not None
    return _row(row)


async def invalidate_media(media: CachedMedia) -> bool:
    n = await db.execute(
        "UPDATE shim_media SET live = false, version = version + 1 "
        "WHERE id = $1 AND version = $2 AND live",
        media.media_id,
        media.version,
    )
    return n == 1
