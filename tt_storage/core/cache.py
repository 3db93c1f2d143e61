"""The settings cache, and how it learns that a chat's settings changed.

Three sources of invalidation: this library's own writes (``invalidate``), other processes and
plain SQL (a trigger NOTIFYs ``tt_storage_settings``; see the ``settings_notify`` migration),
and a TTL as the last resort. The cache serves only while the LISTEN connection is known to be
up: a lost notification would otherwise mean a stale language for good, and a late one (a
network gone silent) a stale language until the connection is given up. So the listener proves
the connection alive with a round trip every quarter of ``max_silence``, and the cache serves
only while the last proof is younger than ``max_silence``: a change committed elsewhere is
served stale for at most ``max_silence``, however the network fails.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.signals import post_delete, post_save

from . import db, sql
from .models import Users

log = logging.getLogger("tt_storage")

#: The channel the ``settings_notify`` migration's trigger NOTIFYs.
CHANNEL = "tt_storage_settings"

#: The payload of the ``notify_truncate`` migration's trigger: every chat may have changed.
FLUSH = "*"

#: Default of ``max_silence`` (s): how long the cache serves without a proof that its LISTEN
#: connection still delivers notifications.
MAX_SILENCE = 2.0

#: Below this the heartbeat (a round trip every quarter of it) would cost more than it saves.
MIN_SILENCE = 0.1


def invalidate(chat_id: int) -> None:
    """A chat's settings changed: drop them from every cache of the current database (see
    ``Database.invalidate``: when to call it)."""
    db.current().invalidate(chat_id)


# ORM writes of a chat (``user.save()``, ``user.delete()``) drop its cached settings in this
# process at once, like tt-storage's own writes; the trigger's NOTIFY still tells the others.
# ``Users.filter(...).update()`` sends no signal: see ``tt_storage.invalidate``.
@post_save(Users)
async def _saved(
    _sender: type[Users],
    instance: Users,
    _created: bool,
    _using_db: BaseDBAsyncClient | None,
    _update_fields: list[str] | None,
) -> None:
    invalidate(instance.user_id)


@post_delete(Users)
async def _deleted(
    _sender: type[Users], instance: Users, _using_db: BaseDBAsyncClient | None
) -> None:
    invalidate(instance.user_id)


#: How many recent per-chat invalidations are remembered before they are folded into one.
_STALE_LIMIT = 4096


class SettingsCache(db.Invalidatable):
    """A bounded LRU of ``chat_id -> (lang, file_mode)`` with a TTL.

    It serves until ``serve_until``'s deadline, which the listener pushes forward each time it
    proves its connection alive (``max_silence`` past the proof); ``live`` tells whether it
    serves now. ``suspend`` (the connection is lost) stops it until the listener's next call.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        ttl: float = 300.0,
        max_silence: float = MAX_SILENCE,
        database: db.Target | None = None,
    ) -> None:
        if max_entries < 0 or ttl < 0:
            raise ValueError("cache max_entries and ttl must be >= 0")
        if not MIN_SILENCE <= max_silence < math.inf:
            raise ValueError(
                f"cache_max_silence must be a number of seconds >= {MIN_SILENCE}, "
                f"got {max_silence!r}"
            )
        self.max_entries = max_entries
        self.ttl = ttl
        self.max_silence = max_silence
        # Monotonic time until which ``get`` serves: one float comparison on the hot path.
        self._serve_until = -math.inf
        self._entries: OrderedDict[int, tuple[float, str, bool]] = OrderedDict()
        # Bumped on every invalidation. A load notes it when it starts; its result is stored
        # only if that chat was not invalidated since (``_stale``), nor everything (``_floor``).
        self.generation = 0
        self._stale: dict[int, int] = {}
        self._floor = 0
        self.hits = 0
        self.misses = 0
        # Told of the writes made through ``database`` (default: the current one).
        self._unregister = (database or db.current()).register(self)

    @property
    def live(self) -> bool:
        """Whether the cache serves now."""
        return time.monotonic() < self._serve_until

    @live.setter
    def live(self, value: bool) -> None:
        # True: serve with no deadline (a cache with no listener, in tests and benchmarks).
        self._serve_until = math.inf if value else -math.inf

    def serve_until(self, deadline: float) -> None:
        """Serve until ``deadline`` (``time.monotonic()``): the listener's last proof that every
        notification sent so far has been handled, plus ``max_silence``."""
        self._serve_until = deadline

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, chat_id: int) -> tuple[str, bool] | None:
        now = time.monotonic()
        if now >= self._serve_until:
            return None
        entry = self._entries.get(chat_id)
        if entry is None or entry[0] < now:
            self.misses += 1
            return None
        self._entries.move_to_end(chat_id)
        self.hits += 1
        return entry[1], entry[2]

    def holds(self, chat_id: int) -> bool:
        now = time.monotonic()
        entry = self._entries.get(chat_id)
        return now < self._serve_until and entry is not None and entry[0] >= now

    def put(self, chat_id: int, lang: str, file_mode: bool, generation: int) -> None:
        """Store what a load that started at ``generation`` read, unless it may be stale.

        Also while the connection is silent (its notifications are late, not lost: each one
        still drops its chat when it arrives), so a heartbeat that is merely late (a lagging
        event loop) costs reads, not the cache's contents. A suspended cache stores nothing.
        """
        if (
            self._serve_until == -math.inf
            or self.max_entries == 0
            or generation < self._floor
            or self._stale.get(chat_id, 0) > generation
        ):
            return
        # Interned: the driver hands every row a str of its own, and one per language is
        # enough (about a fifth of an entry's memory).
        self._entries[chat_id] = (time.monotonic() + self.ttl, sys.intern(lang), file_mode)
        self._entries.move_to_end(chat_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, chat_id: int) -> None:
        self.generation += 1
        self._entries.pop(chat_id, None)
        if len(self._stale) >= _STALE_LIMIT:
            self._forget_all()
        else:
            self._stale[chat_id] = self.generation

    def _forget_all(self) -> None:
        # Every load in flight may now be stale; the per-chat record starts over (bounded).
        self.generation += 1
        self._floor = self.generation
        self._stale.clear()

    def peek(self, chat_id: int) -> tuple[str, bool] | None:
        """The last values stored for ``chat_id``, however old, even while not serving: the
        middleware's best guess when the database cannot be asked."""
        entry = self._entries.get(chat_id)
        return None if entry is None else (entry[1], entry[2])

    def suspend(self) -> None:
        """Stop serving (notifications may be missed from now on) but keep the entries for
        ``peek``; the listener empties the cache before it serves again."""
        self._serve_until = -math.inf
        self._forget_all()

    def clear(self) -> None:
        self._forget_all()
        self._entries.clear()

    def close(self) -> None:
        self._serve_until = -math.inf
        self.clear()
        self._unregister()


