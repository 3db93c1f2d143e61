"""Inline mode through the media cache: the answer is ``InlineQueryResultCached*`` results from
the same store ``send_cached`` uses; a miss is uploaded to a storage chat the bot names first."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    InlineQueryResultCachedAudio,
    InlineQueryResultCachedDocument,
    InlineQueryResultCachedMpeg4Gif,
    InlineQueryResultCachedPhoto,
    InlineQueryResultCachedVideo,
    InlineQueryResultCachedVoice,
    InlineQueryResultUnion,
)

from ..services.flight import DEFAULT_WAIT, media_flight
from ..services.media import CachedMedia, MediaFile, MediaKey, invalidate_media, lookup_media
from .media_files import Sender
from .media_send import _Send, is_dead
from .media_types import Caption, Produce

log = logging.getLogger("tt_storage.media")


@dataclass(frozen=True, slots=True)
class InlineSent:
    """What ``answer_inline_cached`` answered: one cached result per stored file, the set they
    came from, whether it was a hit (no upload by this call), whether this call ran
    ``produce``, and whether a dead file_id invalidated the set first."""

    results: tuple[InlineQueryResultUnion, ...]
    media: CachedMedia | None
    cache_hit: bool
    produced: bool
    waited: float = 0.0
    invalidated: bool = False

    @property
    def track(self) -> dict[str, Any]:
        """``track_download(user, link, …, is_inline=True, **answered.track)``."""
        return {
            "media_id": None if self.media is None else self.media.media_id,
            "cache_hit": self.cache_hit,
        }


def cached_result(
    media: CachedMedia,
    position: int,
    file: MediaFile,
    *,
    title: str,
    caption: str | None,
    parse_mode: str | None,
) -> InlineQueryResultUnion:
    """The ``InlineQueryResultCached*`` for one stored file (its id: entry, version, position)."""
    rid = f"{media.media_id}-{media.version}-{position}"
    text: dict[str, Any] = {"caption": caption, "parse_mode": parse_mode}
    if file.kind == "photo":
        return InlineQueryResultCachedPhoto(id=rid, photo_file_id=file.file_id, **text)
    if file.kind == "video":
        return InlineQueryResultCachedVideo(id=rid, video_file_id=file.file_id, title=title, **text)
    if file.kind == "audio":
        return InlineQueryResultCachedAudio(id=rid, audio_file_id=file.file_id, **text)
    if file.kind == "voice":
        return InlineQueryResultCachedVoice(id=rid, voice_file_id=file.file_id, title=title, **text)
    if file.kind == "animation":
        return InlineQueryResultCachedMpeg4Gif(id=rid, mpeg4_file_id=file.file_id, **text)
    return InlineQueryResultCachedDocument(
        id=rid, document_file_id=file.file_id, title=title, **text
    )


async def answer_inline_cached(
    bot: Bot,
    inline_query_id: str,
    key: MediaKey,
    variant: str,
    produce: Produce,
    *,
    storage_chat_id: int | str,
    title: str,
    caption: Caption = None,
    parse_mode: str | None = None,
    cache_time: int | None = None,
    is_personal: bool | None = None,
    wait: float = DEFAULT_WAIT,
    metadata_ttl: float | None = None,
) -> InlineSent:
    """Answer an inline query with ``key``'s stored file_ids (one result per file). On a miss
    ``produce()`` runs once across processes (single flight, as ``send_cached``) and its items
    are uploaded to ``storage_chat_id`` (a chat or channel the bot may post to: Telegram gives
    file_ids only for files it holds), stored, then answered. A dead file_id: invalidate,
    produce and upload once more, answer again. The download is not recorded."""
    answer: dict[str, Any] = {"cache_time": cache_time, "is_personal": is_personal}
    media = await lookup_media(key, bot.id, variant, metadata_ttl=metadata_ttl)
    stale: CachedMedia | None = None
    if media is not None:
        try:
            results = _results(media, title, caption, parse_mode)
            await bot.answer_inline_query(inline_query_id, list(results), **answer)
            return InlineSent(results, media, True, False)
        except TelegramBadRequest as exc:
            if not is_dead(exc):
                raise
            log.info("media %r: a stored file_id is dead (%s); producing again", key, exc.message)
            invalidated = await invalidate_media(media)
            stale = media
    else:
        invalidated = False
    call = _Send(Sender(bot, storage_chat_id), key, bot.id, variant, None)
    async with media_flight(key, bot.id, variant, wait=wait, stale=stale) as flight:
        made = flight.media
        if made is None:
            made = await call.produce_and_upload(produce, flight, None)
    assert made is not None  # a storage-chat upload starts at 0: always stored
    results = _results(made, title, caption, parse_mode)
    await bot.answer_inline_query(inline_query_id, list(results), **answer)
    produced = flight.media is None
    return InlineSent(results, made, not produced, produced, flight.waited, invalidated)


def _results(
    media: CachedMedia, title: str, caption: Caption, parse_mode: str | None
) -> tuple[InlineQueryResultUnion, ...]:
    metadata: Mapping[str, Any] | None = media.metadata
    text = caption(metadata) if callable(caption) else caption
    return tuple(
        cached_result(media, i, f, title=title, caption=text, parse_mode=parse_mode)
        for i, f in enumerate(media.files)
    )
