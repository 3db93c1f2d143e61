"""The media cache's single flight on real PostgreSQL: concurrent misses of one key from many
users and two processes run ``produce`` once; a producer that raises or is SIGKILLed hands over
to one waiter; waits are bounded."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import asyncpg
import pytest

from tests.support import media_workers
from tt_storage.media import MediaFile, lookup_media, media_flight, store_media
from tt_storage.testing import TOKEN, FakeTelegram

BOT = 42


@pytest.fixture
async def media(db: asyncpg.Connection) -> asyncpg.Connection:
    """No media entries (the ``db`` fixture empties the tables)."""
    return db


def _config(db_url: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"url": db_url, "key": key, "requests": 100, "first_chat": 1000, "wait": 30} | extra


async def test_200_requests_from_two_processes_produce_once(
    db_url: str, media: asyncpg.Connection, telegram: FakeTelegram
) -> None:
    api = {"api": telegram.url, "token": TOKEN}
    workers = [
        await media_workers.spawn(_config(db_url, "tiktok:200", first_chat=1000 + 100 * i) | api)
        for i in range(2)
    ]
    try:
        await media_workers.go(*workers)
        reports = [await media_workers.report(w) for w in workers]
    finally:
        await media_workers.stop(*workers)
    assert [r["errors"] for r in reports] == [[], []]
    assert sum(r["answered"] for r in reports) == 200
    assert sum(r["produced"] for r in reports) == 1
    assert sum(r["hits"] for r in reports) == 199
    assert len(telegram.uploads()) == 1  # one upload, 199 sends by its file_id
    sent = telegram.calls("sendVideo", ok=True)
    assert sorted(int(r.chat_id or 0) for r in sent) == list(range(1000, 1200))
    stored = await lookup_media("tiktok:200", BOT, "video")
    assert stored is not None and stored.version == 1  # stored once
    w50, w99 = media_workers.percentiles([w for r in reports for w in r["flight_waits"]])
    t50, t99 = media_workers.percentiles([w for r in reports for w in r["waits"]])
    print(
        f"\nsingle flight, 200 requests from 2 processes: 1 produce (200 ms), 1 upload; wait in "
        f"the flight p50 {w50:.0f} ms, p99 {w99:.0f} ms; whole request p50 {t50:.0f} ms, "
        f"p99 {t99:.0f} ms"
    )


async def test_a_sigkilled_producer_hands_over_to_a_waiter(
    db_url: str, media: asyncpg.Connection, telegram: FakeTelegram
) -> None:
    api = {"api": telegram.url, "token": TOKEN}
    doomed = await media_workers.spawn(_config(db_url, "tiktok:kill", requests=1, hang=True) | api)
    waiters = await media_workers.spawn(_config(db_url, "tiktok:kill", requests=50) | api)
    try:
        await media_workers.go(doomed)
        assert await media_workers.line(doomed) == "producing"
        await media_workers.go(waiters)
        await asyncio.sleep(0.5)  # the 50 are queued behind the doomed producer's lock
        killed = time.monotonic()
        doomed.send_signal(signal.SIGKILL)
        assert await media_workers.line(waiters, within=30) == "producing"
        takeover = time.monotonic() - killed
        result = await media_workers.report(waiters)
    finally:
        await media_workers.stop(doomed, waiters)
    assert result["errors"] == []
    assert (result["answered"], result["produced"]) == (50, 1)
    assert len(telegram.uploads()) == 1  # the survivor's; the killed one uploaded nothing
    assert len(telegram.calls("sendVideo", ok=True)) == 50
    print(f"\nSIGKILLed producer: a waiter took over after {takeover * 1000:.0f} ms")


async def test_a_producer_that_raises_lets_one_waiter_take_over(media: asyncpg.Connection) -> None:
    calls = 0

    async def request(chat: int) -> int:
        nonlocal calls
        found = await lookup_media("tiktok:raise", BOT, "video")
        if found is not None:
            return found.version
        async with media_flight("tiktok:raise", BOT, "video", wait=10) as flight:
            if flight.media is not None:
                return flight.media.version
            calls += 1
            await asyncio.sleep(0.05)
            if calls == 1:
                raise RuntimeError("extraction failed")
            made = await store_media("tiktok:raise", BOT, "video", [MediaFile("video", "v")])
            flight.stored(made)
            return made.version

    results = await asyncio.gather(*(request(c) for c in range(30)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and "extraction failed" in str(failed[0])
    assert calls == 2  # the failed producer, then exactly one waiter
    assert [r for r in results if not isinstance(r, BaseException)] == [1] * 29


async def test_the_wait_is_bounded_then_the_waiter_produces_itself(
    media: asyncpg.Connection,
) -> None:
    holding = asyncio.Event()
    release = asyncio.Event()

    async def slow_producer() -> None:
        async with media_flight("tiktok:slow", BOT, "video", wait=5) as flight:
            assert flight.media is None and flight.coordinated
            holding.set()
            await release.wait()

    task = asyncio.create_task(slow_producer())
    await holding.wait()
    start = time.monotonic()
    async with media_flight("tiktok:slow", BOT, "video", wait=0.3) as flight:
        waited = time.monotonic() - start
        assert flight.media is None and not flight.coordinated  # on its own now
    release.set()
    await task
    assert waited >= 0.3


async def test_keys_bots_and_variants_fly_apart(media: asyncpg.Connection) -> None:
    """Each (key, bot, variant) has a flight of its own: none waits for another's producer."""
    entered: list[str] = []
    all_in, release = asyncio.Event(), asyncio.Event()

    async def produce(key: str, bot: int, variant: str) -> None:
        async with media_flight(key, bot, variant, wait=5) as flight:
            assert flight.coordinated
            entered.append(f"{key}/{bot}/{variant}")
            if len(entered) == 4:
                all_in.set()
            await release.wait()

    tasks = [
        asyncio.create_task(produce(*args))
        for args in [("k", 1, "video"), ("k", 2, "video"), ("k", 1, "audio"), ("j", 1, "video")]
    ]
    async with asyncio.timeout(5):
        await all_in.wait()  # each holds its lock at once: none waits for another
    release.set()
    await asyncio.gather(*tasks)


async def test_bad_wait_is_refused(media: asyncpg.Connection) -> None:
    for wait in (0, -1, float("nan"), True, "5"):
        with pytest.raises(ValueError, match="wait"):
            async with media_flight("k", BOT, "video", wait=wait):  # type: ignore[arg-type]
                pass
