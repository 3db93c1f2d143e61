"""Inline mode through the media cache: ``InlineQueryResultCached*`` from the same store, a miss
uploaded to the storage chat first, a dead file_id replaced once (fake Bot API server)."""

from __future__ import annotations

import asyncpg
import pytest
from aiogram import Bot

from tests.test_media_send import Producer
from tt_storage.media import answer_inline_cached, lookup_media, send_cached
from tt_storage.testing import FakeTelegram

STORAGE_CHAT = -1_001_234_567_890


@pytest.fixture(autouse=True)
async def media(db: asyncpg.Connection) -> asyncpg.Connection:
    """No media entries (the ``db`` fixture empties the tables)."""
    return db


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("video", "video_file_id"),
        ("photo", "photo_file_id"),
        ("audio", "audio_file_id"),
        ("document", "document_file_id"),
        ("animation", "mpeg4_file_id"),
        ("voice", "voice_file_id"),
    ],
)
async def test_a_miss_goes_to_the_storage_chat_then_hits_answer_from_the_store(
    telegram: FakeTelegram, bot: Bot, kind: str, field: str
) -> None:
    produce = Producer(kind)  # type: ignore[arg-type]
    miss = await answer_inline_cached(
        bot, "q1", "k", kind, produce, storage_chat_id=STORAGE_CHAT, title="T", caption="c"
    )
    assert (miss.cache_hit, miss.produced, produce.calls) == (False, True, 1)
    assert len(telegram.uploads(chat_id=STORAGE_CHAT)) == 1 == len(telegram.uploads())
    stored = await lookup_media("k", bot.id, kind)
    assert stored is not None and miss.media == stored
    [answer] = telegram.calls("answerInlineQuery", ok=True)
    [result] = answer.params["results"]
    assert result[field] == stored.files[0].file_id and result["caption"] == "c"
    hit = await answer_inline_cached(
        bot, "q2", "k", kind, produce, storage_chat_id=STORAGE_CHAT, title="T"
    )
    assert (hit.cache_hit, hit.produced, produce.calls) == (True, False, 1)
    assert len(telegram.uploads()) == 1
    assert getattr(hit.results[0], field) == stored.files[0].file_id


async def test_inline_and_chat_sends_share_one_store(telegram: FakeTelegram, bot: Bot) -> None:
    produce = Producer("photo", 3)
    await send_cached(bot, 10, "post", "images", produce)
    answered = await answer_inline_cached(
        bot, "q1", "post", "images", produce, storage_chat_id=STORAGE_CHAT, title="T"
    )
    assert answered.cache_hit and produce.calls == 1 and len(answered.results) == 3
    assert telegram.calls(chat_id=STORAGE_CHAT) == []  # nothing uploaded for inline


async def test_a_dead_file_id_in_an_inline_answer_is_replaced_once(
    telegram: FakeTelegram, bot: Bot
) -> None:
    produce = Producer()
    first = await answer_inline_cached(
        bot, "q1", "k", "video", produce, storage_chat_id=STORAGE_CHAT, title="T"
    )
    assert first.media is not None
    telegram.revoke(first.media.files[0].file_id)
    again = await answer_inline_cached(
        bot, "q2", "k", "video", produce, storage_chat_id=STORAGE_CHAT, title="T"
    )
    assert (again.invalidated, again.produced, produce.calls) == (True, True, 2)
    assert len(telegram.uploads(chat_id=STORAGE_CHAT)) == 2
    assert [r.ok for r in telegram.calls("answerInlineQuery")] == [True, False, True]
    assert again.media is not None and again.media.version > first.media.version
