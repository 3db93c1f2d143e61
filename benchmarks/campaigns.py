"""Broadcast campaigns at tt-bot's size: creating a campaign for 1M chats, claiming chunks, and a
worker process's memory while it sends.

    python -m benchmarks.campaigns [--url ADMIN_URL] [--chats 1000000] [--seconds 20]

A throwaway database gets tt-storage's migrations and ``--chats`` chats from the generator
(``benchmarks.generate``: 85 % private, 8 % blocked). Then, timed: ``create_campaign`` (the
recipients fixed into chunks, in one transaction) for private chats and for all chats, a claim
of a chunk (``FOR UPDATE SKIP LOCKED`` among ~1,000 open chunks), and a ``tt-storage broadcast
work`` process sending to the fake Bot API server for ``--seconds``, its resident memory sampled
every second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path

import psutil

import tt_storage
from benchmarks.database import LOCAL_ADMIN, create_database, drop_database
from benchmarks.generate import generate
from tt_storage.services import campaigns
from tt_storage.testing import FakeTelegram, updates

ROOT = Path(__file__).resolve().parents[1]
BOT = 42


async def timed(make: Awaitable[object]) -> float:
    started = time.perf_counter()
    await make
    return time.perf_counter() - started


def spawn_worker(url: str, api: str) -> subprocess.Popen[bytes]:
    """``tt-storage broadcast work`` as its own process, on the fake server at ``api``."""
    return subprocess.Popen(
        [sys.executable, "-m", "tt_storage.ops.cli", "--url", url, "broadcast", "work",
         "--token", "42:TEST", "--api", api],
        cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )  # fmt: skip


async def memory_of_a_worker(url: str, seconds: float) -> tuple[list[float], int]:
    """RSS (MiB) of a worker process each second, and the messages the server received."""
    async with FakeTelegram() as telegram:
        telegram.remember(updates.message(999, "post", message_id=5))
        await campaigns.create_campaign(BOT, copy_from=(999, 5), rate=1_000)
        worker = spawn_worker(url, telegram.url)
        process = psutil.Process(worker.pid)
        samples = []
        try:
            # Started (aiogram imported, first chunk leased): the window opens at its first send.
            for _ in range(600):
                if telegram.calls("copyMessage"):
                    break
                await asyncio.sleep(0.2)
            first = len(telegram.calls("copyMessage"))
            for _ in range(int(seconds)):
                await asyncio.sleep(1)
                samples.append(process.memory_info().rss / 2**20)
        finally:
            worker.terminate()
            await asyncio.to_thread(worker.wait, 30)
        return samples, len(telegram.calls("copyMessage")) - first


async def run(admin: str, chats: int, seconds: float) -> None:
    url = await create_database(admin, "tt_storage_bench_campaigns")
    try:
        await tt_storage.ops.apply_migrations(url)
        started = time.monotonic()
        await generate(url, chats, downloads=1_000, music=100)
        print(f"{chats:,} chats generated in {time.monotonic() - started:.1f} s")
        await tt_storage.init_storage(url)
        rows = []
        audiences: tuple[campaigns.Audience, ...] = ("private", "all")
        for audience in audiences:
            times = []
            for _ in range(3):
                t = await timed(
                    campaigns.create_campaign(BOT, copy_from=(999, 5), audience=audience)
                )
                times.append(t)
            status = (await campaigns.list_campaigns(BOT, 1))[0]
            rows.append((f"create_campaign, audience={audience}", status.total, times))
        open_chunks = sum(
            -(-s.total // campaigns.CHUNK_SIZE) for s in await campaigns.list_campaigns(BOT)
        )
        claims = []
        for i in range(50):
            started = time.perf_counter()
            assert await campaigns.claim_chunk(BOT, f"bench-{i}", 30) is not None
            claims.append(time.perf_counter() - started)
        for campaign in await campaigns.list_campaigns(BOT):
            await campaigns.cancel_campaign(campaign.id)
        print("\n| step | recipients | median | runs |\n|---|---|---|---|")
        for name, total, times in rows:
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(f"| {name} | {total:,} | {statistics.median(times):.2f} s | {runs} s |")
        claim_ms = sorted(c * 1000 for c in claims)
        print(
            f"| claim_chunk (50 claims, {open_chunks:,} chunks open) "
            f"| | {statistics.median(claim_ms):.2f} ms | p90 {claim_ms[44]:.2f} ms |"
        )
        samples, sent = await memory_of_a_worker(url, seconds)
        await tt_storage.close_storage()
        print(
            f"\nworker process, {len(samples)} s from its first send, {sent:,} messages sent: RSS "
            + ", ".join(f"{s:.0f}" for s in samples)
            + " MiB"
        )
    finally:
        await drop_database(admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.campaigns", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("TT_STORAGE_BENCH_ADMIN_URL", LOCAL_ADMIN))
    parser.add_argument("--chats", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.chats, args.seconds))


if __name__ == "__main__":
    main()
