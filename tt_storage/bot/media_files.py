"""Telegram's side of the media cache: one file or an album sent by aiogram, by file_id or by
upload, and the file_ids read back from the returned messages."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InputFile,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
)

from ..services.media import MediaFile
from .media_types import MediaItem, MediaProduceError, album_chunks

T = TypeVar("T")

#: What one item is sent as: a stored file_id (``str``), a URL (``str``) or an upload.
Payload = str | InputFile

_INPUT_MEDIA: dict[str, Any] = {
    "photo": InputMediaPhoto,
    "video": InputMediaVideo,
    "audio": InputMediaAudio,
    "document": InputMediaDocument,
}


def payload(item: MediaItem) -> Payload:
    """What aiogram sends for ``item``: a path or bytes become an upload, a URL stays text."""
    source = item.source
    if isinstance(source, Path):
        return FSInputFile(source, filename=item.filename)
    if isinstance(source, bytes | bytearray):
        return BufferedInputFile(bytes(source), filename=item.filename or f"{item.kind}.bin")
    return source


def file_of(message: Message, kind: str) -> MediaFile:
    """The file a sent message carries, as Telegram filed it (an mp4 sent as a video may come
    back an animation): the largest photo size for a photo."""
    # An animation message also carries a ``document``: look at the animation first.
    if message.animation is not None:
        return MediaFile("animation", message.animation.file_id, message.animation.file_unique_id)
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return MediaFile("photo", largest.file_id, largest.file_unique_id)
    for name in ("video", "audio", "voice", "document"):
        obj = getattr(message, name)
        if obj is not None:
            return MediaFile(name, obj.file_id, obj.file_unique_id)
    raise MediaProduceError(f"Telegram's answer to a {kind} upload carries no file")


@dataclass(slots=True)
class Sender:
    """Sends one media set to one chat, a part at a time; the caption and reply go with the
    set's first message, the reply markup with a set of one."""

    bot: Bot
    chat_id: int | str
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: Any = None
    reply_to_message_id: int | None = None
    disable_notification: bool | None = None
    max_retry_after: float = 30.0

    async def send(
        self, kinds: Sequence[str], payloads: Sequence[Payload], start: int, total: int
    ) -> list[Message]:
        """Send items ``start:`` of a set of ``total``; append-only: what Telegram accepted
        is in the returned list even when a later part raises (``PartlySent``)."""
        sent: list[Message] = []
        remaining = total - start
        try:
            for part in album_chunks(remaining) if remaining > 0 else []:
                first = start + part.start
                if len(part) == 1:
                    one = functools.partial(self._one, kinds[first], payloads[first], first, total)
                    sent.append(await self._retrying(one))
                else:
                    chosen = range(first, first + len(part))
                    album = functools.partial(self._album, kinds, payloads, chosen)
                    sent.extend(await self._retrying(album))
        except BaseException as exc:
            if sent:
                raise PartlySent(sent) from exc
            raise
        return sent

    def _extras(self, position: int) -> dict[str, Any]:
        if position != 0:
            return {"disable_notification": self.disable_notification}
        reply = (
            None
            if self.reply_to_message_id is None
            else ReplyParameters(message_id=self.reply_to_message_id)
        )
        return {"disable_notification": self.disable_notification, "reply_parameters": reply}

    async def _one(self, kind: str, media: Payload, position: int, total: int) -> Message:
        caption = self.caption if position == 0 else None
        extras = self._extras(position)
        if total == 1:
            extras["reply_markup"] = self.reply_markup
        extras |= {"caption": caption, "parse_mode": self.parse_mode}
        send = getattr(self.bot, f"send_{kind}")
        result: Message = await send(self.chat_id, media, **extras)
        return result

    async def _album(
        self, kinds: Sequence[str], payloads: Sequence[Payload], chosen: range
    ) -> list[Message]:
        media = [
            _INPUT_MEDIA[kinds[i]](
                media=payloads[i],
                caption=self.caption if i == 0 else None,
                parse_mode=self.parse_mode if i == 0 else None,
            )
            for i in chosen
        ]
        return await self.bot.send_media_group(self.chat_id, media, **self._extras(chosen.start))

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call``, again after a 429's ``retry_after`` (Telegram did not perform it), at most
        twice and only when the wait is at most ``max_retry_after``."""
        for attempt in range(3):
            try:
                return await call()
            except TelegramRetryAfter as exc:
                if attempt == 2 or exc.retry_after > self.max_retry_after:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")


class PartlySent(Exception):
    """A later part of a set failed after earlier parts were delivered (``messages``); the
    cause is ``__cause__``."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__(f"{len(messages)} message(s) delivered before the error")
        self.messages = messages
