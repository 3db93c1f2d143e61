"""Sending through the media cache (``tt_storage.media.send_cached``), on real PostgreSQL and the
fake Bot API server behind aiogram's real HTTP session: hits by file_id, misses uploaded once,
albums split, dead file_ids replaced once, other errors left alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramServerError

from tt_storage.media import (
    MediaFile,
    MediaItem,
    MediaKind,
    MediaProduceError,
    Produced,
    lookup_media,
    send_cached,
    store_media,
)
from tt_storage.testing import FakeTelegram

BOT = 42


@pytest.fixture(autouse=True)
async def media(db: asyncpg.Connection) -> asyncpg.Connection:
    """No media entries (the ``db`` fixture empties the tables)."""
    return db


class Producer:
    """A ``produce`` that counts its calls and makes ``count`` items of ``kind``."""

    def __init__(self, kind: MediaKind = "video", count: int = 1, tag: str = "x") -> None:
        self.kind, self.count, self.tag, self.calls = kind, count, tag, 0

    async def __call__(self) -> Produced:
        self.calls += 1
        return Produced(
            [
                MediaItem(self.kind, f"{self.tag} {i} call {self.calls}".encode(), f"{i}.bin")
                for i in range(self.count)
            ],
            metadata={"tag": self.tag},
        )


def album_sizes(telegram: FakeTelegram, chat_id: int) -> list[int]:
    """The parts of what was sent to ``chat_id``: an album's item count, 1 for a message."""
    sizes = []
    for request in telegram.calls(chat_id=chat_id, ok=True):
        media = request.params.get("media")
        sizes.append(len(media or []) if request.method.lower() == "sendmediagroup" else 1)
    return sizes


@pytest.mark.parametrize("kind", ["video", "photo", "audio", "document", "animation", "voice"])
async def test_one_file_is_uploaded_once_then_sent_by_file_id(
    telegram: FakeTelegram, bot: Bot, kind: MediaKind
) -> None:
    produce = Producer(kind)
    first = await send_cached(bot, 100, ("tiktok", "1"), kind, produce, caption="hi")
    assert (first.cache_hit, first.produced, produce.calls) == (False, True, 1)
    assert len(telegram.uploads()) == 1
    stored = await lookup_media(("tiktok", "1"), BOT, kind)
    assert stored is not None and stored == first.media
    [file] = stored.files
    assert file.kind == kind
    if kind == "photo":  # the largest size is the one kept
        sizes = first.messages[0].photo
        assert sizes is not None and file.file_id == sizes[-1].file_id
    second = await send_cached(bot, 101, ("tiktok", "1"), kind, produce, caption="hi")
    assert (second.cache_hit, second.produced, produce.calls) == (True, False, 1)
    assert len(telegram.uploads()) == 1  # nothing uploaded again
    [request] = telegram.calls(chat_id=101)
    assert request.params[kind] == file.file_id
    assert telegram.texts(101) == ["hi"]


@pytest.mark.parametrize(("count", "parts"), [(1, [1]), (10, [10]), (11, [6, 5]), (23, [8, 8, 7])])
async def test_albums_split_in_balanced_parts(
    telegram: FakeTelegram, bot: Bot, count: int, parts: list[int]
) -> None:
    produce = Producer("photo", count)
    miss = await send_cached(bot, 200, "post", "images", produce, caption="album")
    assert album_sizes(telegram, 200) == parts
    assert len(miss.messages) == count and len(telegram.uploads()) == count
    assert miss.media is not None and len(miss.media.files) == count
    hit = await send_cached(bot, 201, "post", "images", produce, caption="album")
    assert hit.cache_hit and produce.calls == 1
    assert album_sizes(telegram, 201) == parts
    assert len(telegram.uploads()) == count
    assert telegram.texts(201) == ["album"]  # the caption once, on the first item
    assert len(telegram.messages(201)) == count


async def test_albums_of_audio_of_documents_and_of_photos_with_videos(
    telegram: FakeTelegram, bot: Bot
) -> None:
    for chat, kind in ((300, "audio"), (301, "document")):
        produce = Producer(kind, 3)  # type: ignore[arg-type]
        await send_cached(bot, chat, "set", kind, produce)
        await send_cached(bot, chat + 10, "set", kind, produce)
        assert produce.calls == 1 and album_sizes(telegram, chat + 10) == [3]

    async def mixed() -> Produced:
        return Produced([MediaItem("photo", b"p"), MediaItem("video", b"v")])

    sent = await send_cached(bot, 302, "mixed", "post", mixed)
    assert sent.media is not None and [f.kind for f in sent.media.files] == ["photo", "video"]


