"""Campaign workers: any process with the storage open sends a share of every campaign.

A ``CampaignWorker`` for a bot loops: start the campaigns that are due, lease a chunk
(``FOR UPDATE SKIP LOCKED``), send to its chats in order at the bot's shared rate, and record
each chat's outcome together with the chunk's position (which renews the lease). Several
workers, in one process or many, never hold the same chunk; a worker that dies stops renewing
its lease and, ``lease`` seconds later, another resumes the chunk at the first chat that was
not recorded. What can be sent twice: the message a worker had sent but not yet recorded when
it died (at most ``concurrency`` per dead worker), and a retried send that Telegram had in fact
delivered (a timeout or 5xx: the Bot API has no idempotency key).

Telegram's answers, as in ``broadcast``: 429 pauses every worker of the bot (the pause is in
the shared schedule) and the chat is tried again; 403 marks the chat blocked; a group that
became a supergroup is migrated and sent to its new id; a transient error is retried with
backoff, then the chat is failed; "message to copy not found" and a revoked token (401) fail
the campaign, since every other send would fail the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)

from ..core.errors import StorageError
from ..services import campaigns as store
from ..services.chats import mark_blocked, migrate_chat
from ..services.storage import Storage
from .broadcast import MAX_RETRY_DELAY
from .telegram_answers import describe, is_block, is_transient

log = logging.getLogger("tt_storage")

#: ``await send(bot, chat_id)``: a registered sender delivers the campaign to one chat.
Sender = Callable[[Bot, int], Awaitable[Any]]

#: Telegram's words for a message to copy that no longer exists (or never did).
SOURCE_GONE = ("message to copy not found", "message_id_invalid", "message not found")
#: How many 429s in a row one chat may meet before it counts as failed.
MAX_FLOODS = 20

SENT, BLOCKED, MIGRATED, FAILED, SKIPPED = range(5)


class CampaignStopped(Exception):
    """The campaign cannot go on (recorded as failed with this reason)."""


class _LeaseLost(Exception):
    """Another worker holds the chunk now: this one must not send to any of its chats."""


@dataclass
class _Slots:
    """The send slots this chunk loop holds in the bot's shared schedule."""

    first: float = 0.0
    left: int = 0
    interval: float = 0.0

    def take(self) -> float:
        slot = self.first
        self.first += self.interval
        self.left -= 1
        return slot


@dataclass
class _Counts:
    values: list[int] = field(default_factory=lambda: [0] * 5)

    def add(self, kind: int) -> None:
        self.values[kind] += 1

    def take(self) -> list[int]:
        out, self.values = self.values, [0] * 5
        return out


