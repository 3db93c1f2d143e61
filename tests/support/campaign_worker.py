"""A campaign worker process: ``python -m tests.support.campaign_worker DB_URL API_URL TOKEN``.

Opens the storage, prints ``ready``, waits for a line on stdin (the test has created its
campaign by then), and runs a ``CampaignWorker`` on a real ``Bot`` (aiogram's
HTTP session, pointed at the fake Bot API server) until no campaign of the bot is left
running or scheduled, then prints ``done``. A test may SIGKILL it at any point.
"""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

import tt_storage
from tt_storage.admin.campaigns import CampaignWorker
from tt_storage.services import campaigns


async def _idle(bot_id: int) -> bool:
    listed = await campaigns.list_campaigns(bot_id)
    return all(c.state not in ("running", "scheduled", "paused") for c in listed)


async def main(url: str, api: str, token: str) -> None:
    await tt_storage.init_storage(url, max_size=6)
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    worker = CampaignWorker(bot, concurrency=4, lease=2.0, poll=0.2, retry_delay=0.05)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    task = asyncio.create_task(worker.run())
    try:
        while not await _idle(bot.id):  # noqa: ASYNC110 - polls the database, not this process
            await asyncio.sleep(0.3)
    finally:
        worker.stop()
        await task
        await bot.session.close()
        await tt_storage.close_storage()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
