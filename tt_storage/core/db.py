"""How a statement reaches PostgreSQL: which database it goes to, the pooled connection, time
limits, error translation.

Hot-path statements go straight to asyncpg on Tortoise's own pool (the model layer costs
~6x per row); every wait here is bounded and every driver error becomes a ``StorageError``.
The database is given (``Target``: what this module needs of it; ``Database`` is the one),
never imported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar, Token
from typing import Any, Protocol

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext
from tortoise.context import _current_context as tortoise_context  # private: test_contract
from tortoise.exceptions import DBConnectionError

from . import tls
from .errors import StorageError, StorageNotInitialized, StorageTimeout, StorageUnavailable
from .pool import PoolOptions
from .urls import endpoint_of

log = logging.getLogger("tt_storage")

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


#: What to do about a server that does not answer, in every "unreachable" message.
UNREACHABLE_HINT = (
    "is PostgreSQL running and listening there? Check the host and port of the URL (DB_URL); "
    "to wait for a server that is still starting, pass connect_wait=SECONDS "
    "(or set TT_STORAGE_CONNECT_WAIT)"
)


def cause(exc: BaseException) -> str:
    """``exc`` as one line: its type and message (driver and OS messages hold no password)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def connect_error(exc: BaseException, where: str) -> StorageError:
    """The error for a connection to ``where`` (``host:port``) that could not be opened:
    a TLS problem says what to fix; anything else is ``StorageUnavailable`` with the cause."""
    problem = tls.describe(exc)
    if problem is not None:
        return StorageError(f"cannot connect to {where}: {problem}")
    return StorageUnavailable(f"database unreachable at {where} ({cause(exc)}): {UNREACHABLE_HINT}")


class Invalidatable(Protocol):
    """Anything holding per-chat settings that a write can make stale."""

    def invalidate(self, chat_id: int) -> None: ...


class Target(Protocol):
    """The database a statement goes to, as the floors below ``Database`` use it."""

    context: TortoiseContext | None
    options: PoolOptions

    def client(self) -> BaseDBAsyncClient: ...

    def read_client(self) -> BaseDBAsyncClient: ...

    def register(self, cache: Invalidatable) -> Callable[[], None]: ...

    def caches_hold(self, chat_id: int) -> bool: ...

    def invalidate(self, chat_id: int) -> None: ...


# --- which database a statement goes to ----------------------------------------------------------
# The one bound in this task (``bound``: the middleware binds its own for each update), else
# the process's default (``init_storage``'s; made when ``tt_storage`` is imported). The default,
# while not initialised, uses the application's own Tortoise connection, if the application
# runs Tortoise itself.

_bound: ContextVar[Target | None] = ContextVar("tt_storage_database", default=None)


class _Process:
    """What is process-wide: the default database (``set_default``)."""

    __slots__ = ("default",)

    def __init__(self) -> None:
        self.default: Target | None = None


_process = _Process()


def current() -> Target:
    """The database this task's statements go to."""
    database = _bound.get()
    if database is not None:
        return database
    return _process.default if _process.default is not None else default()


def default() -> Target:
    """The process's default database."""
    database = _process.default
    if database is None:
        # Not reached once ``tt_storage`` is imported, which every import of this module does.
        raise StorageNotInitialized("no default database: import tt_storage first")
    return database


def set_default(database: Target) -> None:
    """Make ``database`` the default: where statements go in tasks that bound none."""
    _process.default = database


class bound:  # lowercase: used like a function, `with bound(database):`; a class for speed
    """Within the block, this task's statements (and those of tasks it creates) go to
    ``database``, and so do Tortoise's model queries (its context is made current)."""

    __slots__ = ("_database", "_token", "_tortoise")
    _token: Token[Target | None]
    _tortoise: Token[TortoiseContext | None] | None

    def __init__(self, database: Target) -> None:
        self._database = database

    def __enter__(self) -> None:
        context = self._database.context
        self._tortoise = None if context is None else tortoise_context.set(context)
        self._token = _bound.set(self._database)

    def __exit__(self, *exc: object) -> None:
        _bound.reset(self._token)
        if self._tortoise is not None:
            tortoise_context.reset(self._tortoise)


