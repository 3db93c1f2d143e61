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
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from . import db, sql
from .errors import StorageError, StorageNotInitialized, StorageUnavailable
from .user_settings import DEFAULT_LANG

if TYPE_CHECKING:
    from .database import Database

log = logging.getLogger("tt_storage.outbox")

Kind = Literal["video", "music"]

#: Defaults of the ``init_storage`` outbox options.
DEFAULT_SIZE = 10_000
DEFAULT_RETRY_DELAY = 0.2
DEFAULT_MAX_RETRY_DELAY = 5.0
DEFAULT_CLOSE_TIMEOUT = 10.0
#: Events written per replay transaction (a handful of statements each, whatever the size).
BATCH_SIZE = 500


@dataclass(slots=True)
class OutboxEvent:
    """One download waiting to be written."""

    kind: Kind
    chat: int
    #: The original time of the download (epoch seconds): the replay writes this, not its own.
    downloaded_at: int
    #: A ``track_download(ad=True)``: counts as a download without an ad.
    ad: bool
    video_link: str | None = None
    is_images: bool = False
    is_processed: bool = False
    is_inline: bool = False
    video_id: int | None = None
    #: The media cache link (``track_download(media_id=..., cache_hit=...)``).
    media_id: int | None = None
    cache_hit: bool | None = None
    #: The first attempt was sent and its outcome is unknown: replayed only if not found.
    maybe_written: bool = False
    #: ``pending``, then ``written`` (by a replay), ``duplicate`` (found already written),
    #: ``failed`` (refused by the database) or ``abandoned`` (not written by close_storage).
    outcome: str = "pending"

    def key(self) -> tuple[Any, ...]:
        """The natural key a replay looks for when ``maybe_written``."""
        if self.kind == "video":
            return (
                "video",
                self.chat,
                self.downloaded_at,
                self.video_link,
                self.is_images,
                self.is_processed,
                self.is_inline,
            )
        return ("music", self.chat, self.downloaded_at, self.video_id)

    def describe(self) -> str:
        """One line for a log: everything needed to write it by hand."""
        what = (
            f"video link={self.video_link!r} images={self.is_images} "
            f"processed={self.is_processed} inline={self.is_inline}"
            if self.kind == "video"
            else f"music video_id={self.video_id}"
        )
        if self.media_id is not None or self.cache_hit is not None:
            what += f" media_id={self.media_id} cache_hit={self.cache_hit}"
        unsure = " (its first attempt may have been written)" if self.maybe_written else ""
        return f"chat={self.chat} at={self.downloaded_at} ad={self.ad} {what}{unsure}"


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

    def __init__(self, database: Database) -> None:
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
            skip = await _replay(self.database, batch, self._chats)
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


async def _replay(
    database: Database, batch: list[OutboxEvent], chats: dict[int, tuple[str, str | None]]
) -> set[int]:
    """Write ``batch`` in one transaction; return the positions found already written.

    If the commit's outcome is unknown every event of the batch is marked ``maybe_written``.
    """
    committing = False
    try:
        async with database.connection() as conn:
            for attempt in range(db.RESOLVE_RETRIES + 1):
                try:
                    async with conn.transaction():
                        skip = await _replay_in(conn, batch, chats)
                        committing = True
                    break
                except asyncpg.ForeignKeyViolationError:
                    # A chat of the batch was migrated after it was resolved (its old row gone,
                    # or refused by migration 8's trigger): nothing was written, resolve again.
                    if attempt == db.RESOLVE_RETRIES:
                        raise
    except BaseException:
        if committing:
            for event in batch:
                event.maybe_written = True
        raise
    return skip


