"""The outbox: downloads recorded while the database cannot be reached, written when it is back.

``add_video``, ``add_music`` and ``track_download`` normally cost one statement. When that
statement fails with ``StorageUnavailable``/``StorageTimeout`` the download is appended here
instead of being lost, with its original timestamp, and a background flusher writes the queue
in order once the database answers again (``flush_outbox()`` does it on demand,
``close_storage()`` a last time). See docs/RELIABILITY.md for the guarantees and edge cases.

Exactly once. A queued event remembers whether its first attempt may have been written (the
connection died, or the statement timed out, after it was sent). Only those events are
de-duplicated on replay, against the row's natural key (chat, timestamp, link and flags / music
id), after locking the chat's row so that a first attempt still running on the server finishes
first. Events whose first attempt never reached the server are replayed without a check, and
the normal path pays nothing: no key, no extra statement.

Order. While a chat has queued events, its new downloads join the queue behind them instead of
going straight to the database: the chat's writes reach the database in the order they were
made, and the ad counter increments queued for it are applied before any later ad decision.

Ads. A queued ``track_download(ad=True)`` returns ``False`` (no ad: nothing could be decided)
and its replay increments ``ad_count`` as a download without an ad, so the rule (an ad every
third download, or after 24 h) continues from a consistent counter.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass

from . import db
from .errors import StorageError, StorageNotInitialized, StorageUnavailable
from .replay import OutboxEvent, replay

log = logging.getLogger("tt_storage.outbox")

#: Defaults of the ``init_storage`` outbox options.
DEFAULT_SIZE = 10_000
DEFAULT_RETRY_DELAY = 0.2
DEFAULT_MAX_RETRY_DELAY = 5.0
DEFAULT_CLOSE_TIMEOUT = 10.0
#: Events written per replay transaction (a handful of statements each, whatever the size).
BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Counts since the process started (``pending`` is the queue now).

    ``queued == flushed + duplicates + failed + abandoned + pending``; ``dropped`` events were
    never queued (the outbox was full) and are lost.
    """

    #: Events accepted into the queue.
    queued: int
    #: Events written by a replay.
    flushed: int
    #: Replayed events found already written (their first attempt had succeeded after all).
    duplicates: int
    #: Events refused because the queue was full: lost.
    dropped: int
    #: Events the database rejected on replay for a reason other than an outage: lost, logged.
    failed: int
    #: Events still queued when ``close_storage()`` could not write them: lost, logged.
    abandoned: int
    #: Events waiting now.
    pending: int


