"""The media cache: a repeated link is answered from Telegram's file_ids, once per bot, across
processes.

``send_cached`` (and ``answer_inline_cached``) import aiogram when first used; the rest of this
module does not.
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
    CachedMedia,
    MediaFile,
    MediaKey,
    invalidate_media,
    lookup_media,
    store_media,
)

if TYPE_CHECKING:
    from .bot.media_inline import InlineSent, answer_inline_cached
    from .bot.media_send import send_cached

__all__ = [
    "ALBUM_LIMIT",
    "DEAD_FILE_ID_TEXTS",
    "DEFAULT_WAIT",
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
    "Sent",
    "album_chunks",
    "answer_inline_cached",
    "dead_file_id",
    "invalidate_media",
    "lookup_media",
    "media_flight",
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
