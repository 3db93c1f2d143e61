"""broadcast(): pacing, 429 pauses, 403 blocks, migrations, bounded retries, resuming.

Telegram's answers come from the fake Bot API server through aiogram's real HTTP session, queued
per chat so that the tests do not depend on which chat a concurrent worker sends to first.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramUnauthorizedError
from aiohttp import web

import tt_storage as tt
from tests.support.waiting import until
from tt_storage.admin.broadcast import BroadcastResult, broadcast
from tt_storage.testing import TOKEN, FakeTelegram

BLOCKED = "Forbidden: bot was blocked by the user"
FAST = 1000.0  # messages/s where pacing is not what a test is about


class PerChatSession:
    """The fake Bot API server as these tests read it: errors queued for one chat's
    ``sendMessage`` (answered in order), every attempt's time, the chats a message reached."""

    def __init__(self, telegram: FakeTelegram) -> None:
        self.telegram = telegram

    def bot(self) -> Bot:
        return self.telegram.bot()

    def fail(
        self,
        chat_id: int,
        status: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        self.telegram.fail(
            "sendMessage",
            chat_id=chat_id,
            status=status,
            description=description,
            retry_after=retry_after,
            migrate_to_chat_id=migrate_to_chat_id,
        )

    @property
    def times(self) -> list[tuple[float, int]]:
        """When each ``sendMessage`` arrived, and for which chat."""
        return [(r.at, int(r.chat_id or 0)) for r in self.telegram.calls("sendMessage")]

    @property
    def delivered(self) -> list[int]:
        """Chats whose ``sendMessage`` Telegram accepted, in order."""
        return [int(r.chat_id or 0) for r in self.telegram.calls("sendMessage", ok=True)]

    def sent_to(self) -> list[int]:
        return [chat for _, chat in self.times]

    def texts(self, chat_id: int) -> list[str]:
        return self.telegram.texts(chat_id)


async def send(bot: Bot, chat_id: int) -> None:
    await bot.send_message(chat_id, "news")


@pytest.fixture
async def chats(db: asyncpg.Connection) -> list[int]:
    """Users 1..6, a group, and a blocked user (neither gets a default broadcast)."""
    for chat in (1, 2, 3, 4, 5, 6, -10, 9):
        await tt.register_user(chat)
    await tt.mark_blocked(9)
    return [1, 2, 3, 4, 5, 6]


@pytest.fixture
def session(telegram: FakeTelegram) -> PerChatSession:
    return PerChatSession(telegram)


async def _blocked(db: asyncpg.Connection) -> list[int]:
    rows = await db.fetch("SELECT user_id FROM users WHERE blocked_at IS NOT NULL ORDER BY 1")
    return [r[0] for r in rows]


async def test_sends_to_every_active_user_in_order(
    session: PerChatSession, chats: list[int]
) -> None:
    result = await broadcast(session.bot(), send, rate=FAST)
    assert result == BroadcastResult(sent=6, last_chat_id=6)
    assert session.sent_to() == chats
    assert session.texts(3) == ["news"]


async def test_groups_too_when_asked(session: PerChatSession, chats: list[int]) -> None:
    result = await broadcast(session.bot(), send, rate=FAST, only_positive=False)
    assert result.sent == 7 and session.sent_to() == [-10, *chats]


async def test_retry_after_pauses_everything_and_retries_the_same_chat(
    session: PerChatSession, chats: list[int]
) -> None:
    session.fail(3, 429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()
    result = await broadcast(session.bot(), send, rate=FAST, concurrency=3)
    assert time.monotonic() - started >= 0.9
    assert result == BroadcastResult(sent=6, last_chat_id=6)
    assert sorted(session.sent_to()) == [1, 2, 3, 3, 4, 5, 6]
    # Nobody sent anything during the pause but the other workers' sends already in flight
    # when the 429 came back (at most concurrency - 1, arriving within moments of it), and the
    # retry went to the same chat.
    flood_at = next(t for t, chat in session.times if chat == 3)
    after = [(t, chat) for t, chat in session.times if t > flood_at]
    in_flight = [chat for t, chat in after if t - flood_at < 0.5]
    assert len(in_flight) <= 2 and 3 not in in_flight
    assert all(t - flood_at >= 0.9 for t, _ in after if t - flood_at >= 0.5)
    assert 3 in [chat for t, chat in after if t - flood_at >= 0.9]


@pytest.mark.parametrize(
    ("chat", "description", "blocked"),
    [
        (2, BLOCKED, True),
        (2, "Forbidden: user is deactivated", True),
        (-10, "Forbidden: bot was kicked from the group chat", True),
        (2, "Forbidden: bot can't initiate conversation with a user", False),
    ],
)
async def test_forbidden(
    session: PerChatSession,
    chats: list[int],
    db: asyncpg.Connection,
    chat: int,
    description: str,
    blocked: bool,
) -> None:
    session.fail(chat, 403, description)
    result = await broadcast(session.bot(), send, rate=FAST, only_positive=False)
    assert (result.blocked, result.failed, result.sent) == ((1, 0, 6) if blocked else (0, 1, 6))
    assert session.sent_to().count(chat) == 1  # a 403 is never retried
    assert await _blocked(db) == sorted([9, chat] if blocked else [9])
    # The next broadcast skips a blocked chat.
    session.telegram.clear()
    await broadcast(session.bot(), send, rate=FAST, only_positive=False)
    assert (chat in session.sent_to()) is not blocked


async def test_migrated_group_is_moved_and_sent_to_its_new_id(
    session: PerChatSession, chats: list[int], db: asyncpg.Connection
) -> None:
    new = -1_000_000_000_010
    await tt.add_video(-10, "https://t/v", False)
    session.fail(
        -10,
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=new,
    )
    result = await broadcast(session.bot(), send, rate=FAST, only_positive=False)
    assert result == BroadcastResult(sent=7, migrated=1, last_chat_id=6)
    assert session.sent_to()[:2] == [-10, new]
    assert session.texts(new) == ["news"]
    assert await db.fetchval("SELECT count(*) FROM users WHERE user_id = -10") == 0
    assert await db.fetchval("SELECT count(*) FROM videos WHERE user_id = $1", new) == 1


async def test_retries_are_bounded(session: PerChatSession, chats: list[int]) -> None:
    # A chain of migrations: every attempt fails without any pause.
    ids = [-10, -1_000_000_000_001, -1_000_000_000_002, -1_000_000_000_003]
    for old, new in itertools.pairwise(ids):
        session.fail(old, 400, "Bad Request: group chat was upgraded", migrate_to_chat_id=new)
    result = await broadcast(session.bot(), send, rate=FAST, only_positive=False, max_retries=2)
    assert session.sent_to()[:3] == ids[:3]  # three attempts, then the chat is given up
    assert result == BroadcastResult(sent=6, migrated=1, failed=1, last_chat_id=6)


async def test_flood_retries_are_bounded_too(session: PerChatSession, chats: list[int]) -> None:
    session.fail(1, 429, "Too Many Requests: retry after 1", retry_after=1)
    result = await broadcast(session.bot(), send, rate=FAST, max_retries=0)
    assert result == BroadcastResult(sent=5, failed=1, last_chat_id=6)
    assert session.sent_to() == chats


async def test_other_errors_fail_the_chat_and_never_log_the_token(
    session: PerChatSession, chats: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    session.fail(2, 400, "Bad Request: chat not found")

    async def leaky(bot: Bot, chat_id: int) -> None:
        if chat_id == 4:
            raise RuntimeError(f"https://api.telegram.org/bot{bot.token}/sendMessage failed")
        await send(bot, chat_id)

    with caplog.at_level(logging.INFO, logger="tt_storage"):
        result = await broadcast(session.bot(), leaky, rate=FAST)
    assert result == BroadcastResult(sent=4, failed=2, last_chat_id=6)
    assert "chat not found" in caplog.text and "RuntimeError" in caplog.text
    assert TOKEN not in caplog.text


async def test_resume_from_the_saved_progress(session: PerChatSession, chats: list[int]) -> None:
    saved: list[BroadcastResult] = []

    async def persist(result: BroadcastResult) -> None:  # async callbacks are awaited
        saved.append(result)

    session.fail(4, 401, "Unauthorized")  # stops the run: every later send would fail too
    with pytest.raises(TelegramUnauthorizedError):
        await broadcast(session.bot(), send, rate=FAST, progress=persist, progress_every=1)
    assert saved[-1] == BroadcastResult(sent=3, last_chat_id=3)

    result = await broadcast(session.bot(), send, rate=FAST, start_after=saved[-1].last_chat_id)
    assert result == BroadcastResult(sent=3, last_chat_id=6)
    assert session.sent_to() == [1, 2, 3, 4, 4, 5, 6]  # 4 failed, then got it: none twice


async def test_progress_every_n_chats_and_at_the_end(
    session: PerChatSession, chats: list[int]
) -> None:
    seen: list[int | None] = []
    result = await broadcast(
        session.bot(),
        send,
        rate=FAST,
        concurrency=2,
        progress=lambda r: seen.append(r.last_chat_id),
        progress_every=4,
    )
    assert result.last_chat_id == 6
    assert len(seen) == 2 and seen[-1] == 6 and seen[0] is not None and seen[0] <= 4


async def test_rate_is_paced(session: PerChatSession, db: asyncpg.Connection) -> None:
    for chat in range(1, 41):
        await tt.register_user(chat)
    started = time.monotonic()
    result = await broadcast(session.bot(), send, rate=200, concurrency=4)
    elapsed = time.monotonic() - started
    assert result.sent == 40 and result.last_chat_id == 40
    assert elapsed >= 39 / 200 * 0.9  # never faster than the rate (loosely)
    assert sorted(session.sent_to()) == list(range(1, 41))  # each chat exactly once


async def test_rejects_bad_arguments(session: PerChatSession) -> None:
    for kwargs in ({"rate": 0}, {"max_retries": -1}, {"concurrency": 0}, {"start_after": "x"}):
        with pytest.raises(ValueError):
            await broadcast(session.bot(), send, **kwargs)


# --- transient errors: retried with backoff ---------------------------------------------------

BAD_GATEWAY = "Bad Gateway"
QUICK = 0.001  # retry_delay where the backoff's length is not what a test is about


async def _register(count: int) -> list[int]:
    chats = list(range(1, count + 1))
    for chat in chats:
        await tt.register_user(chat)
    return chats


async def test_one_time_server_errors_are_retried(
    session: PerChatSession, db: asyncpg.Connection
) -> None:
    chats = await _register(400)
    flaky = chats[7::40]  # 10 chats whose first attempt gets a 502
    assert len(flaky) == 10
    for chat in flaky:
        session.fail(chat, 502, BAD_GATEWAY)
    result = await broadcast(session.bot(), send, rate=FAST, concurrency=4, retry_delay=QUICK)
    assert result == BroadcastResult(sent=400, last_chat_id=400)
    attempts = Counter(session.sent_to())
    assert sorted(attempts) == chats  # every reachable chat got it
    assert {chat for chat, n in attempts.items() if n == 2} == set(flaky)
    assert all(attempts[chat] == 1 for chat in chats if chat not in flaky)


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (500, "Internal Server Error"),
        (502, BAD_GATEWAY),
        (503, "Service Unavailable"),
        (500, "Telegram is restarting"),
    ],
)
async def test_every_server_error_is_transient(
    session: PerChatSession, chats: list[int], status: int, description: str
) -> None:
    session.fail(2, status, description)
    session.fail(2, status, description)
    result = await broadcast(session.bot(), send, rate=FAST, retry_delay=QUICK)
    assert result == BroadcastResult(sent=6, last_chat_id=6)
    assert session.sent_to().count(2) == 3


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_a_chat_that_always_fails_is_failed_after_max_retries(
    session: PerChatSession, chats: list[int], caplog: pytest.LogCaptureFixture, max_retries: int
) -> None:
    for _ in range(10):
        session.fail(3, 502, BAD_GATEWAY)
    with caplog.at_level(logging.WARNING, logger="tt_storage"):
        result = await broadcast(
            session.bot(), send, rate=FAST, max_retries=max_retries, retry_delay=QUICK
        )
    assert result == BroadcastResult(sent=5, failed=1, last_chat_id=6)
    assert session.sent_to().count(3) == 1 + max_retries
    failed = [r.getMessage() for r in caplog.records if "chat 3 failed" in r.getMessage()]
    assert len(failed) == 1 and BAD_GATEWAY in failed[0], failed


async def test_permanent_errors_are_not_retried(session: PerChatSession, chats: list[int]) -> None:
    session.fail(2, 400, "Bad Request: chat not found")
    session.fail(4, 413, "Request Entity Too Large")  # a TelegramNetworkError, but permanent
    result = await broadcast(session.bot(), send, rate=FAST, retry_delay=QUICK)
    assert result == BroadcastResult(sent=4, failed=2, last_chat_id=6)
    assert sorted(session.sent_to()) == chats


async def test_the_backoff_doubles(session: PerChatSession, chats: list[int]) -> None:
    for _ in range(3):
        session.fail(1, 502, BAD_GATEWAY)
    result = await broadcast(session.bot(), send, rate=FAST, max_retries=3, retry_delay=0.05)
    assert result.sent == 6
    times = [t for t, chat in session.times if chat == 1]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Waits of 0.05, 0.1, 0.2 s: each at least its delay, and each longer than the one before.
    assert len(gaps) == 3 and all(g >= d for g, d in zip(gaps, (0.05, 0.1, 0.2), strict=True))


async def test_rejects_a_bad_retry_delay(session: PerChatSession) -> None:
    value: Any  # wrong types on purpose
    for value in (-1, "1", True, float("nan")):
        with pytest.raises(ValueError):
            await broadcast(session.bot(), send, retry_delay=value)


# --- stopping and resuming: what last_chat_id guarantees ----------------------------------------


class SlowAnswer:
    """A send that reaches Telegram for ``chat`` (the fake server has answered it), then waits for
    the answer until ``release`` is set: a request in flight when the broadcast is stopped."""

    def __init__(self, chat: int) -> None:
        self.chat = chat
        self.in_flight = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, bot: Bot, chat_id: int) -> None:
        await send(bot, chat_id)
        if chat_id == self.chat and not self.release.is_set():
            self.in_flight.set()
            await self.release.wait()


