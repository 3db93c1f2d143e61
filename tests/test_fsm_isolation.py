"""AdvisoryLockIsolation: one update per FSM key at a time, across processes, on real
PostgreSQL advisory locks."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiogram.fsm.storage.base import StorageKey

from tests.support import database
from tests.support.fsm_worker import KEY as WORKER_KEY
from tt_storage import PostgresStorage, StorageTimeout
from tt_storage.bot.isolation import AdvisoryLockIsolation, lock_id

KEY = StorageKey(bot_id=42, chat_id=31, user_id=31)
OTHER = StorageKey(bot_id=42, chat_id=32, user_id=32)


@pytest.fixture
async def isolation(db: asyncpg.Connection) -> AsyncIterator[AdvisoryLockIsolation]:
    await db.execute("TRUNCATE tt_storage_fsm")
    made = AdvisoryLockIsolation(timeout=10)
    yield made
    await made.close()


async def held_locks(raw: asyncpg.Connection) -> int:
    count: int = await raw.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return count


async def test_lock_is_held_inside_and_released_after(
    isolation: AdvisoryLockIsolation, db: asyncpg.Connection
) -> None:
    async with isolation.lock(KEY):
        assert await held_locks(db) == 1
        # Another session cannot take it meanwhile.
        assert await db.fetchval("SELECT pg_try_advisory_lock($1)", lock_id(KEY)) is False
    assert await held_locks(db) == 0
    assert isolation._keys == {}


async def test_same_key_serializes_other_keys_do_not(isolation: AdvisoryLockIsolation) -> None:
    order: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with isolation.lock(KEY):
            order.append("first in")
            inside.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with isolation.lock(KEY):
            order.append("second in")

    async def other_key() -> None:
        async with isolation.lock(OTHER):
            order.append("other")

    task = asyncio.create_task(first())
    await inside.wait()
    waiting = asyncio.create_task(second())
    await other_key()  # not blocked by the held lock of KEY
    await asyncio.sleep(0.05)
    assert "second in" not in order
    release.set()
    await asyncio.gather(task, waiting)
    assert order == ["first in", "other", "first out", "second in"]


async def test_handler_error_or_cancellation_releases_the_lock(
    isolation: AdvisoryLockIsolation, db: asyncpg.Connection
) -> None:
    with pytest.raises(RuntimeError):
        async with isolation.lock(KEY):
            raise RuntimeError("handler failed")
    assert await held_locks(db) == 0

    entered = asyncio.Event()

    async def stuck() -> None:
        async with isolation.lock(KEY):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await held_locks(db) == 0
    async with isolation.lock(KEY):
        pass


async def test_a_lock_held_elsewhere_times_out_clearly(db_url: str, db: asyncpg.Connection) -> None:
    other = await database.connect(db_url)
    quick = AdvisoryLockIsolation(timeout=0.3)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", lock_id(KEY))
        with pytest.raises(StorageTimeout, match="FSM lock not acquired"):
            async with quick.lock(KEY):
                pytest.fail("entered a lock another session holds")
        # Nothing leaked: the waiting session was closed, only the other one holds a lock.
        assert await held_locks(db) == 1
        await other.execute("SELECT pg_advisory_unlock_all()")
        async with quick.lock(KEY):
            assert await held_locks(db) == 1
    finally:
        await quick.close()
        await other.close()


async def test_a_full_lock_pool_waits_then_times_out(db: asyncpg.Connection) -> None:
    one = AdvisoryLockIsolation(max_connections=1, timeout=0.3)
    try:
        async with one.lock(KEY):
            with pytest.raises(StorageTimeout, match="no FSM lock connection"):
                async with one.lock(OTHER):
                    pass
        async with one.lock(OTHER):
            pass
    finally:
        await one.close()


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        AdvisoryLockIsolation(max_connections=0)
    with pytest.raises(ValueError):
        AdvisoryLockIsolation(timeout=0)


async def _run_workers(db_url: str, rounds: int, *extra: str) -> None:
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.fsm_worker",
            db_url,
            str(rounds),
            *extra,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert (await worker.stdout.readline()).strip() == b"ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        async with asyncio.timeout(120):
            codes = [await worker.wait() for worker in workers]
        assert codes == [0, 0]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


@pytest.mark.slow  # two Python processes importing aiogram
async def test_two_processes_increment_under_the_lock(db_url: str, db: asyncpg.Connection) -> None:
    await db.execute("TRUNCATE tt_storage_fsm")
    await _run_workers(db_url, 100)
    # Without the lock (``fsm_worker … off``) the same run ends near 100: increments are lost.
    storage = PostgresStorage()
    assert await storage.get_data(WORKER_KEY) == {"count": 200}
