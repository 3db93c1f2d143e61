"""The media cache: a repeated link is answered from Telegram's file_ids, per bot and variant.

The database side (no aiogram): ``lookup_media``, ``store_media``, ``invalidate_media``,
``refresh_media_metadata``, ``prune_media``, and downloads linked to an entry through
``track_download(..., media_id=..., cache_hit=...)`` (also ``add_video``/``add_music``). Each
runs on the current ``Storage`` and is also a ``Storage`` method.

The sending side: ``send_cached`` (and ``answer_inline_cached`` for inline mode) send a key's
stored file_ids, or run the bot's ``produce`` once across every process on the database
(``media_flight``), upload and store. Those two import aiogram when first used; the rest of
this module does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .bot.media_types import (
    ALBUM_LIMIT,
    DEAD_FILE_ID_TEXTS,
    Caption,
    MediaItem,
    MediaKind,
    MediaProduceError,
    Produce,
    Produced,
    Sent,
    album_chunks,
    dead_file_id,
)
from .services.flight import DEFAULT_WAIT, Flight, media_flight
from .services.media import (
    DEFAULT_METADATA_TTL,
    KINDS,
    CachedMedia,
    MediaFile,
    MediaKey,
    PruneProgress,
    invalidate_media,
    lookup_media,
    media_key,
    prune_media,
    refresh_media_metadata,
    store_media,
)

if TYPE_CHECKING:
    from .bot.media_inline import InlineSent, answer_inline_cached
    from .bot.media_send import send_cached

__all__ = [
    "ALBUM_LIMIT",
    "DEAD_FILE_ID_TEXTS",
    "DEFAULT_METADATA_TTL",
    "DEFAULT_WAIT",
    "KINDS",
    "CachedMedia",
    "Caption",
    "Flight",
    "InlineSent",
    "MediaFile",
    "MediaItem",
    "MediaKey",
    "MediaKind",
    "MediaProduceError",
    "Produce",
    "Produced",
    "PruneProgress",
    "Sent",
    "album_chunks",
    "answer_inline_cached",
    "dead_file_id",
    "invalidate_media",
    "lookup_media",
    "media_flight",
    "media_key",
    "prune_media",
    "refresh_media_metadata",
    "send_cached",
    "store_media",
]

_LAZY = {
    "send_cached": "media_send",
    "answer_inline_cached": "media_inline",
    "InlineSent": "media_inline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".bot.{_LAZY[name]}", __package__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
