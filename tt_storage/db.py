"""How a statement reaches PostgreSQL: the pooled connection, time limits, error translation.

Hot-path statements go straight to asyncpg on Tortoise's own pool (the model layer costs
~6x per row); every wait here is bounded and every driver error becomes a ``StorageError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.exceptions import ConfigurationError, DBConnectionError

from .config import CONNECTION, PoolOptions
from .errors import StorageError, StorageNotInitialized, StorageTimeout, StorageUnavailable

_client: BaseDBAsyncClient | None = None
_options = PoolOptions()

# Errors that mean "the server is not there (now)", as opposed to "this statement is wrong".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
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


def bind(client: BaseDBAsyncClient | None, options: PoolOptions | None = None) -> None:
    """Point the library at ``client`` (``None`` unbinds). Called by the lifecycle."""
    global _client, _options
    _client = client
    _options = options or PoolOptions()


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


def options() -> PoolOptions:
    return _options


@asynccontextmanager
async def connection() -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection, acquired within ``acquire_timeout``."""
    wrapper = client().acquire_connection()
    try:
        async with asyncio.timeout(_options.acquire_timeout):
            conn = await wrapper.__aenter__()
    except TimeoutError as exc:
        raise StorageTimeout(
            f"no database connection within {_options.acquire_timeout:g} s "
            f"(pool max_size={_options.max_size})"
        ) from exc
    except _UNAVAILABLE as exc:
        raise StorageUnavailable(f"database unreachable: {type(exc).__name__}") from exc
    try:
        yield conn
    except TimeoutError as exc:  # asyncpg's command_timeout
        raise StorageTimeout(
            f"statement did not finish within {_options.command_timeout:g} s"
        ) from exc
    except _UNAVAILABLE as exc:
        raise StorageUnavailable(f"database connection lost: {type(exc).__name__}") from exc
    except asyncpg.PostgresError as exc:
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        await wrapper.__aexit__(None, None, None)


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
