"""The media cache: a repeated link is answered from Telegram's file_ids, per bot and variant.

The database side (no aiogram): ``lookup_media``, ``store_media``, ``invalidate_media``,
``refresh_media_metadata``, ``prune_media``, and downloads linked to an entry through
``track_download(..., media_id=..., cache_hit=...)`` (also ``add_video``/``add_music``). Each
runs on the current ``Storage`` and is also a ``Storage`` method.
"""

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

__all__ = [
    "DEFAULT_METADATA_TTL",
    "KINDS",
    "CachedMedia",
    "MediaFile",
    "MediaKey",
    "PruneProgress",
    "invalidate_media",
    "lookup_media",
    "media_key",
    "prune_media",
    "refresh_media_metadata",
    "store_media",
]
