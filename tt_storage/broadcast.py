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
* anything else: failed, logged (without the bot token);
* 401 ``TelegramUnauthorizedError`` (the token is revoked) stops the broadcast: every other
  send would fail the same way.

Each chat gets at most ``1 + max_retries`` attempts. The result's ``last_chat_id`` (also passed
to ``progress`` every ``progress_every`` chats) is the id up to which every chat is done:
``start_after=last_chat_id`` resumes an interrupted broadcast without sending twice.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)

from . import validate
from .errors import StorageError
from .services.chats import mark_blocked, migrate_chat
from .services.stats import iter_user_ids

log = logging.getLogger("tt_storage")

#: ``await send(bot, chat_id)``: sends the broadcast's message(s) to one chat.
SendFunction = Callable[[Bot, int], Awaitable[Any]]
#: ``progress(result_so_far)``, plain or async: persist ``last_chat_id`` to resume later.
ProgressCallback = Callable[["BroadcastResult"], Awaitable[Any] | Any]

#: Telegram's wording of a 403 that is not a block: the user never started the bot.
NOT_A_BLOCK = ("can't initiate conversation",)


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


class Pacer:
    """A monotonic schedule: one slot every ``1 / rate`` s, no bursts, and a global pause."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = clock()
        self._paused_until = 0.0

    async def acquire(self) -> None:
        """Wait for this caller's slot (slots are handed out in call order)."""
        while True:
            now = self._clock()
            start = max(self._next, now, self._paused_until)
            self._next = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)
            # A pause that began while this caller slept moves it behind the pause.
            if self._clock() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        """Nobody gets a slot for ``seconds`` from now (longer pauses win)."""
        self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))


def describe(exc: BaseException, bot: Bot) -> str:
    """An error for the log: Telegram's description or the exception, never the token."""
    text = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
    text = f"{type(exc).__name__}: {text}"
    token = getattr(bot, "token", None)
    if token:
        text = text.replace(token, "<token>")
    return text[:300]


def is_block(exc: TelegramForbiddenError) -> bool:
    """A 403 that means the chat cannot be reached any more (not "can't initiate")."""
    text = exc.message.lower()
    return not any(marker in text for marker in NOT_A_BLOCK)


class _Run:
    """One broadcast's state: counters, the done watermark, the pacer."""

    def __init__(
        self,
        bot: Bot,
        send: SendFunction,
        pacer: Pacer,
        max_retries: int,
        start_after: int | None,
        progress: ProgressCallback | None,
        progress_every: int,
    ) -> None:
        self.bot = bot
        self.send = send
        self.pacer = pacer
        self.max_retries = max_retries
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

    async def finish(self, position: int, outcome: Outcome, migrated: bool) -> None:
        self.counts[outcome] += 1
        self.migrated += migrated
        self._finished.add(position)
        while self._watermark in self._finished:
            self._finished.remove(self._watermark)
            self.last_chat_id = self._dispatched.pop(self._watermark)
            self._watermark += 1
        done = self.result().processed
        if self.progress is not None and done % self.progress_every == 0:
            await self.report()

    async def report(self) -> None:
        if self.progress is not None:
            value = self.progress(self.result())
            if inspect.isawaitable(value):
                await value

    async def deliver(self, chat_id: int) -> tuple[Outcome, bool]:
        """Send to one chat (following a migration), retrying up to ``max_retries`` times."""
        target, migrated = chat_id, False
        for attempt in range(self.max_retries + 1):
            await self.pacer.acquire()
            try:
                await self.send(self.bot, target)
                return Outcome.SENT, migrated
            except TelegramRetryAfter as exc:
                log.warning(
                    "broadcast: flood limit, pausing %d s (chat %d, attempt %d)",
                    exc.retry_after,
                    target,
                    attempt + 1,
                )
                self.pacer.pause(exc.retry_after)
            except TelegramMigrateToChat as exc:
                new_id = exc.migrate_to_chat_id
                log.info("broadcast: chat %d is now supergroup %d", target, new_id)
                try:
                    await migrate_chat(target, new_id)
                except StorageError as error:
                    log.warning("broadcast: could not migrate chat %d: %s", target, error)
                target, migrated = new_id, True
            except TelegramForbiddenError as exc:
                if not is_block(exc):
                    log.info("broadcast: chat %d failed: %s", target, describe(exc, self.bot))
                    return Outcome.FAILED, migrated
                try:
                    await mark_blocked(target)
                except StorageError as error:
                    log.warning("broadcast: could not mark chat %d blocked: %s", target, error)
                return Outcome.BLOCKED, migrated
            except TelegramUnauthorizedError:
                raise
            except Exception as exc:  # the send function's own errors too: one chat fails
                log.warning("broadcast: chat %d failed: %s", target, describe(exc, self.bot))
                return Outcome.FAILED, migrated
        log.warning("broadcast: chat %d failed: no success in %d attempts", target, attempt + 1)
        return Outcome.FAILED, migrated


async def broadcast(
    bot: Bot,
    send: SendFunction,
    *,
    rate: float = 25.0,
    max_retries: int = 3,
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
    ``concurrency``: chats in flight at once (each chat's attempts stay in order, the rate is
    global); with 1, chats go strictly one after the other. ``start_after``: resume after this
    chat id. ``progress(result)`` is called every ``progress_every`` chats and once at the end.
    """
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise ValueError("rate must be a positive number")
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

    run = _Run(bot, send, Pacer(rate), max_retries, start_after, progress, progress_every)
    queue: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue(maxsize=concurrency)

    async def produce() -> None:
        async for chat_id in iter_user_ids(
            only_positive, batch_size=batch_size, include_blocked=False, start_after=start_after
        ):
            await queue.put((run.dispatch(chat_id), chat_id))
        for _ in range(concurrency):
            await queue.put(None)

    async def work() -> None:
        while (item := await queue.get()) is not None:
            position, chat_id = item
            outcome, migrated = await run.deliver(chat_id)
            await run.finish(position, outcome, migrated)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for _ in range(concurrency):
                group.create_task(work())
    except BaseExceptionGroup as errors:
        # One failure (the database, a revoked token, the progress callback) stops it all.
        raise errors.exceptions[0] from None
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