def _duplicates(session: PerChatSession) -> list[int]:
    """Chats that got the message more than once."""
    return sorted(chat for chat, n in Counter(session.delivered).items() if n > 1)


async def test_cancel_lets_the_send_in_flight_finish_and_a_resume_sends_nothing_twice(
    session: PerChatSession, chats: list[int]
) -> None:
    saved: list[BroadcastResult] = []
    slow = SlowAnswer(4)
    run = asyncio.create_task(
        broadcast(session.bot(), slow, rate=FAST, progress=saved.append, progress_every=1)
    )
    await slow.in_flight.wait()
    run.cancel()  # while chat 4's message is on its way
    await asyncio.sleep(0.01)
    slow.release.set()  # its answer arrives: chat 4 is done
    with pytest.raises(asyncio.CancelledError):
        await run
    assert saved[-1] == BroadcastResult(sent=4, last_chat_id=4)
    assert session.sent_to() == [1, 2, 3, 4]  # nothing started after the cancel

    result = await broadcast(session.bot(), send, rate=FAST, start_after=saved[-1].last_chat_id)
    assert result == BroadcastResult(sent=2, last_chat_id=6)
    assert session.delivered == chats and _duplicates(session) == []


async def test_a_forced_stop_repeats_at_most_the_send_it_abandoned(
    session: PerChatSession, chats: list[int]
) -> None:
    """A second cancel does not wait for the answer: that chat's outcome is unknown, so it is
    not done, and a resume sends to it again (the documented one duplicate per resume)."""
    saved: list[BroadcastResult] = []
    slow = SlowAnswer(4)
    run = asyncio.create_task(
        broadcast(session.bot(), slow, rate=FAST, progress=saved.append, progress_every=1)
    )
    await slow.in_flight.wait()
    run.cancel()
    await asyncio.sleep(0.01)
    run.cancel()  # stop now
    with pytest.raises(asyncio.CancelledError):
        await run
    assert saved[-1] == BroadcastResult(sent=3, last_chat_id=3)
    slow.release.set()
    await broadcast(session.bot(), send, rate=FAST, start_after=saved[-1].last_chat_id)
    assert sorted(set(session.delivered)) == chats and _duplicates(session) == [4]


