"""Send something to every reachable chat, within Telegram's limits, resumably.

``broadcast`` streams chat ids in ascending order (``iter_user_ids``: constant memory, no long
transaction), paces the sends to ``rate`` per second for the whole bot, and acts on what
Telegram answers:

* 429 ``TelegramRetryAfter``: everything pauses for ``retry_after``, then the same chat is
  tried again;
* 403 ``TelegramForbiddenError`` (blocked by the user, user deactivated, kicked from the
  group…): the chat is marked blocked, so later broadcasts skip it. "bot can't initiate
  conversation" is not a block (the user never started the bot): it counts as failed;
* 400 ``TelegramMigrateToChat``: the group became a supergroup: ``migrate_chat`` moves it and
  the message is sent to the new id;
* a transient error (``is_transient``: Telegram's 5xx, the HTTP client's timeouts and reset
  connections, a proxy's non-JSON error page): the same chat is tried again after
  ``retry_delay`` s, doubling for each further one (that worker waits; the others go on,
  within the window below);
* anything else: failed, logged (without the bot token);
* 401 ``TelegramUnauthorizedError`` (the token is revoked) stops the broadcast: every other
  send would fail the same way.

Each chat gets at most ``1 + max_retries`` attempts and counts as failed only when they are
used up. The result's ``last_chat_id`` (also passed to ``progress`` every ``progress_every``
chats, and once more whenever the run ends or stops) is the id up to which every chat is done:
``start_after=last_chat_id`` resumes. What a resume may repeat:

* a stopped run (cancelled, 401, a database error) first lets the ``send`` calls in flight
  finish, so their chats are known to be done or not; a second cancel does not wait, and a
  chat whose ``send`` it abandons is not done: a resume sends to it again, though its message
  may have arrived (Telegram has no idempotency key);
* with ``concurrency`` c, chats finish out of order only within a window of c chats from the
  oldest unfinished one: a resume repeats at most c - 1 chats that had the message (none with
  the default c = 1);
* a retried timeout or 5xx may have been delivered before it failed: that chat gets the
  message twice, whether or not the run is resumed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)

from ..core import validate
from ..core.errors import StorageError
from ..services.chats import mark_blocked, migrate_chat
from ..services.stats import iter_user_ids
from .pacing import Pacer
from .telegram_answers import describe, is_block, is_transient

log = logging.getLogger("tt_storage")

#: ``await send(bot, chat_id)``: sends the broadcast's message(s) to one chat.
SendFunction = Callable[[Bot, int], Awaitable[Any]]
#: ``progress(result_so_far)``, plain or async: persist ``last_chat_id`` to resume later.
ProgressCallback = Callable[["BroadcastResult"], Awaitable[Any] | Any]

#: The longest wait between two attempts after transient errors, in seconds.
MAX_RETRY_DELAY = 60.0


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """Counts so far. Every chat ends up ``sent``, ``blocked`` or ``failed``; ``migrated``
    counts the groups that turned out to be supergroups (sent to the new id, or not)."""

    sent: int = 0
    blocked: int = 0
    migrated: int = 0
    failed: int = 0
    #: Every chat up to this id (inclusive, in stream order) is done; ``None``: none yet.
    last_chat_id: int | None = None

    @property
    def processed(self) -> int:
        return self.sent + self.blocked + self.failed


class Outcome(Enum):
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


class _Run:
    """One broadcast's state: counters, the done watermark, the pacer."""

    def __init__(
        self,
        bot: Bot,
        send: SendFunction,
        pacer: Pacer,
        max_retries: int,
        retry_delay: float,
        window: int,
        start_after: int | None,
        progress: ProgressCallback | None,
        progress_every: int,
    ) -> None:
        self.bot = bot
        self.send = send
        self.pacer = pacer
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.window = window
        self.progress = progress
        self.progress_every = progress_every
        self.counts = {outcome: 0 for outcome in Outcome}
        self.migrated = 0
        self.last_chat_id = start_after
        # Stream positions handed out / finished: the watermark only passes finished ones.
        self._dispatched: dict[int, int] = {}
        self._finished: set[int] = set()
        self._next_position = 0
        self._watermark = 0
        self._advanced = asyncio.Condition()
        self._progress_failed = False
        #: Set when the run stops: no new chat, no new attempt.
        self.stopping = False
        # Workers awaiting a send: a stop lets them finish it.
        self._sending: set[asyncio.Task[Any]] = set()

    def result(self) -> BroadcastResult:
        return BroadcastResult(
            sent=self.counts[Outcome.SENT],
            blocked=self.counts[Outcome.BLOCKED],
            migrated=self.migrated,
            failed=self.counts[Outcome.FAILED],
            last_chat_id=self.last_chat_id,
        )

    def dispatch(self, chat_id: int) -> int:
        position = self._next_position
        self._next_position += 1
        self._dispatched[position] = chat_id
        return position

    async def admit(self, position: int) -> None:
        """Wait until ``position`` is within ``window`` of the oldest unfinished chat: bounds
        the chats a resume from ``last_chat_id`` would repeat."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: position < self._watermark + self.window)

    async def finish(self, position: int, outcome: Outcome, migrated: bool) -> None:
        self.counts[outcome] += 1
        self.migrated += migrated
        self._finished.add(position)
        watermark = self._watermark
        while self._watermark in self._finished:
            self._finished.remove(self._watermark)
            self.last_chat_id = self._dispatched.pop(self._watermark)
            self._watermark += 1
        if self._watermark != watermark:
            async with self._advanced:
                self._advanced.notify_all()
        done = self.result().processed
        if self.progress is not None and done % self.progress_every == 0:
            await self.report()

    async def report(self) -> None:
        if self.progress is not None:
            try:
                value = self.progress(self.result())
                if inspect.isawaitable(value):
                    await value
            except Exception:
                self._progress_failed = True
                raise

    async def last_report(self) -> None:
        """The run stops: report where it got to since the last report (unless the callback
        is what failed); an error here is logged, the one that stopped the run is raised."""
        if self._progress_failed:
            return
        try:
            await self.report()
        except Exception as exc:
            log.warning("broadcast: the last progress report failed: %s", describe(exc, self.bot))

    async def supervise(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for the producer and the workers. The first error, or a cancel, stops the run:
        the sends in flight finish (a second cancel does not wait for them), the rest is
        cancelled, the last progress report is made, and the error is raised."""
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    if not task.cancelled() and (error := task.exception()) is not None:
                        raise error
        except BaseException:
            self.stopping = True
            for task in pending - self._sending:
                task.cancel()
            try:
                if pending:
                    await asyncio.wait(pending)
            except asyncio.CancelledError:
                # Stopped again: a chat whose send is abandoned stays not done (its outcome
                # is unknown), so a resume sends to it again.
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending)
                await self.last_report()
                raise
            await self.last_report()
            raise

    async def attempt(self, target: int) -> None:
        """One ``send``, marked as in flight: a stopping run lets it finish (see ``stop``)."""
        task = asyncio.current_task()
        assert task is not None  # called from a worker task
        self._sending.add(task)
        try:
            await self.send(self.bot, target)
        finally:
            self._sending.discard(task)

    async def deliver(self, chat_id: int) -> tuple[Outcome, bool] | None:
        """Send to one chat (following a migration), retrying up to ``max_retries`` times.
        ``None``: the run stopped before the chat was done."""
        target, migrated = chat_id, False
        transient = 0
        error = "no attempt"
        for attempt in range(self.max_retries + 1):
            if self.stopping:
                return None
            await self.pacer.acquire()
            try:
                await self.attempt(target)
                return Outcome.SENT, migrated
            except TelegramRetryAfter as exc:
                error = self.flood(exc, target, attempt)
            except TelegramMigrateToChat as exc:
                error = describe(exc, self.bot)
                target, migrated = await self.follow(target, exc.migrate_to_chat_id), True
            except TelegramForbiddenError as exc:
                return await self.forbidden(exc, target), migrated
            except TelegramUnauthorizedError:
                raise
            except Exception as exc:  # the send function's own errors too: one chat fails
                error = describe(exc, self.bot)
                if not is_transient(exc):
                    log.warning("broadcast: chat %d failed: %s", target, error)
                    return Outcome.FAILED, migrated
                if attempt < self.max_retries and not self.stopping:
                    await self.back_off(target, error, transient, attempt)
                    transient += 1
        log.warning(
            "broadcast: chat %d failed: no success in %d attempts (last: %s)",
            target,
            self.max_retries + 1,
            error,
        )
        return Outcome.FAILED, migrated

    def flood(self, exc: TelegramRetryAfter, target: int, attempt: int) -> str:
        """A 429: every send pauses for ``retry_after``; the same chat is tried again."""
        log.warning(
            "broadcast: flood limit, pausing %d s (chat %d, attempt %d)",
            exc.retry_after,
            target,
            attempt + 1,
        )
        self.pacer.pause(exc.retry_after)
        return describe(exc, self.bot)

    async def follow(self, target: int, new_id: int) -> int:
        """The group became supergroup ``new_id``: move it (best effort) and send there."""
        log.info("broadcast: chat %d is now supergroup %d", target, new_id)
        try:
            await migrate_chat(target, new_id)
        except StorageError as problem:
            log.warning("broadcast: could not migrate chat %d: %s", target, problem)
        return new_id

    async def forbidden(self, exc: TelegramForbiddenError, target: int) -> Outcome:
        """A 403, never retried: blocked or removed (marked so), else failed."""
        if not is_block(exc):
            log.info("broadcast: chat %d failed: %s", target, describe(exc, self.bot))
            return Outcome.FAILED
        try:
            await mark_blocked(target)
        except StorageError as problem:
            log.warning("broadcast: could not mark chat %d blocked: %s", target, problem)
        return Outcome.BLOCKED

    async def back_off(self, target: int, error: str, transient: int, attempt: int) -> None:
        """Wait before retrying a transient error: ``retry_delay``, doubling, at most
        ``MAX_RETRY_DELAY``."""
        delay = min(self.retry_delay * 2**transient, MAX_RETRY_DELAY)
        log.info(
            "broadcast: chat %d: %s; retrying in %.3g s (attempt %d)",
            target,
            error,
            delay,
            attempt + 1,
        )
        await asyncio.sleep(delay)