def _check(**options: Any) -> None:
    """The worker's options, checked before anything runs."""
    concurrency = options.pop("concurrency", 1)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError("concurrency must be an int >= 1")
    for what in ("lease", "poll", "batch", "retry_delay"):
        value = options.pop(what, 1.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{what} must be a positive number of seconds")
    retries = options.pop("max_retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError("max_retries must be an int >= 0")
    if options:
        raise TypeError(f"CampaignWorker got unexpected options: {', '.join(sorted(options))}")


class CampaignWorker:
    """Sends the campaigns of ``bot`` (its own id from the token), ``concurrency`` chunks at a
    time. ``senders`` maps the names a campaign may give to their callables: every worker
    process must register the same ones (a worker that meets an unknown name fails the
    campaign, naming it). ``lease``: seconds a chunk stays a dead worker's before another takes
    it over. ``batch``: seconds of the bot's schedule reserved at once (a pause or cancel is
    seen after every message regardless)."""

    def __init__(
        self,
        bot: Bot,
        *,
        senders: Mapping[str, Sender] | None = None,
        concurrency: int = 4,
        lease: float = 30.0,
        poll: float = 1.0,
        batch: float = 0.5,
        max_retries: int = 3,
        retry_delay: float = 1.0,
    ) -> None:
        _check(
            concurrency=concurrency,
            lease=lease,
            poll=poll,
            batch=batch,
            max_retries=max_retries,
            retry_delay=retry_delay,
        )
        self.bot = bot
        self.senders = dict(senders or {})
        self.concurrency = concurrency
        self.lease = float(lease)
        self.poll = float(poll)
        self.batch = float(batch)
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._claims = itertools.count(1)
        self._sources: dict[int, tuple[int | None, int | None, str | None, float]] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Finish the messages being sent, give the chunks back and return from ``run``."""
        self._stop.set()

    async def run(self) -> None:
        """Work until ``stop()`` (or cancellation): ``concurrency`` chunk loops."""
        self._stop.clear()
        loops = [asyncio.create_task(self._loop()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*loops)
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = await self.run_once()
            except StorageError as exc:
                log.warning("campaign worker %s: %s; retrying in %.0f s", self.name, exc, self.poll)
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll)

    async def run_once(self) -> bool:
        """Start due campaigns, then lease one chunk and send it; ``False`` if there was none."""
        await store.start_due_campaigns(self.bot.id)
        token = f"{self.name}:{next(self._claims)}"[:64]
        chunk = await store.claim_chunk(self.bot.id, token, self.lease)
        if chunk is None:
            return False
        try:
            await _ChunkRun(self, chunk, token).run()
        finally:
            with contextlib.suppress(StorageError):
                await store.release_chunk(chunk.id, token)
        return True

    async def source(self, campaign: int) -> tuple[int | None, int | None, str | None, float]:
        if campaign not in self._sources:
            self._sources[campaign] = await store.campaign_source(campaign)
        return self._sources[campaign]


class _ChunkRun:
    """One leased chunk, sent in order."""

    def __init__(self, worker: CampaignWorker, chunk: store.Chunk, token: str) -> None:
        self.worker, self.chunk, self.token = worker, chunk, token
        self.bot = worker.bot
        self.slots = _Slots()
        self.counts = _Counts()
        self.position = chunk.position
        self.renewed = time.time()

    async def run(self) -> None:
        from_chat, message, sender_name, rate = await self.worker.source(self.chunk.campaign_id)
        if sender_name is not None and sender_name not in self.worker.senders:
            await self._fail(f"unknown sender {sender_name!r} in worker {self.worker.name}")
            return
        send = self._sender(from_chat, message, sender_name)
        self.slots.interval = 1.0 / rate
        ids = self.chunk.chat_ids
        exceptions = await store.chunk_exceptions(ids[self.chunk.position :])
        for position in range(self.chunk.position, len(ids)):
            if self.worker._stop.is_set():
                return
            chat = ids[position]
            target = exceptions.get(chat, chat)
            try:
                if target is None:
                    self.counts.add(SKIPPED)
                else:
                    if target != chat:
                        self.counts.add(MIGRATED)
                    self.counts.add(await self._deliver(send, target, rate))
            except CampaignStopped as exc:
                await store.fail_campaign(self.chunk.campaign_id, str(exc))
                log.error("campaign %d failed: %s", self.chunk.campaign_id, exc)
                return
            except _LeaseLost:
                return
            if not await self._record(position + 1):
                return
        await store.finish_campaign(self.chunk.campaign_id)

    def _sender(self, from_chat: int | None, message: int | None, name: str | None) -> Sender:
        if name is not None:
            return self.worker.senders[name]
        assert from_chat is not None and message is not None

        async def copy(bot: Bot, chat_id: int) -> Any:
            return await bot.copy_message(chat_id, from_chat, message)

        return copy

    async def _fail(self, error: str) -> None:
        await store.fail_campaign(self.chunk.campaign_id, error)
        log.error("campaign %d failed: %s", self.chunk.campaign_id, error)

    async def _record(self, position: int) -> bool:
        """Record the chats before ``position``; whether to go on."""
        answer = await store.record_progress(
            self.chunk.id, self.token, position, self.counts.take(), self.worker.lease
        )
        self.position, self.renewed = position, time.time()
        if answer is None:
            log.warning("campaign chunk %d: lease lost, another worker has it", self.chunk.id)
            return False
        state, paused_until = answer
        if paused_until > time.time():
            self.slots.left = 0  # reserved before the pause: reserve anew after it
        return state == "running"

    async def _slot(self, rate: float) -> None:
        """Wait for this loop's next send slot, still holding the chunk when it comes."""
        if self.slots.left <= 0:
            # This loop's share of ``batch`` seconds of the bot's schedule: the loops of one
            # worker together hold about ``batch`` s of it, so a slot is never far off.
            count = max(1, math.ceil(rate * self.worker.batch / self.worker.concurrency))
            self.slots.first = await store.reserve_slots(self.bot.id, count, rate)
            self.slots.left = count
        delay = self.slots.take() - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # A long wait (a 429 pause, a crowded schedule) must not outlast the lease: renew it
        # before sending, or learn that another worker took the chunk and send nothing.
        if time.time() - self.renewed > self.worker.lease / 3:
            # Same position, no outcomes: the counts still pending go with the next record.
            answer = await store.record_progress(
                self.chunk.id, self.token, self.position, [0] * 5, self.worker.lease
            )
            self.renewed = time.time()
            if answer is None:
                log.warning("campaign chunk %d: lease lost while waiting", self.chunk.id)
                raise _LeaseLost

    async def _deliver(self, send: Sender, chat: int, rate: float) -> int:
        """Send to one chat until it is done; the outcome."""
        failures = floods = 0
        while True:
            await self._slot(rate)
            try:
                await send(self.bot, chat)
                return SENT
            except TelegramRetryAfter as exc:
                floods += 1
                await store.pause_bot(self.bot.id, exc.retry_after)
                self.slots.left = 0
                if floods > MAX_FLOODS:
                    return FAILED
            except TelegramMigrateToChat as exc:
                await migrate_chat(chat, exc.migrate_to_chat_id)
                chat = exc.migrate_to_chat_id
                self.counts.add(MIGRATED)
            except TelegramForbiddenError as exc:
                if is_block(exc):
                    await mark_blocked(chat)
                    return BLOCKED
                return FAILED
            except TelegramUnauthorizedError as exc:
                raise CampaignStopped(
                    f"the bot token was rejected: {describe(exc, self.bot)}"
                ) from exc
            except TelegramBadRequest as exc:
                if any(marker in exc.message.lower() for marker in SOURCE_GONE):
                    raise CampaignStopped(f"the message to send is gone: {exc.message}") from exc
                log.info("campaign %d: chat %d: %s", self.chunk.campaign_id, chat, exc.message)
                return FAILED
            except TelegramAPIError as exc:
                if not is_transient(exc) or failures >= self.worker.max_retries:
                    log.info("campaign chat %d failed: %s", chat, describe(exc, self.bot))
                    return FAILED
                delay = min(self.worker.retry_delay * 2**failures, MAX_RETRY_DELAY)
                failures += 1
                await asyncio.sleep(delay)
            except StorageError:
                raise
            except Exception as exc:  # a registered sender's own bug: this chat only
                log.warning("campaign chat %d failed in its sender: %r", chat, exc)
                return FAILED


def setup_campaign_workers(
    dispatcher: Dispatcher,
    *,
    storage: Storage | None = None,
    senders: Mapping[str, Sender] | None = None,
    **options: Any,
) -> dict[int, CampaignWorker]:
    """Run a ``CampaignWorker`` for each bot the dispatcher starts with, stopped at shutdown
    (after the messages in flight). Call it after ``setup_storage``, whose startup opens the
    storage first; ``storage``: the one to send from (default: the current one). ``options``
    go to ``CampaignWorker``. Returns the workers by bot id (filled at startup)."""
    _check(**options)  # bad options fail here, not at startup
    workers: dict[int, CampaignWorker] = {}
    tasks: list[asyncio.Task[None]] = []

    async def on_startup(bot: Bot, bots: list[Bot] | None = None) -> None:
        for each in bots or [bot]:
            worker = CampaignWorker(each, senders=senders, **options)
            workers[each.id] = worker
            with storage.bound() if storage is not None else contextlib.nullcontext():
                tasks.append(
                    asyncio.create_task(worker.run(), name=f"tt-storage-campaigns-{each.id}")
                )

    async def on_shutdown() -> None:
        for worker in workers.values():
            worker.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    return workers
