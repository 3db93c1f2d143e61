"""Waiting at start-up for a server that is still starting (``connect_wait``), bounded; the
other start-up wait, for the migration lock, is ``migration_steps``'s."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from typing import Any

import asyncpg

from . import db, tls
from .config import connect_kwargs
from .errors import StorageUnavailable
from .urls import endpoint, redact_url

log = logging.getLogger("tt_storage")

#: Seconds ``init_storage`` waits for the server to answer when ``connect_wait`` is not given.
CONNECT_WAIT_ENV = "TT_STORAGE_CONNECT_WAIT"
#: Off: a wrong URL fails at once. A container that may start before its database sets it.
DEFAULT_CONNECT_WAIT = 0.0
#: The pause after the first failed attempt; it doubles up to ``MAX_RETRY_DELAY``.
FIRST_RETRY_DELAY = 0.25
MAX_RETRY_DELAY = 5.0


def seconds(value: Any, name: str) -> float:
    """``value`` as a finite number of seconds >= 0: ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
    return float(value)


def connect_wait(value: float | None) -> float:
    """The connect wait: ``value``, else ``TT_STORAGE_CONNECT_WAIT``, else 0 (off)."""
    if value is not None:
        return seconds(value, "connect_wait")
    raw = os.environ.get(CONNECT_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_CONNECT_WAIT
    try:
        return seconds(float(raw), CONNECT_WAIT_ENV)
    except ValueError:
        raise ValueError(f"{CONNECT_WAIT_ENV}={raw!r}: give a number of seconds") from None


def _worth_waiting(exc: BaseException) -> bool:
    """Whether a failed connect may succeed later: the server not (yet) there or starting up;
    not a refused login, a missing database, a TLS or configuration problem."""
    if tls.describe(exc) is not None or isinstance(exc, asyncpg.ClientConfigurationError):
        return False
    if isinstance(exc, asyncpg.PostgresError):
        return isinstance(
            exc,
            (
                asyncpg.CannotConnectNowError,  # "the database system is starting up"
                asyncpg.TooManyConnectionsError,
                asyncpg.PostgresConnectionError,
            ),
        )
    return isinstance(exc, (*db.UNAVAILABLE, TimeoutError))


async def wait_for_server(url: str, wait: float, connect_timeout: float) -> None:
    """Until ``url``'s server accepts a connection, for up to ``wait`` seconds, with backoff
    and one WARNING per failed attempt; then ``StorageUnavailable`` naming host, port and the
    last cause. An answer that waiting will not change (a refused login, no such database, a
    TLS problem) returns at once: the caller's own connect reports it."""
    where = endpoint(url)
    params = connect_kwargs(url)
    deadline = time.monotonic() + wait
    delay, attempt = FIRST_RETRY_DELAY, 0
    while True:
        attempt += 1
        left = deadline - time.monotonic()
        try:
            conn = await asyncpg.connect(**params, timeout=max(min(connect_timeout, left), 0.1))
        except Exception as exc:
            if not _worth_waiting(exc):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise StorageUnavailable(
                    f"database unreachable at {where} ({db.cause(exc)}) after waiting {wait:g} s "
                    f"({attempt} attempts): is PostgreSQL running and listening there? Check "
                    "the host and port of the URL (DB_URL), or wait longer (connect_wait=)"
                ) from exc
            pause = min(delay, left)
            log.warning(
                "waiting for PostgreSQL at %s (%s): attempt %d failed (%s); next in %.2f s, "
                "%.1f s left",
                where,
                redact_url(url),
                attempt,
                db.cause(exc),
                pause,
                left,
            )
            await asyncio.sleep(pause)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            continue
        await conn.close(timeout=max(connect_timeout, 1.0))
        if attempt > 1:
            log.info("PostgreSQL at %s answered (attempt %d)", where, attempt)
        return
