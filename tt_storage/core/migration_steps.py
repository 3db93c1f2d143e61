"""aerich's steps, each in a Tortoise context of its own: upgrade (serialised across processes by
an advisory lock, waited for within a bound that names its holder), heads, and the relabelling
of rows an earlier version wrote. aerich is imported on use: it costs ~0.4 s, which
``import tt_storage`` does not pay."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any

import asyncpg
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext

from . import db, sql
from .app import APP, CONNECTION, LEGACY_APP, migrations_location, packaged_migrations
from .errors import StorageTimeout

log = logging.getLogger("tt_storage")


async def in_fresh_context(coro_fn: Any, *args: Any) -> Any:
    # aerich calls Tortoise.init in whatever context it runs in: give it one of its own so the
    # app's Tortoise state is left alone. The empty TortoiseContext matters too: aerich skips
    # Tortoise.init when *any* context is current, and with none of its own the app's global
    # fallback would be -- so migrating another URL would silently check the app's database.
    async def isolated() -> Any:
        with TortoiseContext():
            return await coro_fn(*args)

    return await asyncio.create_task(isolated(), context=contextvars.Context())


#: The advisory lock key that serialises migrations (any constant; "tt-storage" in hex-ish).
MIGRATION_LOCK_KEY = 0x7474_5354_4F52
MIGRATION_LOCK_POLL = 0.2
#: Seconds a process waits for the migration lock another one holds (its migrations may build
#: indexes on a big table: minutes), before ``StorageTimeout`` naming the holder.
DEFAULT_MIGRATION_LOCK_TIMEOUT = 600.0
#: While it waits for the lock, a line this often.
LOCK_LOG_EVERY = 30.0


async def relabel_migrations(conn: asyncpg.Connection) -> int:
    """Move tt-storage's aerich rows recorded under the earlier label ``"models"`` to
    ``"tt_storage"`` (idempotent); return how many moved."""
    if not await conn.fetchval(sql.AERICH_TABLE_EXISTS):
        return 0
    status: str = await conn.execute(sql.RELABEL_MIGRATIONS, APP, LEGACY_APP, packaged_migrations())
    moved = int(status.rsplit(" ", 1)[-1])
    if moved:
        log.info(
            "aerich: %d tt-storage migration row(s) relabelled %r -> %r", moved, LEGACY_APP, APP
        )
    return moved


@asynccontextmanager
async def _aerich(config: dict[str, Any]) -> AsyncIterator[Any]:
    """aerich's ``Command`` on ``config`` (in the caller's fresh context)."""
    from aerich import Command  # on use: see the module's docstring

    async with Command(config, app=APP, location=str(migrations_location())) as command:
        yield command


async def upgrade(
    config: dict[str, Any], lock_timeout: float = DEFAULT_MIGRATION_LOCK_TIMEOUT
) -> list[str]:
    async with _aerich(config) as command:
        # Many bot processes may start with migrate=True at once: one migrates, the others
        # wait here (up to lock_timeout) and then find nothing pending.
        async with get_connection(CONNECTION).acquire_connection() as lock:
            limit = config["connections"][CONNECTION]["credentials"].get("command_timeout")
            await take_migration_lock(lock, MIGRATION_LOCK_KEY, lock_timeout, limit)
            try:
                await relabel_migrations(lock)
                applied: list[str] = await command.upgrade(run_in_transaction=True)
            finally:
                await lock.execute(sql.MIGRATION_UNLOCK, MIGRATION_LOCK_KEY)
    return applied


async def heads(config: dict[str, Any]) -> list[str]:
    async with _aerich(config) as command:
        async with get_connection(CONNECTION).acquire_connection() as conn:
            await relabel_migrations(conn)
        names: list[str] = await command.heads()
    return names


async def take_migration_lock(
    conn: asyncpg.Connection, key: int, wait: float, command_timeout: float | None
) -> None:
    """Take the advisory lock ``key`` on ``conn``, polling, for up to ``wait`` seconds; then
    ``StorageTimeout`` naming the session that holds it. Each poll is a statement, bounded by
    ``command_timeout`` too.

    Polled, not waited for inside a statement: a waiting statement holds a snapshot, which the
    holder's CREATE INDEX CONCURRENTLY would wait for in turn (a deadlock PostgreSQL cannot see,
    since it runs through this client)."""

    def limit() -> float:
        left = max(deadline - time.monotonic(), 1.0)
        return left if command_timeout is None else min(left, command_timeout)

    start = time.monotonic()
    deadline = start + wait
    logged: float | None = None
    while True:
        if await conn.fetchval(sql.MIGRATION_TRY_LOCK, key, timeout=limit()):
            return
        now = time.monotonic()
        if now >= deadline or logged is None or now - logged >= LOCK_LOG_EVERY:
            holder = await _holder(conn, key, limit())
            if now >= deadline:
                raise StorageTimeout(
                    f"migration lock not acquired within {wait:g} s: another process is "
                    f"migrating this database, or stopped while it was ({holder}). If it is "
                    "stuck, end it (or its session: SELECT pg_terminate_backend(pid)) and start "
                    "again, or wait longer with migration_lock_timeout=SECONDS"
                )
            log.info(
                "waiting for the migration lock (%s): %.0f s of %g s",
                holder,
                now - start,
                wait,
            )
            logged = now
        await asyncio.sleep(min(MIGRATION_LOCK_POLL, max(deadline - now, 0.0)))


async def _holder(conn: asyncpg.Connection, key: int, limit: float) -> str:
    """Who holds the advisory lock ``key``, as far as this session may see."""
    try:
        row = await conn.fetchrow(
            sql.ADVISORY_LOCK_HOLDER, key >> 32, key & 0xFFFF_FFFF, timeout=limit
        )
    except (asyncpg.PostgresError, TimeoutError) as exc:
        return f"holder unknown: {db.cause(exc)}"
    if row is None:
        return "holder unknown: it released the lock meanwhile, or is not visible to this user"
    since = row["backend_start"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    where = row["client_addr"] or "a local socket"
    name = row["application_name"] or "no application_name"
    state = f"{row['state']} for {row['state_seconds']:.0f} s" if row["state"] else "state unknown"
    return f"held by pid {row['pid']}, {name!r}, from {where}, connected {since}, {state}"
