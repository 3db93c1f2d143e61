"""aiogram FSM storage on tt-storage's pool: ``Dispatcher(storage=PostgresStorage())``.

One row per ``StorageKey`` in ``tt_storage_fsm`` (migration 7): the state as text, the data as
JSONB. Every method is one statement; ``update_data`` merges in the database, so concurrent
updates of one key never lose each other's keys. Optional TTLs (like aiogram's ``RedisStorage``)
hide expired parts from reads at once; a background task deletes expired rows in bounded
batches through a partial index.

aiogram's ``FSMContextMiddleware`` reads the state on every update, before tt-storage's
middleware runs. That read also fetches the chat's settings row and leaves it for
``StorageMiddleware`` (same update, same task), which then skips its own SELECT: an update
costs one round trip for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, Final

from aiogram import Dispatcher
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import DisabledEventIsolation, MemoryStorage

from ..core import db, sql, validate
from ..core.database import Database
from ..core.errors import StorageError, StorageUnavailable
from ..services.chats import ChatState
from .isolation import AdvisoryLockIsolation
from .keys import row_key, storable

log = logging.getLogger("tt_storage")

JsonDumps = Callable[[Any], str]
JsonLoads = Callable[[str], Any]
Seconds = float | int | timedelta

#: What the last ``get_state`` of this task found for its chat: ``(chat_id, row or None)``.
_prefetched: ContextVar[tuple[int, ChatState | None] | None] = ContextVar(
    "tt_storage_fsm_prefetched", default=None
)
#: ``take_prefetched`` found nothing usable: the middleware runs its own SELECT.
NOT_PREFETCHED: Final = object()


def _check_state(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"an FSM state must be a str, not {type(value).__name__}")
    if not storable(value):
        raise ValueError("the FSM state holds a NUL or a surrogate, which PostgreSQL cannot store")
    return value


def _check_data(value: Any, path: str = "data") -> None:
    """``ValueError`` naming the first string of ``value`` (keys included) PostgreSQL cannot
    store as it is."""
    if isinstance(value, str):
        if not storable(value):
            raise ValueError(
                f"FSM {path} holds a NUL or a surrogate, which PostgreSQL cannot store"
            )
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and not storable(k):
                raise ValueError(
                    f"a key of FSM {path} holds a NUL or a surrogate, which PostgreSQL cannot store"
                )
            _check_data(v, f"{path}[{k!r}]" if isinstance(k, str) and storable(k) else path)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_data(v, f"{path}[{i}]")


def _seconds(value: Seconds | None, name: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"{name} must be a positive number of seconds (or a timedelta), or None")
    return float(seconds)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (jsonb holds no NaN or Infinity)")


#: What ``json.dumps`` writes for a NUL or a surrogate (a valid pair too: then the check walks the
#: data to tell which), and what an ``ensure_ascii=False`` dump leaves raw.
_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|\x00|[\ud800-\udfff]")


class PostgresStorage(BaseStorage):
    """aiogram FSM storage in tt-storage's PostgreSQL (table ``tt_storage_fsm``).

    Uses the pool of ``init_storage``/``setup_storage`` (the ``default`` Tortoise connection of
    an app that runs Tortoise itself): build it any time, use it after startup.

    ``state_ttl`` / ``data_ttl`` (seconds or ``timedelta``): a part expires that long after it
    was last written, as in aiogram's ``RedisStorage``. Expired rows are deleted by a background
    task every ``cleanup_interval`` seconds (``None``: never; call ``cleanup()`` yourself), at most
    ``cleanup_batch`` rows per statement. ``prefetch_settings``: let the state read carry the
    chat's settings row to ``StorageMiddleware`` (see the module docstring). ``fail_open``:
    while the database is unreachable, ``get_state`` answers ``None`` instead of raising, so
    every update is still handled (tt-storage's outage guarantee); ``False``: raise.

    Data is stored as JSON (``json_dumps``/``json_loads``). Text PostgreSQL cannot hold (a NUL, a
    surrogate: lone, or a pair split in two) is never changed to fit: a state name or data
    string holding it, or a key whose business connection id or destiny does, makes the write
    raise ``ValueError`` before any SQL; the reads of such a key answer ``None`` / ``{}``.
    """

    def __init__(
        self,
        *,
        state_ttl: Seconds | None = None,
        data_ttl: Seconds | None = None,
        cleanup_interval: float | None = 60.0,
        cleanup_batch: int = 1_000,
        prefetch_settings: bool = True,
        fail_open: bool = True,
        json_dumps: JsonDumps = json.dumps,
        json_loads: JsonLoads = json.loads,
        database: Database | None = None,
    ) -> None:
        #: Where the states live; ``None``: the current database at each call.
        self.database = database
        self.state_ttl = _seconds(state_ttl, "state_ttl")
        self.data_ttl = _seconds(data_ttl, "data_ttl")
        self.cleanup_interval = _seconds(cleanup_interval, "cleanup_interval")
        if (
            isinstance(cleanup_batch, bool)
            or not isinstance(cleanup_batch, int)
            or cleanup_batch < 1
        ):
            raise ValueError("cleanup_batch must be a positive int")
        self.cleanup_batch = cleanup_batch
        self.prefetch_settings = prefetch_settings
        self.fail_open = fail_open
        self._outage = False
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._cleaner: asyncio.Task[None] | None = None

    # --- state ------------------------------------------------------------------------------

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        if value is None:
            await db.execute(sql.FSM_CLEAR_STATE, row_key(key), database=self.database)
            return
        await db.execute(
            sql.FSM_SET_STATE,
            row_key(key),
            _check_state(value),
            self.state_ttl,
            database=self.database,
        )
        self._start_cleaner()

    async def get_state(self, key: StorageKey) -> str | None:
        """The state, or ``None``. With ``fail_open`` (default), ``None`` too while the database
        is unreachable: aiogram reads the state before every update, so stateless handlers
        (downloads, whose writes the outbox keeps) still run; writes still raise."""
        _prefetched.set(None)
        try:
            stored = row_key(key)
        except ValueError:
            # aiogram reads the state before every update: a key nothing can be stored under
            # has none, and the update is handled (the writes raise ValueError).
            return None
        try:
            state = await self._read_state(stored, key.chat_id)
        except StorageUnavailable as exc:
            if not self.fail_open:
                raise
            if not self._outage:
                self._outage = True
                log.warning("FSM state unreadable, updates are handled with no state: %s", exc)
            return None
        if self._outage:
            self._outage = False
            log.info("FSM state readable again")
        return state

    async def _read_state(self, stored: str, chat: int) -> str | None:
        database = self.database if self.database is not None else db.current()
        if not self.prefetch_settings or database.caches_hold(chat):
            # The middleware will find the chat in its cache: the state alone is enough.
            state: str | None = await db.fetchval(sql.FSM_GET_STATE, stored, database=self.database)
            return state
        in_range = validate.MIN_CHAT_ID <= chat <= validate.MAX_CHAT_ID
        row = await db.fetchrow(
            sql.FSM_GET_STATE_AND_CHAT,
            stored,
            chat if in_range else None,
            database=self.database,
        )
        assert row is not None  # one row always: the LEFT JOINs hang off a VALUES row
        if in_range:
            found = None
            if row["user_id"] is not None:
                blocked = row["blocked_at"] is not None
                found = ChatState(row["lang"], bool(row["file_mode"]), blocked)
            _prefetched.set((chat, found))
        result: str | None = row["state"]
        return result

    # --- data -------------------------------------------------------------------------------

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DataNotDictLikeError(
                f"Data must be a dict or dict-like object, got {type(data).__name__}"
            )
        if not data:
            await db.execute(sql.FSM_CLEAR_DATA, row_key(key), database=self.database)
            return
        await db.execute(
            sql.FSM_SET_DATA, row_key(key), self._dump(data), self.data_ttl, database=self.database
        )
        self._start_cleaner()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """The data, ``{}`` if none (also for a key nothing can be stored under)."""
        try:
            stored = row_key(key)
        except ValueError:
            return {}
        text = await db.fetchval(sql.FSM_GET_DATA, stored, database=self.database)
        return {} if text is None else self._load(text)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``data`` into the stored data (``dict.update``) in one atomic statement."""
        if not isinstance(data, Mapping):
            raise DataNotDictLikeError(
                f"Data must be a dict or dict-like object, got {type(data).__name__}"
            )
        if not data:
            return await self.get_data(key)
        text = await db.fetchval(
            sql.FSM_UPDATE_DATA,
            row_key(key),
            self._dump(data),
            self.data_ttl,
            database=self.database,
        )
        self._start_cleaner()
        return self._load(text)

    def _dump(self, data: Mapping[str, Any]) -> str:
        """The JSON text of ``data``; ``TypeError`` at the call for what jsonb cannot hold
        (NaN, ±Infinity) or JSON cannot express (a set, a datetime, a cycle)."""
        text = self._dumps(dict(data))
        if _SUSPECT.search(text) is not None:
            _check_data(data)  # found nothing: valid pairs, or a backslash and "u0000" as text
        return text

    def _dumps(self, data: Any) -> str:
        try:
            if self.json_dumps is json.dumps:
                return json.dumps(data, allow_nan=False)
            text = self.json_dumps(data)
            # Another encoder may write NaN/Infinity, which PostgreSQL would refuse.
            json.loads(text, parse_constant=_refuse_constant)
            return text
        except ValueError as exc:  # allow_nan=False, a cycle, _refuse_constant
            raise TypeError(f"FSM data must be JSON that jsonb can hold: {exc}") from None

    def _load(self, text: str) -> dict[str, Any]:
        value = self.json_loads(text)
        if not isinstance(value, dict):  # only this class writes the column, always objects
            raise StorageError(f"FSM data is not a JSON object but {type(value).__name__}")
        return value

    # --- expiry -----------------------------------------------------------------------------

    async def cleanup(self, limit: int | None = None) -> int:
        """Delete up to ``limit`` (default ``cleanup_batch``) expired rows; return how many.

        One bounded statement through the partial index of expiring rows: never a table scan.
        """
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ValueError("limit must be a positive int")
        deleted = await db.execute(
            sql.FSM_CLEANUP, limit or self.cleanup_batch, database=self.database
        )
        return deleted

    def _start_cleaner(self) -> None:
        if (
            self._cleaner is None
            and self.cleanup_interval is not None
            and (self.state_ttl is not None or self.data_ttl is not None)
        ):
            self._cleaner = asyncio.get_running_loop().create_task(
                self._clean_forever(self.cleanup_interval), name="tt-storage FSM cleanup"
            )

    async def _clean_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                deleted = self.cleanup_batch
                while deleted >= self.cleanup_batch:  # a backlog: keep going, a batch at a time
                    deleted = await self.cleanup()
            except StorageError as exc:
                log.warning("FSM cleanup failed, retrying in %g s: %s", interval, exc)

    async def close(self) -> None:
        """Stop the cleanup task. The pool belongs to ``init_storage``/``close_storage``."""
        cleaner, self._cleaner = self._cleaner, None
        if cleaner is not None:
            cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleaner


def take_prefetched(data: Mapping[str, Any], chat_id: int) -> Any:
    """The settings row the FSM state read of this update fetched for ``chat_id`` (``None``:
    no such chat), or ``NOT_PREFETCHED``.

    Only when aiogram's FSM middleware put a ``PostgresStorage`` context for this chat into
    ``data``: it does so right after awaiting ``get_state`` in this task, so the row is this
    update's. Taken once.
    """
    context = data.get("state")
    if not isinstance(context, FSMContext) or not isinstance(context.storage, PostgresStorage):
        return NOT_PREFETCHED
    found = _prefetched.get()
    if found is None or found[0] != chat_id:
        return NOT_PREFETCHED
    _prefetched.set(None)
    return found[1]


def discard_prefetched() -> None:
    """Forget what the state read of this update fetched (the chat has changed since)."""
    _prefetched.set(None)


def install_fsm(
    dispatcher: Dispatcher,
    storage: bool | BaseStorage = True,
    isolation: bool | BaseEventIsolation = False,
    database: Database | None = None,
) -> None:
    """Put a ``PostgresStorage`` (or ``storage``) into a dispatcher built without one, and
    ``AdvisoryLockIsolation`` (or ``isolation``) if asked: ``setup_storage(dp, fsm=True)``.

    The ones made here, and a ``PostgresStorage`` / ``AdvisoryLockIsolation`` the dispatcher
    already has with no ``database`` of its own (``Dispatcher(storage=PostgresStorage())``),
    work on ``database``: aiogram reads the state before the middleware binds the bot's
    database, so an unbound one would read the default's. ``ValueError`` for one already given
    another database (one FSM storage shared by two bots on two databases).

    aiogram reads ``dp.fsm.storage`` per update, so replacing it before the first update is
    clean. A dispatcher given another storage at construction keeps it: ``ValueError``. A plain
    ``MemoryStorage`` is aiogram's default, and one passed explicitly cannot be told from it:
    it is replaced (logged at INFO), unless it already holds a state or data (``ValueError``:
    replacing it would drop them).
    """
    fsm = dispatcher.fsm
    if storage is not False:
        current = fsm.storage
        in_use = isinstance(current, MemoryStorage) and any(
            record.state is not None or record.data for record in current.storage.values()
        )
        if current is not storage and (type(current) is not MemoryStorage or in_use):
            held = " holding FSM states" if in_use else ""
            raise ValueError(
                f"this Dispatcher already has an FSM storage ({type(current).__name__}{held}): "
                "drop fsm= from setup_storage to keep it, or build the Dispatcher with no "
                "storage for fsm= to put one in"
            )
        fsm.storage = PostgresStorage(database=database) if storage is True else storage
        if current is not storage:
            log.info(
                "FSM storage: %s replaces the dispatcher's MemoryStorage (aiogram's default); "
                "drop fsm= from setup_storage to keep a MemoryStorage",
                type(fsm.storage).__name__,
            )
    if isolation is not False:
        if type(fsm.events_isolation) is not DisabledEventIsolation:
            raise ValueError(
                f"this Dispatcher already has events isolation "
                f"({type(fsm.events_isolation).__name__}): drop fsm_isolation= from setup_storage"
            )
        if isolation is True:
            isolation = AdvisoryLockIsolation(database=database)
        fsm.events_isolation = isolation
    if database is not None:
        _give_database(fsm.storage, database)
        _give_database(fsm.events_isolation, database)


def _give_database(part: object, database: Database) -> None:
    """``part``'s database is ``database`` if it is one of ours and had none."""
    from .isolation import AdvisoryLockIsolation

    if not isinstance(part, PostgresStorage | AdvisoryLockIsolation):
        return
    if part.database is None:
        part.database = database
    elif part.database is not database:
        raise ValueError(
            f"this dispatcher's {type(part).__name__} works on {part.database!r}, not on "
            f"{database!r}: give each bot its own"
        )