async def _replay_in(
    conn: Any, batch: list[OutboxEvent], chats: dict[int, tuple[str, str | None]]
) -> set[int]:
    """The statements of ``_replay``, in its transaction."""
    # A group migrated since its downloads were queued: they go to its supergroup.
    moved = dict(await conn.fetch(sql.OUTBOX_RESOLVE, sorted({event.chat for event in batch})))
    target = [moved.get(event.chat, event.chat) for event in batch]
    # Chats first seen in the outage: registered as the middleware would have (or with the
    # defaults), at their first download. Sorted: a stable lock order.
    first: dict[int, OutboxEvent] = {}
    for chat, event in zip(target, batch, strict=True):
        first.setdefault(chat, event)
    ids = sorted(first)
    registration = [chats.get(first[chat].chat, (DEFAULT_LANG, None)) for chat in ids]
    await conn.execute(
        sql.OUTBOX_REGISTER,
        ids,
        [first[chat].downloaded_at for chat in ids],
        [lang for lang, _ in registration],
        [link for _, link in registration],
    )
    skip = await _already_written(conn, batch, target)
    todo = [i for i in range(len(batch)) if i not in skip]
    videos = [i for i in todo if batch[i].kind == "video"]
    if videos:
        await conn.execute(
            sql.OUTBOX_INSERT_VIDEOS,
            [target[i] for i in videos],
            [batch[i].downloaded_at for i in videos],
            [batch[i].video_link for i in videos],
            [batch[i].is_images for i in videos],
            [batch[i].is_processed for i in videos],
            [batch[i].is_inline for i in videos],
            [batch[i].media_id for i in videos],
            [batch[i].cache_hit for i in videos],
        )
    music = [i for i in todo if batch[i].kind == "music"]
    if music:
        await conn.execute(
            sql.OUTBOX_INSERT_MUSIC,
            [target[i] for i in music],
            [batch[i].downloaded_at for i in music],
            [batch[i].video_id for i in music],
            [batch[i].media_id for i in music],
            [batch[i].cache_hit for i in music],
        )
    ads = Counter(target[i] for i in todo if batch[i].ad)
    if ads:
        chat_ids = sorted(ads)
        await conn.execute(sql.OUTBOX_COUNT_ADS, chat_ids, [ads[chat] for chat in chat_ids])
    await _count_media(conn, [batch[i] for i in todo])
    return skip


async def _count_media(conn: Any, written: list[OutboxEvent]) -> None:
    """The media entries of replayed downloads count them as uses, as the direct path does."""
    uses: Counter[int] = Counter()
    latest: dict[int, int] = {}
    for event in written:
        if event.media_id is not None:
            uses[event.media_id] += 1
            latest[event.media_id] = max(latest.get(event.media_id, 0), event.downloaded_at)
    if uses:
        ids = sorted(uses)
        await conn.execute(
            sql.OUTBOX_COUNT_MEDIA, ids, [uses[i] for i in ids], [latest[i] for i in ids]
        )


async def _already_written(conn: Any, batch: list[OutboxEvent], target: list[int]) -> set[int]:
    """Positions in ``batch`` of ``maybe_written`` events whose row is already there.

    The chats' rows are locked first (FOR UPDATE waits for any statement still holding them,
    such as a first attempt the server is still running) and the rows are counted by a later
    statement, whose snapshot sees what such a statement committed. Per natural key, as many
    events are skipped as matching rows exist.
    """
    unsure = [i for i, event in enumerate(batch) if event.maybe_written]
    if not unsure:
        return set()
    await conn.execute(sql.LOCK_CHATS, sorted({target[i] for i in unsure}))
    videos = [i for i in unsure if batch[i].kind == "video"]
    music = [i for i in unsure if batch[i].kind == "music"]
    found: dict[tuple[Any, ...], int] = {}
    if videos:
        rows = await conn.fetch(
            sql.OUTBOX_VIDEOS_FOUND,
            videos,
            [target[i] for i in videos],
            [batch[i].downloaded_at for i in videos],
            [batch[i].video_link for i in videos],
            [batch[i].is_images for i in videos],
            [batch[i].is_processed for i in videos],
            [batch[i].is_inline for i in videos],
        )
        found.update((batch[row[0]].key(), row[1]) for row in rows)
    if music:
        rows = await conn.fetch(
            sql.OUTBOX_MUSIC_FOUND,
            music,
            [target[i] for i in music],
            [batch[i].downloaded_at for i in music],
            [batch[i].video_id for i in music],
        )
        found.update((batch[row[0]].key(), row[1]) for row in rows)
    skip: set[int] = set()
    for i in unsure:
        key = batch[i].key()
        if found.get(key, 0) > 0:
            found[key] -= 1
            skip.add(i)
    return skip


async def flush_outbox() -> int:
    """Write every queued download of the current database now; return how many were written.

    Raises ``StorageUnavailable`` if the database is still unreachable (the rest stays queued
    for the background flusher).
    """
    return await db.current().outbox.flush()


def outbox_stats() -> OutboxStats:
    """The current database's outbox counts: queued, flushed, duplicates, dropped, failed,
    abandoned, pending."""
    return db.current().outbox.stats()
