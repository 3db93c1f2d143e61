"""The media cache's database side: a source key's Telegram files per bot and variant.

A bot keys each piece of media by its source (``("tiktok", "7321…")`` or a normalized URL);
per bot and variant it keeps the ordered file_ids of its last upload, with a version for
compare-and-swap invalidation, and per key the metadata and its refresh time. Every call is one
statement (one round trip); every argument is checked before any SQL (``ValueError``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..core import db, sql_media, validate
from .clock import now

MediaKey = str | tuple[str, ...]

#: The kinds of file a set may hold (what aiogram sends them as).
KINDS: Final = frozenset({"video", "photo", "audio", "document", "animation", "voice"})
#: The normalized key's longest UTF-8 form: well inside a B-tree entry (about 2.7 kB).
MAX_KEY_BYTES: Final = 2000
MAX_KEY_PARTS: Final = 16
MAX_VARIANT_LENGTH: Final = 64
#: Files of one set (a slideshow is sent as albums of 10; the CHECK of migration 9 agrees).
MAX_FILES: Final = 100
MAX_FILE_ID_LENGTH: Final = 512
#: The longest metadata, as JSON text.
MAX_METADATA_BYTES: Final = 64 * 1024
#: ``lookup_media``'s metadata TTL when neither the call nor the ``Storage`` gives one: 24 h.
DEFAULT_METADATA_TTL: Final = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One Telegram file of a set, in sending order."""

    kind: str
    file_id: str
    file_unique_id: str | None = None


@dataclass(frozen=True, slots=True)
class CachedMedia:
    """A key's file set for one bot and variant, as stored (``version`` for invalidation)."""

    media_id: int
    bot_id: int
    variant: str
    version: int
    files: tuple[MediaFile, ...]
    metadata: dict[str, Any] | None
    #: The metadata is older than the TTL (or absent): serve the files, refresh it meanwhile.
    metadata_stale: bool


# --- checks: a clear ValueError before any SQL ---------------------------------------------------


def _part(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a media key part must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError("a media key part must not be empty")
    if "\x00" in value:
        raise ValueError("a media key part must not contain NUL characters")
    # Unambiguous join: ("a:b", "c") and ("a", "b:c") stay apart, and a str key is the
    # one-part tuple (so "tiktok:1" is not ("tiktok", "1")).
    return value.replace("\\", "\\\\").replace(":", "\\:")


def media_key(key: Any) -> str:
    """``key`` (a str, or a tuple of str parts) as the one TEXT key stored; ``ValueError`` for
    anything else, an empty part, or over ``MAX_KEY_BYTES``."""
    if isinstance(key, str):
        parts: tuple[Any, ...] = (key,)
    elif isinstance(key, tuple):
        parts = key
    else:
        raise ValueError(f"a media key must be a str or a tuple of str, not {type(key).__name__}")
    if not 1 <= len(parts) <= MAX_KEY_PARTS:
        raise ValueError(f"a media key has 1 to {MAX_KEY_PARTS} parts, got {len(parts)}")
    text = ":".join(_part(p) for p in parts)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"a media key is not valid Unicode text: {exc.reason}") from None
    if size > MAX_KEY_BYTES:
        raise ValueError(f"a media key is at most {MAX_KEY_BYTES} bytes as UTF-8, got {size}")
    return text


def _bot_id(value: Any) -> int:
    bot_id = validate.chat_id(value, "bot_id")
    if bot_id <= 0:
        raise ValueError("bot_id must be a positive int (the bot's user id)")
    return bot_id