class Outbox:
    """A bounded FIFO of downloads, and the task that writes it to ``database``."""

    def __init__(self, database: db.Target) -> None:
        self.database = database
        self.size = DEFAULT_SIZE
        self.retry_delay = DEFAULT_RETRY_DELAY
        self.max_retry_delay = DEFAULT_MAX_RETRY_DELAY
        self.close_timeout = DEFAULT_CLOSE_TIMEOUT
        self.batch_size = BATCH_SIZE
        self._events: deque[OutboxEvent] = deque()
        self._per_chat: dict[int, int] = {}
        # (lang, link) the middleware would have registered a chat with, for a replay that
        # has to register it.
        self._chats: OrderedDict[int, tuple[str, str | None]] = OrderedDict()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backing_off = False
        self._queued = self._flushed = self._duplicates = 0
        self._dropped = self._failed = self._abandoned = 0
        self._burst_dropped = 0
        self._burst_written = 0
        self._burst_duplicates = 0

    # --- configuration ----------------------------------------------------------------------

    def configure(
        self,
        *,
        size: int = DEFAULT_SIZE,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        """Set the limits (``init_storage`` does); ``size=0`` turns queuing off."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("outbox_size must be an int >= 0")
        if not 0 < retry_delay <= max_retry_delay:
            raise ValueError("outbox retry delays need 0 < retry_delay <= max_retry_delay")
        if close_timeout < 0:
            raise ValueError("outbox_close_timeout must be >= 0")
        self.size = size
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.close_timeout = close_timeout

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def stats(self) -> OutboxStats:
        return OutboxStats(
            queued=self._queued,
            flushed=self._flushed,
            duplicates=self._duplicates,
            dropped=self._dropped,
            failed=self._failed,
            abandoned=self._abandoned,
            pending=len(self._events),
        )

    def pending(self) -> list[OutboxEvent]:
        """A copy of the queue, oldest first."""
        return list(self._events)

    # --- the tracking side (no awaits: nothing here can interleave) ----------------------------

    def holds(self, chat: int) -> bool:
        """Whether ``chat`` has queued events (its new downloads must queue behind them)."""
        return chat in self._per_chat

    @property
    def full(self) -> bool:
        return len(self._events) >= self.size

    def add(self, event: OutboxEvent) -> bool:
        """Queue ``event``; ``False`` if the queue is full (the event is counted as dropped)."""
        if len(self._events) >= self.size:
            self._dropped += 1
            self._burst_dropped += 1
            if self._burst_dropped == 1:
                log.warning(
                    "outbox full (%d events): tracking writes are dropped until it drains",
                    self.size,
                )
            return False
        if not self._events and not self._backing_off:
            log.warning("database unavailable or too slow: tracking writes are queued (outbox)")
        self._events.append(event)
        self._per_chat[event.chat] = self._per_chat.get(event.chat, 0) + 1
        self._queued += 1
        self._ensure_flusher()
        if not self._backing_off:
            self._wake.set()
        return True

    def remember_chat(self, chat: int, lang: str, link: str | None) -> None:
        """What to register ``chat`` with, from its first update, seen in an outage: a replay,
        the middleware or a download registers it with these once the database answers."""
        if not self.enabled:
            return
        # The first update decides, as it would have with the database up: a later
        # "/start <payload>" is not the chat's first update, so it brings no referral.
        self._chats.setdefault(chat, (lang, link))
        self._chats.move_to_end(chat)
        while len(self._chats) > self.size:
            self._chats.popitem(last=False)

    def remembered(self, chat: int) -> tuple[str, str | None] | None:
        """``(lang, link)`` of ``chat``'s first update if it was seen in an outage and the chat
        may not be registered yet, else ``None``."""
        return self._chats.get(chat)

    def forget_chat(self, chat: int) -> None:
        """``chat`` is registered now."""
        self._chats.pop(chat, None)

    def nudge(self) -> None:
        """The database just answered: stop backing off and write the queue now."""
        if self._events:
            self._wake.set()

    # --- writing ----------------------------------------------------------------------------

    async def flush(self, *, until_empty: bool = False) -> int:
        """Write the events queued now (``until_empty``: also those queued meanwhile).

        Returns how many were written; raises ``StorageUnavailable`` if the database is still
        unreachable (what was written before stays written, the rest stays queued).
        """
        written = 0
        async with self._lock:
            todo = len(self._events)
            while self._events and (until_empty or todo > 0):
                limit = self.batch_size if until_empty else min(self.batch_size, todo)
                batch = list(itertools.islice(self._events, limit))
                written += await self._write(batch)
                todo -= len(batch)
        return written

    async def _write(self, batch: list[OutboxEvent]) -> int:
        """Write ``batch`` (the head of the queue) in one transaction and dequeue it."""
        try:
            skip = await replay(self.database, batch, self._chats)
        except StorageUnavailable:
            raise
        except StorageError as exc:
            if len(batch) > 1:
                # One event the database refuses must not block the rest: one by one.
                return sum([await self._write([event]) for event in batch])
            log.error(
                "outbox: the database refused a queued write (%s): %s", exc, batch[0].describe()
            )
            batch[0].outcome = "failed"
            self._dequeue(batch)
            self._failed += 1
            return 0
        for i, event in enumerate(batch):
            event.outcome = "duplicate" if i in skip else "written"
        skipped = len(skip)
        written = len(batch) - skipped
        self._dequeue(batch)
        self._flushed += written
        self._duplicates += skipped
        self._burst_written += written
        self._burst_duplicates += skipped
        if not self._events:
            self._drained()
        return written

    def _dequeue(self, batch: list[OutboxEvent]) -> None:
        for event in batch:
            head = self._events.popleft()
            assert head is event, "the outbox queue changed under a flush"
            left = self._per_chat[event.chat] - 1
            if left:
                self._per_chat[event.chat] = left
            else:
                del self._per_chat[event.chat]
                self._chats.pop(event.chat, None)

    def _drained(self) -> None:
        log.info(
            "outbox drained: %d queued tracking writes written (%d found already written)",
            self._burst_written,
            self._burst_duplicates,
        )
        if self._burst_dropped:
            log.warning(
                "outbox: %d tracking writes were dropped while it was full", self._burst_dropped
            )
        self._burst_written = self._burst_duplicates = self._burst_dropped = 0

    # --- the background flusher -----------------------------------------------------------------

    def _ensure_flusher(self) -> None:
        task = self._task
        loop = asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name="tt-storage-outbox")

    def start(self) -> None:
        """Start the flusher now (``init_storage`` does; ``add`` would anyway)."""
        self._ensure_flusher()

    async def _run(self) -> None:
        delay = self.retry_delay
        while True:
            if not self._events:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self.flush()
            except StorageNotInitialized:
                return  # closed underneath: close() reports what is left
            except Exception as exc:  # StorageError, or a bug: keep the queue, retry later
                if not self._backing_off:
                    if isinstance(exc, StorageError):
                        log.info("outbox: database still unavailable (%s), retrying", exc)
                    else:
                        log.exception("outbox: unexpected error while writing, retrying")
                self._backing_off = True
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.max_retry_delay)
            else:
                self._backing_off = False
                delay = self.retry_delay

    async def _stop_flusher(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._backing_off = False

    async def close(self) -> list[OutboxEvent]:
        """Stop the flusher, write what is queued (within ``close_timeout``), report the rest.

        Returns the events that could not be written (logged one per line at ERROR); the queue
        is empty afterwards.
        """
        await self._stop_flusher()
        reason = ""
        if self._events:
            try:
                async with asyncio.timeout(self.close_timeout):
                    await self.flush(until_empty=True)
            except TimeoutError:
                reason = f"not done within {self.close_timeout:g} s"
            except StorageError as exc:
                reason = str(exc)
        lost = list(self._events)
        if lost:
            self._abandoned += len(lost)
            log.error(
                "outbox: %d queued tracking writes could not be written before close (%s); "
                "they are lost:",
                len(lost),
                reason,
            )
            for event in lost:
                event.outcome = "abandoned"
                log.error("outbox: not written: %s", event.describe())
        self._events.clear()
        self._per_chat.clear()
        self._chats.clear()
        # Fresh primitives: the next init_storage may run on another event loop.
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        return lost
