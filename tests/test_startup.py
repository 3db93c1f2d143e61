"""Start-up: waiting for a server that is not there yet (``connect_wait``), every start-up wait
bounded (the migration lock held by another session), and wrong argument types."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

import tt_storage as tt
from tests.support.faults import OwnServer, own_server
from tests.support.servers import free_port
from tt_storage.bot.isolation import AdvisoryLockIsolation
from tt_storage.core import migration_steps
from tt_storage.core.config import tortoise_config
from tt_storage.core.startup import CONNECT_WAIT_ENV

SECRET = "pw-s3cret-word"
#: A test that would wait without end fails here instead.
GUARD = 60


def _waits(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "waiting for PostgreSQL" in r.getMessage()]


async def test_an_unreachable_server_is_named_with_its_cause_and_the_fix() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(tt.StorageUnavailable) as caught:
        await tt.Storage().init(f"postgresql://bot:{SECRET}@127.0.0.1:{port}/db")
    text = str(caught.value)
    assert f"127.0.0.1:{port}" in text
    assert "ConnectionRefusedError" in text
    assert "connect_wait" in text  # what to do
    assert SECRET not in text


async def test_the_cli_names_host_port_and_cause(capsys: pytest.CaptureFixture[str]) -> None:
    from tt_storage.ops.cli import run

    port = free_port()
    code = await run(["--url", f"postgresql://bot:{SECRET}@127.0.0.1:{port}/db", "stats"])
    err = capsys.readouterr().err
    assert code != 0
    assert f"127.0.0.1:{port}" in err and "ConnectionRefusedError" in err
    assert SECRET not in err


async def test_the_cli_waits_with_wait(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from tt_storage.ops.cli import run

    port = free_port()
    code = await run(
        ["--url", f"postgresql://bot:{SECRET}@127.0.0.1:{port}/db", "--wait", "0.6", "stats"]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert "after waiting 0.6 s" in err and f"127.0.0.1:{port}" in err
    assert _waits(caplog)
    assert SECRET not in err + caplog.text


async def test_connect_wait_retries_then_names_host_port_and_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    caplog.set_level(logging.INFO, logger="tt_storage")
    with pytest.raises(tt.StorageUnavailable) as caught:
        async with asyncio.timeout(GUARD):
            await tt.Storage().init(
                f"postgresql://bot:{SECRET}@127.0.0.1:{port}/db", connect_wait=1.5
            )
    waits = _waits(caplog)
    assert len(waits) >= 2, waits  # backoff from 0.25 s: several attempts in 1.5 s
    assert all(f"127.0.0.1:{port}" in line and "ConnectionRefusedError" in line for line in waits)
    assert "after waiting 1.5 s" in str(caught.value)
    assert SECRET not in caplog.text + str(caught.value)


async def test_connect_wait_from_the_environment(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv(CONNECT_WAIT_ENV, "0.6")
    with pytest.raises(tt.StorageUnavailable, match=r"after waiting 0\.6 s"):
        await tt.Storage().init(f"postgresql://bot@127.0.0.1:{port}/db")
    assert _waits(caplog)
    monkeypatch.setenv(CONNECT_WAIT_ENV, "soon")
    with pytest.raises(ValueError, match=CONNECT_WAIT_ENV):
        await tt.Storage().init(f"postgresql://bot@127.0.0.1:{port}/db")


@pytest.mark.parametrize("bad", [-1, float("nan"), "10"])
async def test_bad_connect_wait_fails_at_the_call(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="connect_wait"):
        await tt.Storage().init("postgresql://bot@127.0.0.1:1/db", connect_wait=bad)  # type: ignore[arg-type]


async def test_connect_wait_sees_a_server_that_starts_meanwhile(
    caplog: pytest.LogCaptureFixture,
) -> None:
    own: OwnServer = own_server()
    if not (own.pgdata / "postmaster.pid").exists():
        await own.start()
    url = await own.create_database()
    await own.stop()
    caplog.set_level(logging.INFO, logger="tt_storage")
    storage = tt.Storage()
    try:
        task = asyncio.create_task(storage.init(url, connect_wait=GUARD))
        async with asyncio.timeout(GUARD):
            while not _waits(caplog):  # noqa: ASYNC110 - until the first failed attempt
                await asyncio.sleep(0.05)
        assert not task.done()
        await own.start()
        async with asyncio.timeout(GUARD):
            await task
        async with storage.connection() as conn:
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await storage.close()
        if not (own.pgdata / "postmaster.pid").exists():
            await own.start()
    assert "FileNotFoundError" in _waits(caplog)[0]  # the socket is not there while it is down
    assert any("answered" in r.getMessage() for r in caplog.records)


async def test_a_held_migration_lock_ends_in_storage_timeout_naming_the_holder(
    db_url: str,
) -> None:
    holder = await asyncpg.connect(
        **database_kwargs(db_url), server_settings={"application_name": "the-stuck-migrator"}
    )
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migration_steps.MIGRATION_LOCK_KEY)
        with pytest.raises(tt.StorageTimeout) as caught:
            async with asyncio.timeout(GUARD):
                await tt.Storage().init(
                    db_url,
                    migrate=True,
                    connect_timeout=2,
                    command_timeout=2,
                    migration_lock_timeout=1,
                )
    finally:
        await holder.close()
    text = str(caught.value)
    assert "migration lock not acquired within 1 s" in text
    assert f"pid {holder.get_server_pid()}" in text
    assert "the-stuck-migrator" in text


async def test_the_migration_lock_wait_has_a_default_bound() -> None:
    import inspect

    for function in (tt.ops.apply_migrations, tt.Storage.init):
        bound = inspect.signature(function).parameters["migration_lock_timeout"].default
        assert 0 < bound < float("inf")


def database_kwargs(url: str) -> dict[str, object]:
    from tt_storage.core.config import connect_kwargs

    return connect_kwargs(url)


# --- wrong types (a TypeError naming the argument, not an AttributeError) -------------------


@pytest.mark.parametrize("name", ["db_url", "replica_url", "listen_url"])
async def test_storage_init_with_a_non_str_url_is_a_type_error(name: str) -> None:
    with pytest.raises(TypeError, match=f"{name} must be a database URL"):
        await tt.Storage().init(**{name: 5})  # type: ignore[arg-type]


def test_isolation_with_a_non_str_url_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="db_url must be a database URL"):
        AdvisoryLockIsolation(db_url=5)  # type: ignore[arg-type]


async def test_migrations_and_config_with_a_non_str_url_are_type_errors() -> None:
    with pytest.raises(TypeError, match="db_url"):
        await tt.ops.apply_migrations(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="db_url"):
        tortoise_config(5)  # type: ignore[arg-type]