def _variant(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"variant must be a str, not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_VARIANT_LENGTH or "\x00" in value:
        raise ValueError(f"variant must be 1 to {MAX_VARIANT_LENGTH} characters, without NUL")
    return validate.text(value, "variant")


def _file_text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, not {type(value).__name__}")
    if not 1 <= len(value) <= limit or "\x00" in value or not value.isascii():
        raise ValueError(f"{name} must be 1 to {limit} ASCII characters")
    return value


def _files_json(files: Any) -> str:
    """The set as the JSON text stored; every file checked (nothing stored half)."""
    if isinstance(files, str | bytes | MediaFile | Mapping) or not isinstance(files, Sequence):
        raise ValueError("files must be a sequence of MediaFile")
    if not 1 <= len(files) <= MAX_FILES:
        raise ValueError(f"files must hold 1 to {MAX_FILES} MediaFile, got {len(files)}")
    out = []
    for i, f in enumerate(files):
        if not isinstance(f, MediaFile):
            raise ValueError(f"files[{i}] must be a MediaFile, not {type(f).__name__}")
        if f.kind not in KINDS:
            raise ValueError(f"files[{i}].kind must be one of {sorted(KINDS)}, got {f.kind!r}")
        unique = f.file_unique_id
        out.append(
            {
                "kind": f.kind,
                "file_id": _file_text(f.file_id, f"files[{i}].file_id", MAX_FILE_ID_LENGTH),
                "file_unique_id": None
                if unique is None
                else _file_text(unique, f"files[{i}].file_unique_id", MAX_FILE_ID_LENGTH),
            }
        )
    return json.dumps(out, separators=(",", ":"))


def _metadata_json(metadata: Any) -> str:
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a mapping, not {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be JSON (no NaN or infinity): {exc}") from None
    # JSONB rejects \u0000, and text with lone surrogates has no UTF-8 form.
    if "\\u0000" in text:
        raise ValueError("metadata must not contain NUL characters")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"metadata is not valid Unicode text: {exc.reason}") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is at most {MAX_METADATA_BYTES} bytes as JSON, got {size}")
    return text


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds")
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return float(value)


# --- reading rows --------------------------------------------------------------------------------


def _files(text: str) -> tuple[MediaFile, ...]:
    return tuple(MediaFile(f["kind"], f["file_id"], f["file_unique_id"]) for f in json.loads(text))


def _stale(metadata_at: int | None, ttl: float, at: int) -> bool:
    return metadata_at is None or at - metadata_at >= ttl


def _ttl(metadata_ttl: Any) -> float:
    if metadata_ttl is None:
        metadata_ttl = getattr(db.current(), "media_metadata_ttl", DEFAULT_METADATA_TTL)
    return _seconds(metadata_ttl, "metadata_ttl")


# --- the services --------------------------------------------------------------------------------


async def lookup_media(
    key: MediaKey, bot_id: int, variant: str, *, metadata_ttl: float | None = None
) -> CachedMedia | None:
    """The key's file set for ``bot_id`` and ``variant``, or ``None`` (never stored, or
    invalidated). One round trip, a pure read: the use is counted when the download is recorded
    (``track_download(media_id=…)``).

    ``metadata_stale`` says the metadata is older than ``metadata_ttl`` seconds (default: the
    ``Storage``'s ``media_metadata_ttl``, else 24 h) or absent: the files are served all the
    same; refresh it with ``refresh_media_metadata``.
    """
    text, bot, name = media_key(key), _bot_id(bot_id), _variant(variant)
    ttl = _ttl(metadata_ttl)
    row = await db.fetchrow(sql_media.MEDIA_LOOKUP, text, bot, name)
    if row is None:
        return None
    media_id, version, files, metadata, metadata_at = row
    return CachedMedia(
        media_id=media_id,
        bot_id=bot,
        variant=name,
        version=version,
        files=_files(files),
        metadata=None if metadata is None else json.loads(metadata),
        metadata_stale=_stale(metadata_at, ttl, now()),
    )


async def store_media(
    key: MediaKey,
    bot_id: int,
    variant: str,
    files: Sequence[MediaFile],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> CachedMedia:
    """Store ``files`` as the key's set for ``bot_id`` and ``variant``, replacing any older one
    (its version + 1); ``metadata`` replaces the key's (``None`` keeps it). One statement: the
    entry and its set are written together or not at all."""
    text, bot, name = media_key(key), _bot_id(bot_id), _variant(variant)
    files_text = _files_json(files)
    metadata_text = None if metadata is None else _metadata_json(metadata)
    at = now()
    row = await db.fetchrow(sql_media.MEDIA_STORE, text, bot, name, files_text, metadata_text, at)
    assert row is not None
    media_id, version, stored_metadata, metadata_at = row
    return CachedMedia(
        media_id=media_id,
        bot_id=bot,
        variant=name,
        version=version,
        files=_files(files_text),
        metadata=None if stored_metadata is None else json.loads(stored_metadata),
        metadata_stale=_stale(metadata_at, _ttl(None), at),
    )


async def invalidate_media(media: CachedMedia) -> bool:
    """Drop the set ``media`` was read from, if it is still that set (compare-and-swap on its
    version): ``False`` if a newer set was stored since (it is kept) or it is gone already."""
    if not isinstance(media, CachedMedia):
        raise ValueError(f"media must be a CachedMedia, not {type(media).__name__}")
    version = validate.chat_id(media.version, "version")
    count = await db.execute(
        sql_media.MEDIA_INVALIDATE,
        validate.chat_id(media.media_id, "media_id"),
        _bot_id(media.bot_id),
        _variant(media.variant),
        version,
        now(),
    )
    return count == 1


async def refresh_media_metadata(key: MediaKey, metadata: Mapping[str, Any]) -> bool:
    """Replace the key's metadata (its refresh time: now); the file sets stay. ``False`` if the
    key has no entry."""
    text, metadata_text = media_key(key), _metadata_json(metadata)
    return await db.execute(sql_media.MEDIA_REFRESH_METADATA, text, metadata_text, now()) == 1


#: ``prune_media``'s progress callback: the entries deleted so far.
PruneProgress = Callable[[int], None]


async def prune_media(
    unused_for: float, *, batch: int = 1000, progress: PruneProgress | None = None
) -> int:
    """Delete the entries (and their file sets) whose last use is ``unused_for`` seconds ago or
    more, ``batch`` at a time (one short statement each, through the index on last_used_at);
    return how many. History rows keep their ``media_id`` (ids are never reused).

    ``last_used_at`` moves on with a recorded download only once it is an hour old, so an entry
    may go up to an hour earlier than ``unused_for`` says.
    """
    seconds = _seconds(unused_for, "unused_for")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 100_000:
        raise ValueError("batch must be an int from 1 to 100000")
    cutoff = now() - int(seconds)
    total = 0
    while True:
        deleted = await db.execute(sql_media.MEDIA_PRUNE, cutoff, batch)
        total += deleted
        if progress is not None and deleted:
            progress(total)
        if deleted < batch:
            return total