async def broadcast(
    bot: Bot,
    send: SendFunction,
    *,
    rate: float = 25.0,
    max_retries: int = 3,
    retry_delay: float = 1.0,
    concurrency: int = 1,
    only_positive: bool = True,
    start_after: int | None = None,
    progress: ProgressCallback | None = None,
    progress_every: int = 1000,
    batch_size: int = 1000,
) -> BroadcastResult:
    """Call ``await send(bot, chat_id)`` for every chat that has not blocked the bot.

    ``rate``: ``send`` calls per second for the whole bot (Telegram allows about 30 messages/s
    in bulk). ``only_positive``: private chats only (the seed's broadcast), else groups too.
    ``max_retries``: further attempts per chat (after a 429, a migration or a transient error);
    ``retry_delay``: the wait after a chat's first transient error, doubled for each further
    one (at most ``MAX_RETRY_DELAY``). ``concurrency``: chats in flight at once (each chat's
    attempts stay in order, the rate is global; none runs more than ``concurrency`` chats ahead
    of the oldest unfinished one); with 1, chats go strictly one after the other.
    ``start_after``: resume after this chat id. ``progress(result)`` is called every
    ``progress_every`` chats, and once more when the run ends or stops (cancelled, or an error
    raised): its ``last_chat_id`` is where to resume (see the module's notes on what a resume
    may repeat).
    """
    _check_arguments(
        rate, retry_delay, max_retries, concurrency, progress_every, batch_size, start_after
    )
    run = _Run(
        bot,
        send,
        Pacer(rate),
        max_retries,
        float(retry_delay),
        concurrency,
        start_after,
        progress,
        progress_every,
    )
    await _send_to_all(run, concurrency, only_positive, batch_size, start_after)
    result = run.result()
    await run.report()
    log.info(
        "broadcast done: %d sent, %d blocked, %d migrated, %d failed",
        result.sent,
        result.blocked,
        result.migrated,
        result.failed,
    )
    return result