async def test_the_last_report_comes_when_the_run_stops(
    session: PerChatSession, chats: list[int]
) -> None:
    """Cancelled between reports: a final one tells where to resume (not the last multiple of
    ``progress_every``, which would send chats 1-3 twice)."""
    saved: list[BroadcastResult] = []
    slow = SlowAnswer(4)
    run = asyncio.create_task(
        broadcast(session.bot(), slow, rate=FAST, progress=saved.append, progress_every=100)
    )
    await slow.in_flight.wait()
    run.cancel()
    await asyncio.sleep(0.01)
    slow.release.set()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert saved == [BroadcastResult(sent=4, last_chat_id=4)]


async def test_with_concurrency_a_resume_repeats_at_most_concurrency_minus_one_chats(
    session: PerChatSession, db: asyncpg.Connection
) -> None:
    """Chat 2 waits out a long backoff; the other workers may finish chats after it, but only
    within a window of ``concurrency`` chats, so a resume from ``last_chat_id`` (= 1) repeats at
    most ``concurrency - 1`` of them."""
    chats = await _register(12)
    session.fail(2, 502, BAD_GATEWAY)
    saved: list[BroadcastResult] = []
    run = asyncio.create_task(
        broadcast(
            session.bot(),
            send,
            rate=FAST,
            concurrency=3,
            retry_delay=60,
            progress=saved.append,
            progress_every=1,
        )
    )
    await until(lambda: {3, 4} <= set(session.sent_to()))
    await asyncio.sleep(0.1)  # room for the other workers to run ahead, were they allowed to
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert saved[-1].last_chat_id == 1
    assert sorted(session.sent_to()) == [1, 2, 3, 4]
    await broadcast(session.bot(), send, rate=FAST, start_after=saved[-1].last_chat_id)
    assert sorted(set(session.delivered)) == chats
    assert _duplicates(session) == [3, 4]  # finished after the oldest unfinished: c - 1 = 2


