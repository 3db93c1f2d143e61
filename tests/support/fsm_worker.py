"""A bot worker process for the isolation test: ``python -m tests.support.fsm_worker URL N [off]``.

Connects, prints ``ready``, waits for a line on stdin (so that both workers start together),
then N times, under ``AdvisoryLockIsolation`` (or none with ``off``), reads the FSM data of one
shared key, yields to the event loop and writes the counter back plus one: a read-modify-write
that loses increments unless the lock serializes the two processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from aiogram.fsm.storage.base import StorageKey

import tt_storage
from tt_storage import PostgresStorage
from tt_storage.bot.isolation import AdvisoryLockIsolation

KEY = StorageKey(bot_id=42, chat_id=7_000, user_id=7_000)


async def main(url: str, rounds: int, isolated: bool) -> None:
    await tt_storage.init_storage(url, max_size=2)
    storage = PostgresStorage()
    isolation = AdvisoryLockIsolation()
    try:
        await storage.get_data(KEY)  # connected
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        for _ in range(rounds):
            async with isolation.lock(KEY) if isolated else _nothing():
                data = await storage.get_data(KEY)
                await asyncio.sleep(0.001)  # a handler doing some work between read and write
                await storage.set_data(KEY, {"count": data.get("count", 0) + 1})
    finally:
        await isolation.close()
        await storage.close()
        await tt_storage.close_storage()


@contextlib.asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] != ["off"]))
