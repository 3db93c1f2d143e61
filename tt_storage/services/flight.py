"""Single flight for the media cache: concurrent misses of one key for one bot and variant, in
any process on the same database, run the bot's ``produce`` once.

Two levels. In a process, the callers of one key queue on one ``asyncio.Lock``: only its holder
talks to PostgreSQL, so 200 waiters hold one connection, not 200. Across processes, that holder
takes a session-level advisory lock on a connection of its own (outside the pool, never through
a pooler): the first to get it looks the key up again and, still missing, produces; the others
block in ``pg_advisory_lock`` and are woken the moment it is released, or the moment PostgreSQL
sees the producer's connection close (its process killed). No NOTIFY and no polling: the lock's
release is the signal, and a hit is then one lookup away.

Every wait is bounded (``wait``): when it runs out the caller produces without the lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

import asyncpg

from ..core import db, sql_media
from ..core.database import Database, current
from .media import CachedMedia, MediaKey, lookup_media, media_key

log = logging.getLogger("tt_storage.media")

#: How long a caller waits for another producer of its key by default (seconds).
DEFAULT_WAIT = 30.0


@dataclass(slots=True)
class _Slot:
    """The callers of one key in this process."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    result: CachedMedia | None = None  # what a holder stored, for the ones queued behind it
    users: int = 0


_slots: WeakKeyDictionary[Database, dict[str, _Slot]] = WeakKeyDictionary()
_pooled: WeakKeyDictionary[Database, bool] = WeakKeyDictionary()


@dataclass(slots=True)
class Flight:
    """One caller's place in the flight of its key.

    ``media``: the set another producer stored while this caller waited (send it); ``None``:
    this caller produces, then reports the set with ``stored``. ``coordinated``: the caller
    holds the key's lock (``False``: its wait ran out, or no lock connection could be had, and
    it produces alongside whoever holds it). ``waited``: seconds spent waiting.
    """

    media: CachedMedia | None = None
    coordinated: bool = False
    waited: float = 0.0
    _slot: _Slot | None = None

    def stored(self, media: CachedMedia) -> None:
        """The set this caller produced and stored: the callers queued behind it in this
        process are served it without a lookup."""
        if self._slot is not None:
            self._slot.result = media


def _fresh(media: CachedMedia | None, stale: CachedMedia | None) -> bool:
    if media is None:
        return False
    return stale is None or (media.media_id, media.version) != (stale.media_id, stale.version)


def flight_name(key: MediaKey, bot_id: int, variant: str) -> str:
    """The text the key's advisory lock is hashed from."""
    return f"{bot_id}\x1f{variant}\x1f{media_key(key)}"


@asynccontextmanager
async def media_flight(
    key: MediaKey,
    bot_id: int,
    variant: str,
    *,
    wait: float = DEFAULT_WAIT,
    stale: CachedMedia | None = None,
) -> AsyncIterator[Flight]:
    """``async with media_flight(key, bot_id, variant) as flight:`` after a miss.

    Waits (at most ``wait`` seconds) for any other producer of the key, in this process or
    another on the same database. ``flight.media`` is then what it stored; else the caller
    produces inside the block (holding the key's lock until the block ends) and calls
    ``flight.stored(media)``. A producer that raises, or whose process dies, lets the next
    waiter in. ``stale``: the set the caller just found dead; it does not count as stored.
    """
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait > 0:
        raise ValueError(f"wait must be a positive number of seconds, not {wait!r}")
    database = current()
    name = flight_name(key, bot_id, variant)
    slots = _slots.setdefault(database, {})
    slot = slots.setdefault(name, _Slot())
    slot.users += 1
    start = time.monotonic()
    flight = Flight(_slot=slot)
    local = conn = None
    try:
        local = await _acquire_local(slot.lock, start + wait)
        if local is not None and _fresh(slot.result, stale):
            flight.media = slot.result
        elif local is not None:
            conn = await _lock(database, name, start + wait)
            flight.coordinated = conn is not None
            if conn is not None:
                found = await lookup_media(key, bot_id, variant)
                if _fresh(found, stale):
                    flight.media = slot.result = found
        flight.waited = time.monotonic() - start
        if flight.media is not None:  # served: let the others in before sending
            held, held_local, conn, local = conn, local, None, None
            await _release(held, name, held_local)
        yield flight
    finally:
        await _release(conn, name, local)
        slot.users -= 1
        if slot.users == 0 and slots.get(name) is slot:
            del slots[name]


async def _acquire_local(lock: asyncio.Lock, deadline: float) -> asyncio.Lock | None:
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
            await lock.acquire()
    except TimeoutError:
        return None
    return lock


async def _lock(database: Database, name: str, deadline: float) -> asyncpg.Connection | None:
    """The key's advisory lock on a new connection of its own; ``None`` when the wait ran out
    or no such connection could be had (logged)."""
    if _pooled.get(database):
        return None
    try:
        conn = await asyncpg.connect(
            **database.direct_params(),
            timeout=max(min(database.options.connect_timeout, deadline - time.monotonic()), 0.1),
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.warning("media single flight off for this miss: no lock connection (%s)", exc)
        return None
    try:
        if database not in _pooled:
            _pooled[database] = await db.through_pooler(conn)
            if _pooled[database]:
                log.warning(
                    "media single flight off: the database URL goes through a pooler, where a "
                    "session lock does not hold; pass listen_url= with a direct server URL"
                )
        if _pooled[database]:
            conn.terminate()
            return None
        left = max(deadline - time.monotonic(), 0)
        await conn.execute(sql_media.MEDIA_FLIGHT_LOCK, name, timeout=left)
    except (TimeoutError, asyncpg.PostgresError, OSError):
        conn.terminate()  # whatever it was granted goes with it
        return None
    except BaseException:
        conn.terminate()
        raise
    return conn


async def _release(conn: asyncpg.Connection | None, name: str, local: asyncio.Lock | None) -> None:
    """Let the next caller of the key in: this process's first, then the other processes'."""
    if local is not None:
        local.release()
    if conn is None:
        return
    try:
        await conn.execute(sql_media.MEDIA_FLIGHT_UNLOCK, name, timeout=5)
        await conn.close(timeout=5)
    except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
        log.warning("media single flight: unlock failed (%s); dropping its connection", exc)
        conn.terminate()  # its session's locks go with it
    except BaseException:
        conn.terminate()
        raise
