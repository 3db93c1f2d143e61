"""aerich's steps, each in a Tortoise context of its own: upgrade (serialised across processes by
an advisory lock), heads, and the relabelling of rows an earlier version wrote. aerich is
imported on use: it costs ~0.4 s, which ``import tt_storage`` does not pay."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext

from . import sql
from .app import APP, CONNECTION, LEGACY_APP, migrations_location, packaged_migrations

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


async def upgrade(config: dict[str, Any]) -> list[str]:
    async with _aerich(config) as command:
        # Many bot processes may start with migrate=True at once: one migrates, the others
        # wait here and then find nothing pending.
        async with get_connection(CONNECTION).acquire_connection() as lock:
            # Polled, not waited for inside a statement: a waiting statement holds a snapshot,
            # which the holder's CREATE INDEX CONCURRENTLY would wait for in turn (a deadlock
            # PostgreSQL cannot see, since it runs through this client).
            while not await lock.fetchval(sql.MIGRATION_TRY_LOCK, MIGRATION_LOCK_KEY):  # noqa: ASYNC110
                await asyncio.sleep(MIGRATION_LOCK_POLL)
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
