"""aiogram event isolation across processes, on PostgreSQL advisory locks.

``Dispatcher(storage=PostgresStorage(), events_isolation=AdvisoryLockIsolation())``: updates of
one FSM key are handled one at a time across every worker process of the bot.

An advisory lock belongs to a database session, so each held lock keeps one connection busy
for the handler's duration. Those connections come from a small pool of their own, never from
tt-storage's pool: the handlers inside the lock use that one, so holding locks can never starve
them (N updates holding N pooled connections, their handlers waiting for a N+1st: a deadlock
until ``acquire_timeout``). Within a process, updates of one key queue on an ``asyncio.Lock``
first, so a burst for one chat holds one connection, not one per update. The waits together
(that queue, a free lock connection, the lock itself) are bounded by ``timeout``. A session that
dies releases its locks: a crashed worker never leaves a chat locked. While the server is
unreachable, updates are isolated within the process only, and handled.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey

from ..core import db, sql, validate
from ..core.database import Database, current
from ..core.errors import StorageError, StorageTimeout, StorageUnavailable
from .keys import key_text

log = logging.getLogger("tt_storage")


def lock_id(key: StorageKey) -> int:
    """A signed 64-bit advisory lock id for ``key`` (a collision only serializes two keys).

    Any key has one: the hash is of the key's lossless bytes (a NUL or a surrogate included),
    which never reach SQL as text."""
    data = key_text(key).encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(b"tt-storage fsm:" + data, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _KeyLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class AdvisoryLockIsolation(BaseEventIsolation):
    """``BaseEventIsolation`` on ``pg_advisory_lock``: one update per key at a time, across
    processes.

    ``db_url``: the server to lock on (default: ``database``'s ``listen_url`` if it has one,
    else the server of its pool; ``database`` defaults to the current one when first used). It
    must be a direct connection: a transaction-mode pooler (pgbouncer) would take and release
    the lock on different server sessions, so such a URL is refused. ``max_connections``:
    locks held at once by this process (other keys wait). ``timeout``: seconds an update waits
    in all (behind an update of its key in this process, for a lock connection, for the lock);
    past it the update fails with ``StorageTimeout``.

    While the lock server is unreachable, updates are isolated within this process only (the
    in-process queue per key still holds) and handled, as with ``PostgresStorage``'s
    ``fail_open``; one warning when that starts, one line when it ends.
    """

    def __init__(
        self,
        db_url: str | None = None,
        *,
        max_connections: int = 10,
        timeout: float = 60.0,
        database: Database | None = None,
    ) -> None:
        validate.url(db_url, "db_url")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ValueError("max_connections must be a positive int")
        if max_connections < 1 or not timeout > 0:
            raise ValueError("max_connections and timeout must be positive")
        self.db_url = db_url
        self.database = database
        self.max_connections = max_connections
        self.timeout = float(timeout)
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._keys: dict[int, _KeyLock] = {}
        self._in_use = 0
        self._outage = False

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        ident = lock_id(key)
        local = self._keys.get(ident)
        if local is None:
            local = self._keys[ident] = _KeyLock()
        local.users += 1
        try:
            deadline = asyncio.get_running_loop().time() + self.timeout
            try:
                async with asyncio.timeout_at(deadline):
                    await local.lock.acquire()
            except TimeoutError as exc:
                raise self._lock_timeout() from exc
            try:
                async with self._server_lock(ident, deadline):
                    yield
            finally:
                local.lock.release()
        finally:
            local.users -= 1
            if local.users == 0:
                del self._keys[ident]

    def _lock_timeout(self) -> StorageTimeout:
        return StorageTimeout(
            f"FSM lock not acquired within {self.timeout:g} s "
            "(another update of this chat is still being handled)"
        )

    @asynccontextmanager
    async def _server_lock(self, ident: int, deadline: float) -> AsyncGenerator[None, None]:
        """The advisory lock for the block; none while the server is unreachable."""
        pool = await self._get_pool()
        conn = None
        try:
            conn = await self._acquire(pool, deadline)
            await self._take(conn, ident, deadline)
        except _Outage as outage:
            cause = outage.__cause__
        except BaseException:
            if conn is not None:
                await self._release(pool, conn, quiet=True)
            raise
        else:
            cause = None
        self._note_outage(cause)
        if cause is not None:
            if conn is not None:
                await self._release(pool, conn, quiet=True)
            yield  # isolated within this process only: the caller holds the key's queue
            return
        assert conn is not None
        try:
            yield
        except BaseException:
            await self._release(pool, conn, quiet=True)
            raise
        await self._release(pool, conn, quiet=False)

    async def _acquire(self, pool: asyncpg.Pool, deadline: float) -> asyncpg.Connection:
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
        busy = self._in_use >= self.max_connections
        try:
            conn = await pool.acquire(timeout=remaining)
        except TimeoutError as exc:
            if not busy and self._in_use < self.max_connections:
                raise _Outage from exc  # a connection was free: the server did not answer
            raise StorageTimeout(
                f"no FSM lock connection within {self.timeout:g} s "
                f"({self.max_connections} locks held by this process)"
            ) from exc
        except StorageError:
            raise
        except db.UNAVAILABLE as exc:
            raise _Outage from exc
        except asyncpg.PostgresError as exc:  # a new connection refused: wrong password, …
            raise StorageError(
                f"FSM lock server refused the connection: {type(exc).__name__}: {exc}"
            ) from exc
        self._in_use += 1
        return conn

    async def _take(self, conn: asyncpg.Connection, ident: int, deadline: float) -> None:
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
        try:
            await conn.execute(sql.FSM_LOCK, ident, timeout=remaining)
        except BaseException as exc:
            # Cancelled or timed out mid-wait, the lock may have been granted anyway: closing
            # the session is the sure release.
            conn.terminate()
            if isinstance(exc, TimeoutError):
                raise self._lock_timeout() from exc
            if isinstance(exc, db.UNAVAILABLE):
                raise _Outage from exc
            if isinstance(exc, asyncpg.PostgresError):
                raise StorageUnavailable(f"FSM lock failed: {type(exc).__name__}") from exc
            raise

    async def _release(self, pool: asyncpg.Pool, conn: asyncpg.Connection, *, quiet: bool) -> None:
        """Back to the pool: its reset (FSM_UNLOCK_ALL) releases the lock; if that fails, asyncpg
        closes the connection, which releases it too (once the server notices)."""
        self._in_use -= 1
        try:
            await pool.release(conn, timeout=self.timeout)
        except TimeoutError as exc:
            if not quiet:
                raise StorageTimeout(
                    f"FSM lock not released within {self.timeout:g} s: its connection was "
                    "dropped (the server frees the lock when it notices)"
                ) from exc
        except db.UNAVAILABLE:
            pass  # the session is gone, and its lock with it

    def _note_outage(self, cause: BaseException | None) -> None:
        if cause is not None and not self._outage:
            self._outage = True
            log.warning(
                "FSM lock server unreachable, updates are isolated within this process only: %s",
                type(cause).__name__,
            )
        elif cause is None and self._outage:
            self._outage = False
            log.info("FSM lock server reachable again")

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    **_server_params(self.database or current(), self.db_url),
                    min_size=0,
                    max_size=self.max_connections,
                    statement_cache_size=0,
                    init=_refuse_pooler,
                    reset=_unlock_all,
                )
        return self._pool

    async def close(self) -> None:
        """Close the lock connections (each one's locks go with it)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


class _Outage(Exception):
    """The lock server did not answer (its cause is the driver's error)."""


async def _unlock_all(conn: asyncpg.Connection) -> None:
    await conn.execute(sql.FSM_UNLOCK_ALL)


async def _refuse_pooler(conn: asyncpg.Connection) -> None:
    if await db.through_pooler(conn):
        raise StorageError(
            "AdvisoryLockIsolation needs a direct PostgreSQL connection, not a pooler "
            "(pgbouncer): pass db_url= (or init_storage's listen_url=) with the server's own URL"
        )


def _server_params(database: Database, url: str | None) -> dict[str, Any]:
    """Connection parameters: ``url``, else ``database``'s ``listen_url``, else its pool's."""
    params = database.direct_params(url)
    params.setdefault("timeout", database.options.connect_timeout)
    return params