def _check_arguments(
    rate: float,
    retry_delay: float,
    max_retries: int,
    concurrency: int,
    progress_every: int,
    batch_size: int,
    start_after: int | None,
) -> None:
    """``broadcast``'s arguments: ``ValueError`` for the first one out of range."""
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise ValueError("rate must be a positive number")
    if (
        isinstance(retry_delay, bool)
        or not isinstance(retry_delay, int | float)
        or not 0 <= retry_delay < float("inf")
    ):
        raise ValueError("retry_delay must be a number of seconds >= 0")
    for name, value, low in (
        ("max_retries", max_retries, 0),
        ("concurrency", concurrency, 1),
        ("progress_every", progress_every, 1),
        ("batch_size", batch_size, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}")
    if start_after is not None:
        validate.chat_id(start_after, "start_after")


async def _send_to_all(
    run: _Run, concurrency: int, only_positive: bool, batch_size: int, start_after: int | None
) -> None:
    """A producer streams the chats after ``start_after``, through a queue of ``concurrency``
    places, to as many workers; ``run.supervise`` waits for them all (stops them on an error)."""
    queue: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue(maxsize=concurrency)

    async def produce() -> None:
        async for chat_id in iter_user_ids(
            only_positive, batch_size=batch_size, include_blocked=False, start_after=start_after
        ):
            await queue.put((run.dispatch(chat_id), chat_id))
        for _ in range(concurrency):
            await queue.put(None)

    async def work() -> None:
        while not run.stopping and (item := await queue.get()) is not None:
            position, chat_id = item
            await run.admit(position)
            delivered = await run.deliver(chat_id)
            if delivered is not None:
                await run.finish(position, *delivered)

    producer = asyncio.create_task(produce())
    await run.supervise([producer, *(asyncio.create_task(work()) for _ in range(concurrency))])