class connection:  # lowercase: used like the function it replaced, `async with connection()`
    """A pooled asyncpg connection, acquired within ``acquire_timeout``; driver errors inside
    the block become ``StorageError``s.

    ``replica=True`` (or ``read_connection()``): from the replica's pool when one is configured.
    A class, not a generator-based context manager: this runs around every statement.
    """

    __slots__ = ("_conn", "_options", "_wrapper")

    def __init__(self, *, replica: bool = False, database: Target | None = None) -> None:
        database = database or current()
        client = database.read_client() if replica else database.client()
        self._wrapper = client.acquire_connection()
        self._options = database.options
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        wrapper, options = self._wrapper, self._options
        pool = getattr(wrapper.client, "_pool", None)
        try:
            if pool is not None and pool.get_idle_size() > 0:
                # An idle connection is handed over without waiting: no timer needed (an
                # asyncio.timeout costs about as much as the rest of this method).
                conn = await wrapper.__aenter__()
            else:
                async with asyncio.timeout(options.acquire_timeout):
                    conn = await wrapper.__aenter__()
        except TimeoutError as exc:
            raise StorageTimeout(
                f"no database connection within {options.acquire_timeout:g} s "
                f"(pool max_size={options.max_size})"
            ) from exc
        except UNAVAILABLE as exc:
            client = wrapper.client
            where = endpoint_of(getattr(client, "host", None), getattr(client, "port", "?"))
            raise connect_error(exc, where) from exc
        except asyncpg.PostgresError as exc:  # a new connection refused: wrong password, …
            raise StorageError(f"cannot log in: {type(exc).__name__}: {exc}") from exc
        self._conn = conn
        return conn

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is not None:
                _translate(exc, self._conn, self._options.command_timeout)
        finally:
            try:
                await self._wrapper.__aexit__(None, None, None)
            except Exception:
                # The release failed (the connection died after the statement): asyncpg has
                # terminated it and the pool replaces it. The statement's own outcome stands.
                pass


def _translate(
    exc: BaseException, conn: asyncpg.Connection | None, command_timeout: float | None
) -> None:
    """Raise the ``StorageError`` for a driver error raised while using ``conn``."""
    if isinstance(exc, TimeoutError):  # asyncpg's command_timeout
        limit = "its time limit" if command_timeout is None else f"{command_timeout:g} s"
        raise StorageTimeout(f"statement did not finish within {limit}") from exc
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

#: Statements re-run by ``fetchrow_resolved`` since the process started, by cause.
reruns: dict[str, int] = {"migrated": 0, "deadlock": 0}


async def fetchrow_resolved(
    conn: asyncpg.Connection, sql: str, *args: Any
) -> asyncpg.Record | None:
    """``conn.fetchrow`` of a statement that resolves its chat through the migrated ids (see
    ``sql._RESOLVED``), re-run if it fails with a foreign-key violation or a deadlock.

    A foreign-key violation means the chat's row vanished after the statement's snapshot was
    taken: a ``migrate_chat`` committed meanwhile (the old row is gone, or migration 8's trigger
    refuses to re-create it); the re-run's snapshot sees the migration, so it resolves the old
    id to the new one. A deadlock cancels the victim's whole statement; the download statements
    no longer make one (docs/RELIABILITY.md, "The deadlock"), so this is a safety net: counted in
    ``reruns`` and logged. Either way the failed statement wrote nothing, so outside a
    transaction running it again is safe.
    """
    for _ in range(RESOLVE_RETRIES):
        try:
            return await conn.fetchrow(sql, *args)
        except (asyncpg.ForeignKeyViolationError, asyncpg.DeadlockDetectedError) as exc:
            if conn.is_in_transaction():
                raise  # the transaction is aborted: only its owner can retry it
            if isinstance(exc, asyncpg.DeadlockDetectedError):
                reruns["deadlock"] += 1
                log.warning(
                    "deadlock detected, the statement is run again (%d so far in this process)",
                    reruns["deadlock"],
                )
            else:
                reruns["migrated"] += 1
    return await conn.fetchrow(sql, *args)


async def fetchrow(sql: str, *args: Any, database: Target | None = None) -> asyncpg.Record | None:
    async with connection(database=database) as conn:
        return await conn.fetchrow(sql, *args)


async def fetchval(sql: str, *args: Any, database: Target | None = None) -> Any:
    async with connection(database=database) as conn:
        return await conn.fetchval(sql, *args)


async def fetch(sql: str, *args: Any, database: Target | None = None) -> list[asyncpg.Record]:
    async with connection(database=database) as conn:
        return list(await conn.fetch(sql, *args))


async def execute(sql: str, *args: Any, database: Target | None = None) -> int:
    """Run ``sql``; return the number of rows it touched."""
    async with connection(database=database) as conn:
        status: str = await conn.execute(sql, *args)
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# Reads that may go to the streaming replica (``replica_url``): admin stats, exports, broadcast
# id streams. They can lag the primary by the replication delay; nothing that decides a write
# or serves an update (the middleware, the ad rule, settings) reads through these.


def read_connection(database: Target | None = None) -> connection:
    """``connection()`` on the replica when configured, else on the primary."""
    return connection(replica=True, database=database)


async def read_fetchrow(
    sql: str, *args: Any, database: Target | None = None
) -> asyncpg.Record | None:
    async with read_connection(database) as conn:
        return await conn.fetchrow(sql, *args)


async def read_fetchval(sql: str, *args: Any, database: Target | None = None) -> Any:
    async with read_connection(database) as conn:
        return await conn.fetchval(sql, *args)


async def read_fetch(sql: str, *args: Any, database: Target | None = None) -> list[asyncpg.Record]:
    async with read_connection(database) as conn:
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
