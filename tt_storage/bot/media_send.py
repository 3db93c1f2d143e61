"""``send_cached``: send a key's media by its stored file_ids, or produce, upload and store them
once (single flight across users and processes)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from ..services.flight import DEFAULT_WAIT, Flight, media_flight
from ..services.media import (
    CachedMedia,
    MediaKey,
    invalidate_media,
    lookup_media,
    store_media,
)
from .media_files import PartlySent, Payload, Sender, file_of, payload
from .media_types import Caption, MediaProduceError, Produce, Produced, Sent, dead_file_id

log = logging.getLogger("tt_storage.media")


def is_dead(exc: BaseException) -> bool:
    """Whether ``exc`` is Telegram rejecting a stored file_id (a 400 of ``DEAD_FILE_ID_TEXTS``)."""
    return isinstance(exc, TelegramBadRequest) and dead_file_id(exc.message)


async def run_produce(produce: Produce) -> Produced:
    """``produce()``, checked: anything but a ``Produced`` is a ``MediaProduceError``."""
    produced = await produce()
    if not isinstance(produced, Produced):
        raise MediaProduceError(
            f"produce returned {type(produced).__name__}, not tt_storage.media.Produced: "
            "nothing was sent or stored"
        )
    return produced


@dataclass(slots=True)
class _Send:
    """One call's state: what it has delivered so far, in order."""

    sender: Sender
    key: MediaKey
    bot_id: int
    variant: str
    caption: Caption
    delivered: list[Message] = field(default_factory=list)
    uploads: int = 0

    def caption_for(self, metadata: Mapping[str, Any] | None) -> None:
        text = self.caption(metadata) if callable(self.caption) else self.caption
        self.sender.caption = text

    async def deliver(self, kinds: Sequence[str], payloads: Sequence[Payload]) -> list[Message]:
        """Send the items of the set after those already delivered; record what arrives."""
        try:
            sent = await self.sender.send(kinds, payloads, len(self.delivered), len(kinds))
        except PartlySent as partly:
            self.delivered += partly.messages
            assert partly.__cause__ is not None
            raise partly.__cause__ from None
        self.delivered += sent
        return sent

    async def stored(self, media: CachedMedia) -> None:
        self.caption_for(media.metadata)
        await self.deliver([f.kind for f in media.files], [f.file_id for f in media.files])

    async def produce_and_upload(
        self, produce: Produce, flight: Flight, stale: CachedMedia | None
    ) -> CachedMedia | None:
        produced = await run_produce(produce)
        items = produced.items
        self.caption_for(produced.metadata)
        start = len(self.delivered)
        sent = await self.deliver([i.kind for i in items], [payload(i) for i in items])
        self.uploads += len(sent)
        files = [
            file_of(message, item.kind) for message, item in zip(sent, items[start:], strict=True)
        ]
        if start:
            # The first ``start`` items went out by the stale set's file_ids, which Telegram
            # just accepted: keep them, if the fresh set lines up with the stale one.
            if stale is None or len(stale.files) != len(items):
                log.warning("media %r changed size after a dead file_id: not stored", self.key)
                return None
            files = [*stale.files[:start], *files]
        media = await store_media(
            self.key, self.bot_id, self.variant, files, metadata=produced.metadata
        )
        flight.stored(media)
        return media


async def send_cached(
    bot: Bot,
    chat_id: int | str,
    key: MediaKey,
    variant: str,
    produce: Produce,
    *,
    caption: Caption = None,
    parse_mode: str | None = None,
    reply_markup: Any = None,
    reply_to_message_id: int | None = None,
    disable_notification: bool | None = None,
    wait: float = DEFAULT_WAIT,
    metadata_ttl: float | None = None,
    max_retry_after: float = 30.0,
) -> Sent:
    """Send ``key``'s media (``variant``: e.g. ``"video"``, ``"images"``, a quality) to
    ``chat_id``: by this bot's stored file_ids on a hit; on a miss ``produce()`` runs once
    across every process on the database (the others wait up to ``wait`` seconds and are
    served the stored file_ids), its items are uploaded and their file_ids stored.

    A stored file_id Telegram rejects (``DEAD_FILE_ID_TEXTS``) invalidates its set
    (compare-and-swap) and produces once more; what was already delivered is not sent again.
    A 429 is waited out and retried (twice, up to ``max_retry_after`` s); any other error
    propagates and never invalidates. The download is not recorded: pass ``**sent.track`` to
    ``track_download``/``add_music``.
    """
    sender = Sender(
        bot,
        chat_id,
        None,
        parse_mode,
        reply_markup,
        reply_to_message_id,
        disable_notification,
        max_retry_after,
    )
    call = _Send(sender, key, bot.id, variant, caption)
    media = await lookup_media(key, bot.id, variant, metadata_ttl=metadata_ttl)
    stale: CachedMedia | None = None
    invalidated = False
    if media is not None:
        try:
            await call.stored(media)
            return Sent(tuple(call.delivered), media, True, False)
        except TelegramBadRequest as exc:
            if not is_dead(exc):
                raise
            log.info("media %r: a stored file_id is dead (%s); producing again", key, exc.message)
            invalidated = await invalidate_media(media)
            stale = media
    async with media_flight(key, bot.id, variant, wait=wait, stale=stale) as flight:
        if flight.media is not None:
            await call.stored(flight.media)
            # Sent by file_ids another producer stored: a produce saved, so a hit.
            return Sent(
                tuple(call.delivered), flight.media, True, False, flight.waited, invalidated
            )
        made = await call.produce_and_upload(produce, flight, stale)
    return Sent(tuple(call.delivered), made, False, True, flight.waited, invalidated, call.uploads)
