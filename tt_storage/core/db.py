"""How a statement reaches PostgreSQL: the pooled connection, time limits, error translation.

Hot-path statements go straight to asyncpg on Tortoise's own pool (the model layer costs
~6x per row); every wait here is bounded and every driver error becomes a ``StorageError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.exceptions import ConfigurationError, DBConnectionError

from .config import CONNECTION, REPLICA, PoolOptions
from .errors import StorageError, StorageNotInitialized, StorageTimeout, StorageUnavailable

_client: BaseDBAsyncClient | None = None
_replica: BaseDBAsyncClient | None = None
_options = PoolOptions()

# Errors that mean "the server is not there (now)", as opposed to "this statement is wrong".
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


def bind(
    client: BaseDBAsyncClient | None,
    options: PoolOptions | None = None,
    replica: BaseDBAsyncClient | None = None,
) -> None:
    """Point the library at ``client`` (``None`` unbinds), admin reads at ``replica`` if given.
    Called by the lifecycle."""
    global _client, _options, _replica
    _client = client
    _options = options or PoolOptions()
    _replica = replica if client is not None else None


def client() -> BaseDBAsyncClient:
    """The bound client, else the ``default`` connection of an app that runs Tortoise itself."""
    if _client is not None:
        return _client
    try:
        return get_connection(CONNECTION)
    except (ConfigurationError, RuntimeError, KeyError) as exc:
        raise StorageNotInitialized(
            "tt-storage has no database: call init_storage() (or setup_storage(dp)) first"
        ) from exc


def read_client() -> BaseDBAsyncClient:
    """Where reads that may lag go: the replica if one is configured, else the primary."""
    if _replica is not None:
        return _replica
    if _client is None:  # an app running Tortoise itself, perhaps with a "replica" connection
        try:
            return get_connection(REPLICA)
        except (ConfigurationError, RuntimeError, KeyError):
            pass
    return client()


def options() -> PoolOptions:
    return _options


class connection:  # lowercase: used like the function it replaced, `async with connection()`
    """A pooled asyncpg connection, acquired within ``acquire_timeout``; driver errors inside
    the block become ``StorageError``s.

    ``replica=True`` (or ``read_connection()``): from the replica's pool when one is configured.
    A class, not a generator-based context manager: this runs around every statement.
    """

    __slots__ = ("_conn", "_wrapper")

    def __init__(self, *, replica: bool = False) -> None:
        self._wrapper = (read_client() if replica else client()).acquire_connection()
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        wrapper = self._wrapper
        pool = getattr(wrapper.client, "_pool", None)
        try:
            if pool is not None and pool.get_idle_size() > 0:
                # An idle connection is handed over without waiting: no timer needed (an
                # asyncio.timeout costs about as much as the rest of this method).
                conn = await wrapper.__aenter__()
            else:
                async with asyncio.timeout(_options.acquire_timeout):
                    conn = await wrapper.__aenter__()
        except TimeoutError as exc:
            raise StorageTimeout(
                f"no database connection within {_options.acquire_timeout:g} s "
                f"(pool max_size={_options.max_size})"
            ) from exc
        except UNAVAILABLE as exc:
            raise StorageUnavailable(f"database unreachable: {type(exc).__name__}") from exc
        except asyncpg.PostgresError as exc:  # a new connection refused: wrong password, …
            raise StorageError(f"cannot log in: {type(exc).__name__}: {exc}") from exc
        self._conn = conn
        return conn

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is not None:
                _translate(exc, self._conn)
        finally:
            try:
                await self._wrapper.__aexit__(None, None, None)
            except Exception:
                # The release failed (the connection died after the statement): asyncpg has
                # terminated it and the pool replaces it. The statement's own outcome stands.
                pass


def _translate(exc: BaseException, conn: asyncpg.Connection | None) -> None:
    """Raise the ``StorageError`` for a driver error raised while using ``conn``."""
    if isinstance(exc, TimeoutError):  # asyncpg's command_timeout
        raise StorageTimeout(
            f"statement did not finish within {_options.command_timeout:g} s"
        ) from exc
    if isinstance(exc, UNAVAILABLE):
        raise StorageUnavailable(f"database connection lost: {type(exc).__name__}") from exc
    if isinstance(exc, asyncpg.InternalClientError):
        # The connection's protocol state is broken (an idle connection whose backend was
        # terminated, MagicStack/asyncpg#1069): never hand it out again.
        if conn is not None:
            conn.terminate()
        raise StorageUnavailable(f"database connection broken: {type(exc).__name__}") from exc
    if isinstance(exc, asyncpg.PostgresError):
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc


#: How many times a write is re-run when the chat it resolved was migrated under it.
RESOLVE_RETRIES = 2


async def fetchrow_resolved(
    conn: asyncpg.Connection, sql: str, *args: Any
) -> asyncpg.Record | None:
    """``conn.fetchrow`` of a statement that resolves its chat through the migrated ids (see
    ``sql._RESOLVED``), re-run if it fails with a foreign-key violation or a deadlock.

    A foreign-key violation means the chat's row vanished after the statement's snapshot was
    taken: a ``migrate_chat`` committed meanwhile (the old row is gone, or migration 8's trigger
    refused to re-create it); the re-run's snapshot sees the migration, so it resolves the old
    id to the new one. A deadlock (seen once in CI among 100 concurrent first downloads of one
    chat) cancels the victim's whole statement. Either way the failed statement wrote nothing,
    so outside a transaction running it again is safe.
    """
    for _ in range(RESOLVE_RETRIES):
        try:
            return await conn.fetchrow(sql, *args)
        except (asyncpg.ForeignKeyViolationError, asyncpg.DeadlockDetectedError):
            if conn.is_in_transaction():
                raise  # the transaction is aborted: only its owner can retry it
    return await conn.fetchrow(sql, *args)


async def fetchrow(sql: str, *args: Any) -> asyncpg.Record | None:
    async with connection() as conn:
        return await conn.fetchrow(sql, *args)


async def fetchval(sql: str, *args: Any) -> Any:
    async with connection() as conn:
        return await conn.fetchval(sql, *args)


async def fetch(sql: str, *args: Any) -> list[asyncpg.Record]:
    async with connection() as conn:
        return list(await conn.fetch(sql, *args))


async def execute(sql: str, *args: Any) -> int:
    """Run ``sql``; return the number of rows it touched."""
    async with connection() as conn:
        status: str = await conn.execute(sql, *args)
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# Reads that may go to the streaming replica (``replica_url``): admin stats, exports, broadcast
# id streams. They can lag the primary by the replication delay; nothing that decides a write
# or serves an update (the middleware, the ad rule, settings) reads through these.


def read_connection() -> connection:
    """``connection()`` on the replica when configured, else on the primary."""
    return connection(replica=True)


async def read_fetchrow(sql: str, *args: Any) -> asyncpg.Record | None:
    async with read_connection() as conn:
        return await conn.fetchrow(sql, *args)


async def read_fetchval(sql: str, *args: Any) -> Any:
    async with read_connection() as conn:
        return await conn.fetchval(sql, *args)


async def read_fetch(sql: str, *args: Any) -> list[asyncpg.Record]:
    async with read_connection() as conn:
        return list(await conn.fetch(sql, *args))


async def read_stream(sql: str, *args: Any, prefetch: int = 1_000) -> AsyncIterator[asyncpg.Record]:
    """The rows of ``sql`` through a server-side cursor in one read-only transaction.

    The statement is prepared explicitly: with ``statement_cache_size=0`` (pgbouncer) that makes
    it unnamed. ``conn.cursor()`` would prepare a *named* one and close it only with the client
    connection's next statement — behind transaction pooling, on another server connection — so
    the name would stay on this one and collide with the same name from another bot process
    (``DuplicatePreparedStatementError``).
    """
    async with read_connection() as conn, conn.transaction(readonly=True):
        statement = await conn.prepare(sql)
        async for row in statement.cursor(*args, prefetch=prefetch):
            yield row


async def through_pooler(conn: asyncpg.Connection) -> bool:
    """Whether ``conn`` reaches PostgreSQL through a pooler such as pgbouncer.

    A pooler hands the client a cancel key of its own, so the backend pid the client was told at
    connect differs from the backend that actually runs its statements.
    """
    backend: int = await conn.fetchval("SELECT pg_backend_pid()")
    return bool(conn.get_server_pid() != backend)