class FlakyBotApi:
    """A Bot API server on localhost for aiogram's real ``AiohttpSession``: each chat in
    ``first`` gets that answer on its first ``sendMessage``, every other call succeeds."""

    def __init__(self, first: dict[int, str]) -> None:
        self.first = dict(first)
        self.attempts: Counter[int] = Counter()
        self.delivered: Counter[int] = Counter()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        chat = int((await request.post())["chat_id"])  # type: ignore[arg-type]
        self.attempts[chat] += 1
        answer = self.first.pop(chat, "ok")
        if answer == "html 502":  # a proxy in front of the API, e.g. nginx
            body = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return web.Response(status=502, text=body, content_type="text/html")
        if answer == "json 502":
            error = {"ok": False, "error_code": 502, "description": BAD_GATEWAY}
            return web.json_response(error, status=502)
        if answer == "reset":  # the connection drops before any answer
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        self.delivered[chat] += 1
        message = {"message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"}}
        if answer == "bad result":  # sent, but the answer does not parse as a Message
            message = {"unexpected": True}
        return web.json_response({"ok": True, "result": message})

    async def __aenter__(self) -> Bot:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        api = TelegramAPIServer.from_base(f"http://127.0.0.1:{self.port}")
        self.bot = Bot(TOKEN, session=AiohttpSession(api=api))
        return self.bot

    async def __aexit__(self, *_: object) -> None:
        await self.bot.session.close()
        assert self.runner is not None
        await self.runner.cleanup()


