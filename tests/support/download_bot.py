"""A downloader bot in miniature for fault, load and fuzz tests: a real aiogram ``Dispatcher``
with ``StorageMiddleware`` and a handler that records downloads, answering through the offline
``FakeTelegram``.

Message texts: ``/v <link>`` a video (``track_download``, with the ad rule in private chats),
``/m <video id>`` a music download (``add_music``), anything else just an answer.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiogram import Dispatcher, Router
from aiogram.types import Message, Update

import tt_storage as tt
from tests.support import telegram as support_telegram
from tt_storage import StorageMiddleware, UserSettings
from tt_storage.core.replay import OutboxEvent
from tt_storage.testing import updates as events

_music_ids = itertools.count(10_000)


@dataclass
class Download:
    """What the handler saw and did for one update."""

    chat: int
    kind: str  # "video", "music" or "none"
    ref: str  # the link, or the music id
    show: bool  # the ad decision track_download returned
    settings: UserSettings | None


class DownloadBot:
    def __init__(self, middleware: StorageMiddleware | None = None, **options: Any) -> None:
        self.middleware = middleware or StorageMiddleware(**options)
        self.dp = Dispatcher()
        self.dp.update.outer_middleware.register(self.middleware)
        router = Router()
        router.message.register(self._on_message)
        self.dp.include_router(router)
        self.telegram = support_telegram.server()
        self.bot = self.telegram.bot()
        #: By message id, in the order the handler finished.
        self.answered: dict[int, Download] = {}
        self.sent = 0

    async def _on_message(self, message: Message, user_settings: UserSettings | None) -> None:
        kind, _, ref = (message.text or "").partition(" ")
        show = False
        if kind == "/v":
            ad = message.chat.type == "private"
            show = await tt.track_download(user_settings or message.chat.id, ref, False, ad=ad)
            kind = "video"
        elif kind == "/m":
            await tt.add_music(user_settings or message.chat.id, int(ref))
            kind = "music"
        else:
            kind = "none"
        self.answered[message.message_id] = Download(
            message.chat.id, kind, ref, show, user_settings
        )
        await message.answer("ad" if show else "ok")

    async def feed(self, update: Update) -> None:
        self.sent += 1
        await self.dp.feed_update(self.bot, update)

    async def close(self) -> None:
        await self.middleware.close()


def video(chat: int, n: int, lang: str | None = "en") -> Update:
    """The ``n``-th video download of ``chat`` (links are unique per chat and n)."""
    return events.message(chat, f"/v https://vm.tiktok.com/{chat}/{n}", lang=lang)


def music(chat: int, lang: str | None = "en") -> Update:
    """A music download with an id unique in the process."""
    return events.message(chat, f"/m {next(_music_ids)}", lang=lang)


def expected_ad_state(
    downloads: list[Download], queued: dict[str, OutboxEvent]
) -> tuple[int, bool, list[str]]:
    """``(ad_count, cooldown running, mismatches)`` after one private chat's downloads, in order.

    The ad rule of ``track_download`` (an ad when ``ad_count >= 3`` or no cooldown is running;
    an ad restarts the count at 1, otherwise +1), except for downloads the outbox queued: those
    count +1 (no ad was decided), unless their first attempt was found written on replay, in
    which case the server applied the rule. Mismatches: direct decisions that differ.
    """
    count, cooling = 0, False
    wrong: list[str] = []
    for download in downloads:
        if download.kind != "video":
            continue
        event = queued.get(download.ref)
        if event is not None and event.outcome == "written":
            count += 1
            continue
        show = count >= 3 or not cooling
        if event is None and show != download.show:
            wrong.append(f"{download.ref}: returned {download.show}, the rule says {show}")
        count, cooling = (1, True) if show else (count + 1, cooling)
    return count, cooling, wrong


@dataclass
class Check:
    """What the database holds against what the bot was sent."""

    sent: int
    answered: int
    videos_expected: int
    videos_found: int
    music_expected: int
    music_found: int
    duplicates: int
    missing: int
    unexpected: int
    users_expected: int
    users_found: int
    users_match: bool
    ad_mismatches: list[str]
    is_new_twice: list[int]

    @property
    def ok(self) -> bool:
        return (
            self.sent == self.answered
            and self.videos_expected == self.videos_found
            and self.music_expected == self.music_found
            and not (self.duplicates or self.missing or self.unexpected)
            and self.users_match
            and not self.ad_mismatches
            and not self.is_new_twice
        )

    def figures(self) -> str:
        return (
            f"updates sent/answered {self.sent}/{self.answered}; "
            f"videos expected/found {self.videos_expected}/{self.videos_found}; "
            f"music expected/found {self.music_expected}/{self.music_found}; "
            f"users expected/found {self.users_expected}/{self.users_found}; "
            f"duplicates {self.duplicates}, missing {self.missing}, unexpected {self.unexpected}; "
            f"ad counter mismatches {len(self.ad_mismatches)}"
        )


async def check(
    conn: asyncpg.Connection,
    bot: DownloadBot,
    order: dict[int, list[int]],
    queued: dict[str, OutboxEvent] | None = None,
) -> Check:
    """Compare the database with what the bot answered. ``order``: per chat, its message ids
    in the order they were sent (each chat's updates one at a time)."""
    queued = queued or {}
    downloads = list(bot.answered.values())
    want_videos = Counter((d.chat, d.ref) for d in downloads if d.kind == "video")
    want_music = Counter((d.chat, int(d.ref)) for d in downloads if d.kind == "music")
    got_videos = Counter(
        (r[0], r[1]) for r in await conn.fetch("SELECT user_id, video_link FROM videos")
    )
    got_music = Counter(
        (r[0], r[1]) for r in await conn.fetch("SELECT user_id, video_id FROM music")
    )
    duplicates = sum(n - 1 for c in (got_videos, got_music) for n in c.values() if n > 1)
    missing = sum(((want_videos - got_videos) + (want_music - got_music)).values())
    unexpected = (
        sum(((+got_videos - want_videos) + (+got_music - want_music)).values()) - duplicates
    )
    users = {r[0]: r for r in await conn.fetch("SELECT * FROM users")}
    chats = set(order)
    mismatches: list[str] = []
    for chat in sorted(c for c in chats if c > 0):
        history = [bot.answered[m] for m in order[chat] if m in bot.answered]
        count, cooling, wrong = expected_ad_state(history, queued)
        mismatches += [f"chat {chat}: {w}" for w in wrong]
        row = users.get(chat)
        if row is None:
            continue
        if (row["ad_count"], row["ad_cooldown"] > 0) != (count, cooling):
            mismatches.append(
                f"chat {chat}: ad_count {row['ad_count']} cooldown {row['ad_cooldown'] > 0},"
                f" expected {count} {cooling}"
            )
    new = Counter(d.chat for d in downloads if d.settings is not None and d.settings.is_new)
    return Check(
        sent=bot.sent,
        answered=len(bot.answered),
        videos_expected=sum(want_videos.values()),
        videos_found=sum(got_videos.values()),
        music_expected=sum(want_music.values()),
        music_found=sum(got_music.values()),
        duplicates=duplicates,
        missing=missing,
        unexpected=unexpected,
        users_expected=len(chats),
        users_found=len(users),
        users_match=set(users) == chats,
        ad_mismatches=mismatches,
        is_new_twice=sorted(chat for chat, n in new.items() if n > 1),
    )
