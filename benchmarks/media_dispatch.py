"""A cached link through a real ``Dispatcher``: the media cache's hit path next to the same
update without the cache (``python -m benchmarks.media_dispatch``, or part of ``make bench``).

Both bots run ``StorageMiddleware`` (settings cache on) and a handler that sends one video and
records the download with the ad rule. Without the cache it sends a file_id it already has
(what a bot holding no cache can at best do) and calls ``track_download``; with the cache it
calls ``send_cached`` (one lookup, then the send by the stored file_id) and ``track_download``
linked to the media entry. The Bot API answers offline at once, so the difference is the
cache's database work (one lookup round trip) and its Python. The two take turns every
``CHUNK`` updates, the one going first rotating, as in the other tables.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Message

import tt_storage
from tt_storage.media import MediaFile, Produced, send_cached, store_media

from . import bots

IMPLS = ("plain", "cached")
LABELS = {"plain": "no media cache", "cached": "media cache hit"}
CHUNK = 25
CHATS = 50
BASE = 800_000_000  # private chats of this section
LINK = "https://www.tiktok.com/@bench/video/7300000000000000001"
KEY = ("tiktok", "7300000000000000001")
FILE_ID = "BAACAgIAAxkBAAIBenchVideoFileId"


@dataclass
class MediaRow:
    title: str
    samples: dict[str, list[float]]

    def median(self, impl: str) -> float:
        return statistics.median(self.samples[impl])

    def p90(self, impl: str) -> float:
        values = sorted(self.samples[impl])
        return values[min(len(values) - 1, int(0.9 * len(values)))]


async def _never() -> Produced:
    raise AssertionError("the benchmark's link is stored up front: produce never runs")


def _dispatcher(cached: bool, middleware: tt_storage.StorageMiddleware) -> Dispatcher:
    dp = Dispatcher()
    dp.update.outer_middleware.register(middleware)

    @dp.message()
    async def download(message: Message, user_settings: tt_storage.UserSettings, bot: Bot) -> None:
        if cached:
            sent = await send_cached(bot, message.chat.id, KEY, "video", _never)
            track = sent.track
        else:
            await bot.send_video(message.chat.id, FILE_ID)
            track = {}
        if await tt_storage.track_download(user_settings, LINK, False, ad=True, **track):
            await message.answer("ad")

    return dp


async def _measure(
    ops: dict[str, Callable[[int], Awaitable[Any]]], rounds: int, per_round: int, warmup: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    counters = dict.fromkeys(IMPLS, 0)
    for impl in IMPLS:
        for _ in range(warmup):
            await ops[impl](counters[impl])
            counters[impl] += 1
    clock = time.perf_counter_ns
    for round_no in range(rounds):
        gc.collect()
        order = IMPLS[round_no % 2 :] + IMPLS[: round_no % 2]
        for _chunk in range(max(1, per_round // CHUNK)):
            for impl in order:
                gc.collect(1)
                for _ in range(min(CHUNK, per_round)):
                    i = counters[impl]
                    counters[impl] += 1
                    start = clock()
                    await ops[impl](i)
                    samples[impl].append((clock() - start) / 1000)
    return samples


async def run_media_suite(
    rounds: int, per_round: int, progress: Callable[[str], None] | None = None, warmup: int = 20
) -> MediaRow:
    """The row, on the database tt-storage is initialised with."""
    (progress or (lambda _m: None))("  media cache: a cached link through a Dispatcher")
    bot = bots.offline_bot()
    await store_media(KEY, bot.id, "video", [MediaFile("video", FILE_ID)])
    middlewares = {impl: tt_storage.StorageMiddleware() for impl in IMPLS}
    dps = {impl: _dispatcher(impl == "cached", middlewares[impl]) for impl in IMPLS}
    try:
        update_id = iter(range(1, 10**9))

        def op(dp: Dispatcher) -> Callable[[int], Awaitable[Any]]:
            async def run(i: int) -> None:
                update = bots.message_update(bot, next(update_id), BASE + i % CHATS, LINK)
                await dp.feed_update(bot, update)

            return run

        samples = await _measure({k: op(v) for k, v in dps.items()}, rounds, per_round, warmup)
    finally:
        for middleware in middlewares.values():
            await middleware.close()
        await bot.session.close()
    return MediaRow("a link update through a Dispatcher (send + track_download)", samples)


def render_media(row: MediaRow) -> str:
    plain, cached = row.median("plain"), row.median("cached")
    return "\n".join(
        [
            "Media cache: µs per update, median (p90); the Bot API answered offline",
            "",
            f"| row | {LABELS['plain']} | {LABELS['cached']} | cached/plain |",
            "|---|---:|---:|---:|",
            f"| {row.title} | {plain:,.1f} ({row.p90('plain'):,.1f}) | "
            f"{cached:,.1f} ({row.p90('cached'):,.1f}) | {cached / plain:.2f}x |",
        ]
    )


async def _main() -> None:
    from . import __main__ as entry
    from . import database

    admin = await entry.admin_url(None)
    url = await entry.create_database(admin, durable=False)
    try:
        await tt_storage.ops.apply_migrations(url)
        await tt_storage.init_storage(url, min_size=1, max_size=4)
        try:
            row = await run_media_suite(7, 200, entry._progress)
        finally:
            await tt_storage.close_storage()
    finally:
        await database.drop_database(admin, url)
    print(render_media(row))


if __name__ == "__main__":
    asyncio.run(_main())