async def test_transient_errors_through_aiograms_own_http_session(chats: list[int]) -> None:
    """Over real HTTP: a proxy's HTML 502, a dropped connection and Telegram's JSON 502 are
    retried; a 200 whose result does not parse was delivered, so it is not retried."""
    api = FlakyBotApi({2: "html 502", 3: "reset", 4: "json 502", 5: "bad result"})
    async with api as bot:
        result = await broadcast(bot, send, rate=FAST, retry_delay=QUICK)
    assert result == BroadcastResult(sent=5, failed=1, last_chat_id=6)
    assert dict(api.delivered) == dict.fromkeys(chats, 1)
    assert dict(api.attempts) == {1: 1, 2: 2, 3: 2, 4: 2, 5: 1, 6: 1}


async def test_an_error_stop_also_lets_the_other_sends_in_flight_finish(
    session: PerChatSession, chats: list[int]
) -> None:
    saved: list[BroadcastResult] = []
    slow = SlowAnswer(2)
    session.fail(3, 401, "Unauthorized")
    run = asyncio.create_task(
        broadcast(
            session.bot(),
            slow,
            rate=FAST,
            concurrency=2,
            progress=saved.append,
            progress_every=100,
        )
    )
    await until(lambda: 3 in session.sent_to())  # the 401 came while chat 2 was in flight
    slow.release.set()
    with pytest.raises(TelegramUnauthorizedError):
        await run
    assert saved == [BroadcastResult(sent=2, last_chat_id=2)]
    await broadcast(session.bot(), send, rate=FAST, start_after=2)
    assert sorted(session.delivered) == chats  # every chat exactly once