@pytest.mark.parametrize("reason", ["wrong", "expired"])
async def test_a_revoked_file_id_in_an_album_is_uploaded_once_and_nothing_repeats(
    telegram: FakeTelegram, bot: Bot, reason: str
) -> None:
    produce = Producer("photo", 23)
    first = await send_cached(bot, 400, "long", "images", produce)
    assert first.media is not None
    telegram.revoke(first.media.files[12].file_id, reason)  # in the second album (8..15)
    again = await send_cached(bot, 401, "long", "images", produce)
    assert (again.cache_hit, again.produced, again.invalidated) == (False, True, True)
    assert produce.calls == 2  # one fresh produce
    assert len(telegram.uploads()) == 23 + 15  # the 15 undelivered items, once
    assert len(telegram.messages(401)) == 23  # the first album is not sent twice
    assert again.media is not None and again.media.version > first.media.version
    assert again.media.files[:8] == first.media.files[:8]  # delivered: kept
    third = await send_cached(bot, 402, "long", "images", produce)
    assert third.cache_hit and produce.calls == 2 and len(telegram.uploads()) == 38


async def test_a_malformed_stored_file_id_is_replaced(telegram: FakeTelegram, bot: Bot) -> None:
    await store_media("bad", BOT, "video", [MediaFile("video", "not-a-file-id")])
    produce = Producer()
    sent = await send_cached(bot, 500, "bad", "video", produce)
    assert sent.invalidated and produce.calls == 1 and len(telegram.uploads()) == 1
    assert len(telegram.messages(500)) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (lambda t: t.server_error(method="sendVideo"), TelegramServerError),
        (lambda t: t.drop("sendVideo"), TelegramNetworkError),
    ],
)
async def test_a_5xx_or_a_network_error_is_not_a_dead_file_id(
    telegram: FakeTelegram,
    bot: Bot,
    fault: Callable[[FakeTelegram], Any],
    error: type[Exception],
) -> None:
    produce = Producer()
    stored = (await send_cached(bot, 600, "k", "video", produce)).media
    fault(telegram)
    with pytest.raises(error):
        await send_cached(bot, 601, "k", "video", produce)
    assert await lookup_media("k", BOT, "video") == stored  # untouched
    assert produce.calls == 1


async def test_a_429_is_waited_out_and_the_set_kept(telegram: FakeTelegram, bot: Bot) -> None:
    produce = Producer("photo", 4)
    stored = (await send_cached(bot, 700, "k", "images", produce)).media
    telegram.flood(1, "sendMediaGroup")
    sent = await send_cached(bot, 701, "k", "images", produce)
    assert sent.cache_hit and sent.media == stored and produce.calls == 1
    assert len(telegram.calls("sendMediaGroup", chat_id=701)) == 2  # the 429, then the retry
    assert len(telegram.messages(701)) == 4


async def test_produce_that_returns_nothing_or_raises_stores_nothing(
    telegram: FakeTelegram, bot: Bot
) -> None:
    async def nothing() -> Any:
        return None

    async def empty() -> Produced:
        return Produced([])

    async def broken() -> Produced:
        raise RuntimeError("extraction failed")

    with pytest.raises(MediaProduceError, match="produce returned NoneType"):
        await send_cached(bot, 800, "k", "video", nothing)
    with pytest.raises(MediaProduceError, match="non-empty"):
        await send_cached(bot, 800, "k", "video", empty)
    with pytest.raises(RuntimeError, match="extraction failed"):
        await send_cached(bot, 800, "k", "video", broken)
    assert await lookup_media("k", BOT, "video") is None
    assert len(telegram) == 0  # nothing was sent


async def test_a_failed_upload_stores_nothing(telegram: FakeTelegram, bot: Bot) -> None:
    telegram.server_error(method="sendMediaGroup", times=None)
    with pytest.raises(TelegramServerError):
        await send_cached(bot, 900, "k", "images", Producer("photo", 3))
    assert await lookup_media("k", BOT, "images") is None


def test_bad_produced_shapes_are_refused() -> None:
    with pytest.raises(MediaProduceError, match="share an album"):
        Produced([MediaItem("audio", b"a"), MediaItem("video", b"v")])
    with pytest.raises(MediaProduceError, match="kind"):
        MediaItem("sticker", b"s")  # type: ignore[arg-type]
    with pytest.raises(MediaProduceError, match="URL"):
        MediaItem("video", "/etc/passwd")
    with pytest.raises(MediaProduceError, match="empty"):
        MediaItem("video", b"")
