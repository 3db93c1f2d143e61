"""A bot process for the media cache's single-flight tests: ``python -m
tests.support.media_worker CONFIG`` (JSON: ``url``, ``key``, ``requests``, ``first_chat``,
``delay``, ``hang``, ``wait``, and ``api`` + ``token`` to send through a fake Bot API server;
without ``api`` it runs the services only: lookup, single flight, store).

Connects, prints ``ready``, waits for a line on stdin (so that the workers start together),
then answers ``requests`` concurrent requests for one key from as many chats. Each ``produce``
prints ``producing`` first (the test may SIGKILL the process then); with ``hang`` it never
returns. At the end it prints one JSON line: produce calls, answers, hits, and per request its
whole time and its time in the single flight (s).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import tt_storage
from tt_storage.media import (
    CachedMedia,
    MediaFile,
    MediaItem,
    Produced,
    lookup_media,
    media_flight,
    store_media,
)

BOT_ID = 42


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.produced = 0
        self.waits: list[float] = []  # each request's whole time
        self.flight_waits: list[float] = []  # its time waiting in the single flight
        self.hits = 0

    async def _produce_pause(self) -> None:
        self.produced += 1
        print("producing", flush=True)
        if self.config.get("hang"):
            await asyncio.Event().wait()
        await asyncio.sleep(self.config.get("delay", 0.2))

    async def produce(self) -> Produced:
        await self._produce_pause()
        return Produced([MediaItem("video", f"video of pid {os.getpid()}".encode())])

    async def services_only(self, chat: int) -> CachedMedia:
        """The flight without Telegram: what ``send_cached`` does around its sends."""
        key = self.config["key"]
        media = await lookup_media(key, BOT_ID, "video")
        if media is not None:
            self.flight_waits.append(0.0)
            return media
        async with media_flight(key, BOT_ID, "video", wait=self.config["wait"]) as flight:
            self.flight_waits.append(flight.waited)
            if flight.media is not None:
                return flight.media
            await self._produce_pause()
            media = await store_media(key, BOT_ID, "video", [MediaFile("video", f"v{chat}")])
            flight.stored(media)
            return media

    async def one(self, chat: int, bot: Any) -> None:
        start = time.monotonic()
        if bot is None:
            await self.services_only(chat)
        else:
            from tt_storage.media import send_cached

            sent = await send_cached(
                bot, chat, self.config["key"], "video", self.produce, wait=self.config["wait"]
            )
            self.hits += sent.cache_hit
            self.flight_waits.append(sent.waited)
        self.waits.append(time.monotonic() - start)


async def main(config: dict[str, Any]) -> None:
    await tt_storage.init_storage(config["url"], max_size=4)
    bot = None
    if config.get("api"):
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        bot = Bot(config["token"], AiohttpSession(api=TelegramAPIServer.from_base(config["api"])))
    worker = Worker(config)
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        first = config["first_chat"]
        results = await asyncio.gather(
            *(worker.one(first + i, bot) for i in range(config["requests"])),
            return_exceptions=True,
        )
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        report = {
            "produced": worker.produced,
            "answered": len(worker.waits),
            "hits": worker.hits,
            "waits": worker.waits,
            "flight_waits": worker.flight_waits,
            "errors": errors,
        }
        print(json.dumps(report), flush=True)
    finally:
        if bot is not None:
            await bot.session.close()
        await tt_storage.close_storage()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