class NotificationListener:
    """Keeps one LISTEN connection open and feeds its notifications to a cache.

    A round trip on that connection every quarter of the cache's ``max_silence`` proves it
    alive: the server sends a notification before the answer to any later statement, so once
    the answer is in, every change committed before the statement was sent has been handled,
    and the cache may serve until ``max_silence`` after that. A connection that has not answered
    for ``dead_after`` is dropped for a new one; after a reconnect the cache starts empty, since
    notifications sent meanwhile are lost.
    """

    def __init__(
        self,
        cache: SettingsCache,
        connect: Callable[[], Any],
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        dead_after: float = 10.0,
    ) -> None:
        self.cache = cache
        self._connect = connect
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.dead_after = dead_after
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="tt-storage-listen"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self.cache.suspend()
        self.cache.clear()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == FLUSH:  # TRUNCATE users: any chat may have changed
            self.cache.clear()
            return
        try:
            self.cache.invalidate(int(payload))
        except ValueError:
            self.cache.clear()

    def _on_lost(self, _conn: Any) -> None:
        self.cache.suspend()
        self._lost.set()

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Prove ``conn`` alive, one round trip every quarter of ``max_silence``, and let the
        cache serve on each proof; return when the connection is gone or stopped answering."""
        max_silence = self.cache.max_silence
        while True:
            sent = time.monotonic()
            try:
                await conn.execute(sql.PING, timeout=self.dead_after)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                return
            if self._lost.is_set():
                return
            self.cache.serve_until(sent + max_silence)
            pause = sent + max_silence / 4 - time.monotonic()
            try:
                await asyncio.wait_for(self._lost.wait(), max(pause, 0.0))
                return
            except TimeoutError:
                pass

    async def _run(self) -> None:
        delay = self.retry_delay
        down_logged = False
        while True:
            try:
                conn = await self._connect()
                await conn.add_listener(CHANNEL, self._on_notify)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if not down_logged:
                    log.warning("settings cache off: cannot LISTEN (%s)", type(exc).__name__)
                    down_logged = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
                continue
            self._conn, delay = conn, self.retry_delay
            self._lost.clear()
            conn.add_termination_listener(self._on_lost)
            self.cache.clear()
            # LISTEN has just answered: nothing is cached yet, and every later change is
            # notified. From here on each heartbeat extends this.
            self.cache.serve_until(time.monotonic() + self.cache.max_silence)
            if down_logged:
                log.info("settings cache on again")
                down_logged = False
            try:
                await self._watch(conn)
                log.warning("settings cache off: LISTEN connection lost")
                down_logged = True
            finally:
                self.cache.suspend()
                self._conn = None
                if not conn.is_closed():
                    conn.terminate()
