"""Migrations under faults: ``pending_migrations``, ``apply_migrations``, ``adopt_database`` and
``init_storage(migrate=True)`` against a stopped server, a black-holed network and a statement
stuck on a lock each raise the matching ``StorageError`` within the limits they were given (they
used to raise ``FileNotFoundError`` or a bare ``TimeoutError``, and always waited 10 s).

The stopped server is the test's own (``tests.support.faults``); the black hole is a frozen
TCP proxy in front of the session's database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

import asyncpg
import pytest

import tt_storage as tt
from tests.support import database
from tests.support.database import database_name
from tests.support.faults import FreezableProxy, OwnServer, own_server, unbound
from tests.test_faults import elapsed
from tt_storage.core import migration_steps

pytestmark = pytest.mark.slow


class Limits(TypedDict):
    connect_timeout: float
    command_timeout: float


LIMITS: Limits = {"connect_timeout": 0.5, "command_timeout": 0.5}
#: Loose: far under the 10 s every one of these calls used to wait whatever it was given.
BOUND = 5.0

Call = Callable[[str], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "pending_migrations": lambda url: tt.ops.pending_migrations(url, **LIMITS),
    "apply_migrations": lambda url: tt.ops.apply_migrations(url, **LIMITS),
    "adopt_database": lambda url: tt.ops.adopt_database(url, **LIMITS),
    "init_storage(migrate=True)": lambda url: tt.init_storage(url, migrate=True, **LIMITS),
}


@pytest.fixture
def own() -> OwnServer:
    return own_server()


async def outcomes(url: str) -> dict[str, tuple[BaseException | None, float]]:
    """Each call on ``url``, with the library unbound (as in a process starting up)."""
    results = {}
    async with unbound():
        for name, call in CALLS.items():
            results[name] = await elapsed(call(url))
            await tt.close_storage()  # in case one did connect
    return results


async def test_stopped_server_is_storage_unavailable(own: OwnServer) -> None:
    if not (own.pgdata / "postmaster.pid").exists():
        await own.start()
    url = await own.create_database()
    await own.stop()
    try:
        results = await outcomes(url)
    finally:
        await own.start()
    for name, (exc, seconds) in results.items():
        print(f"stopped server: {name} {type(exc).__name__} after {seconds:.2f} s")
        assert isinstance(exc, tt.StorageUnavailable), (name, exc)
        assert not isinstance(exc, tt.StorageTimeout), (name, exc)
        assert "unreachable" in str(exc) and "FileNotFoundError" in str(exc), (name, exc)
    # Up again: every call works.
    assert await tt.ops.pending_migrations(url, **LIMITS) == []
    assert await tt.ops.adopt_database(url, **LIMITS) == []


async def test_black_holed_network_is_storage_timeout_within_connect_timeout(
    db_url: str,
) -> None:
    async with FreezableProxy(db_url) as proxy:
        proxy.freeze()
        results = await outcomes(proxy.url(database_name(db_url)))
    for name, (exc, seconds) in results.items():
        print(f"black-holed connect: {name} {type(exc).__name__} after {seconds:.2f} s")
        assert isinstance(exc, tt.StorageTimeout), (name, exc)
        assert "connect_timeout=0.5 s" in str(exc), (name, exc)
        assert seconds < BOUND, (name, seconds)


async def test_network_black_holed_while_migrating_is_storage_timeout(
    db_url: str, raw: asyncpg.Connection
) -> None:
    """Frozen after connecting, mid-statement: apply_migrations waits for another migrator's
    lock, polling it, when the network goes silent; ``command_timeout`` ends it."""
    holder = await database.connect(db_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migration_steps.MIGRATION_LOCK_KEY)
        async with FreezableProxy(db_url) as proxy:
            task = asyncio.create_task(
                tt.ops.apply_migrations(proxy.url(database_name(db_url)), **LIMITS)
            )
            async with asyncio.timeout(10):
                while not await raw.fetchval(  # noqa: ASYNC110 - polling the server
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND query LIKE '%pg_try_advisory_lock%' AND pid <> $1",
                    holder.get_server_pid(),
                ):
                    await asyncio.sleep(0.05)
            proxy.freeze()
            exc, seconds = await elapsed(task)
    finally:
        await holder.close()
    print(f"black-holed mid-statement: {type(exc).__name__} {seconds:.2f} s after the freeze")
    assert isinstance(exc, tt.StorageTimeout), exc
    assert "command_timeout=0.5 s" in str(exc)
    assert seconds < BOUND, seconds


async def test_statement_stuck_on_a_lock_is_storage_timeout(
    db_url: str, raw: asyncpg.Connection
) -> None:
    """aerich's table locked by someone else: every call gives up at ``command_timeout``."""
    results: dict[str, tuple[BaseException | None, float]] = {}
    async with raw.transaction():
        await raw.execute("LOCK TABLE aerich IN ACCESS EXCLUSIVE MODE")
        for name in ("pending_migrations", "apply_migrations", "adopt_database"):
            results[name] = await elapsed(CALLS[name](db_url))
    for name, (exc, seconds) in results.items():
        print(f"aerich table locked: {name} {type(exc).__name__} after {seconds:.2f} s")
        assert isinstance(exc, tt.StorageTimeout), (name, exc)
        assert seconds < BOUND, (name, seconds)
    assert await tt.ops.pending_migrations(db_url) == []


async def test_limits_default_to_init_storages() -> None:
    """Same names and defaults as ``init_storage``'s pool options; migrations keep no
    statement limit unless given one (a concurrent index build on a big table takes minutes)."""
    import inspect

    defaults = tt.ops.PoolOptions()
    for function in (tt.ops.apply_migrations, tt.ops.pending_migrations, tt.ops.adopt_database):
        parameters = inspect.signature(function).parameters
        assert parameters["connect_timeout"].default == defaults.connect_timeout
    assert inspect.signature(tt.ops.pending_migrations).parameters["command_timeout"].default == (
        defaults.command_timeout
    )
    assert inspect.signature(tt.ops.apply_migrations).parameters["command_timeout"].default is None
