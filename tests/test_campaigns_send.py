"""Campaign workers against the fake Bot API server (aiogram's real HTTP session): every
reachable chat gets exactly one message, Telegram's errors are handled as in ``broadcast``,
the rate is the bot's across workers and processes, a killed worker's chunk is resumed, and
pause/resume/cancel hold while workers run."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiogram import Bot, Dispatcher

from tests.test_campaigns_db import add_chats
from tt_storage.admin.campaigns import CampaignWorker, setup_campaign_workers
from tt_storage.ops import cli as cli_module
from tt_storage.services import campaigns as c
from tt_storage.testing import FakeTelegram, updates

ROOT = Path(__file__).resolve().parents[1]
ADMIN_CHAT, POST = 999, 5
#: Private chats of the three-process run (plus 100 groups): 3,000 in the suite; the figures in
#: docs/SCALING.md come from TT_STORAGE_TEST_CAMPAIGN_CHATS=20000.
N_CHATS = int(os.environ.get("TT_STORAGE_TEST_CAMPAIGN_CHATS", "3000"))


@pytest.fixture
async def cdb(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(
        "TRUNCATE tt_storage_campaigns, tt_storage_campaign_chunks, tt_storage_bot_budget"
    )
    return db


def prepare_post(telegram: FakeTelegram) -> None:
    """The prepared post the campaign copies, in the admin's chat."""
    telegram.remember(updates.message(ADMIN_CHAT, "Big news!", message_id=POST))


def received(telegram: FakeTelegram) -> Counter[int]:
    """Chats that received the campaign's message (a successful copyMessage each)."""
    return Counter(int(r.params["chat_id"]) for r in telegram.calls("copyMessage") if r.ok)


@contextlib.asynccontextmanager
async def workers(bot: Bot, n: int, **options: Any) -> AsyncIterator[list[CampaignWorker]]:
    made = [CampaignWorker(bot, poll=0.1, lease=2.0, retry_delay=0.01, **options) for _ in range(n)]
    tasks = [asyncio.create_task(w.run()) for w in made]
    try:
        yield made
    finally:
        for w in made:
            w.stop()
        await asyncio.gather(*tasks)


async def until_state(campaign: int, *states: str, within: float = 60.0) -> c.CampaignStatus:
    deadline = time.monotonic() + within
    while True:
        status = await c.get_campaign(campaign)
        assert status is not None
        if status.state in states:
            return status
        assert time.monotonic() < deadline, f"campaign still {status.state}: {status}"
        await asyncio.sleep(0.05)


async def test_every_reachable_chat_gets_one_message(
    cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    prepare_post(telegram)
    await add_chats(cdb, range(1, 301))
    await add_chats(cdb, [-10, -11])
    blocked = [7, 8, 9]
    for chat in blocked:
        telegram.block(chat)
    telegram.migrate(-10, -1000000000010)
    telegram.flood(1, method="copyMessage", after=50)  # one 429 for the whole bot
    telegram.server_error(method="copyMessage", after=120)  # one transient 5xx
    campaign = await c.create_campaign(bot.id, copy_from=(ADMIN_CHAT, POST), audience="all")
    async with workers(bot, 2):
        status = await until_state(campaign, "done")
    got = received(telegram)
    reachable = set(range(1, 301)) - set(blocked) | {-1000000000010, -11}
    assert set(got) == reachable and set(got.values()) == {1}
    assert (status.total, status.sent, status.blocked, status.migrated, status.failed) == (
        302,
        299,
        3,
        1,
        0,
    )
    assert status.processed == status.total
    marked = await cdb.fetch("SELECT user_id FROM users WHERE blocked_at IS NOT NULL")
    assert sorted(r[0] for r in marked) == blocked
    assert await cdb.fetchval("SELECT count(*) FROM users WHERE user_id = -1000000000010") == 1


async def test_a_registered_sender(
    cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    await add_chats(cdb, range(1, 21))

    async def promo(bot: Bot, chat_id: int) -> None:
        await bot.send_message(chat_id, "Promo!")

    campaign = await c.create_campaign(bot.id, sender="promo", known_senders={"promo"})
    async with workers(bot, 1, senders={"promo": promo}):
        status = await until_state(campaign, "done")
    assert status.sent == 20 and sorted(telegram.texts()) == ["Promo!"] * 20


async def test_a_source_that_is_gone_fails_the_campaign(
    cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    await add_chats(cdb, range(1, 3_001))
    campaign = await c.create_campaign(bot.id, copy_from=(ADMIN_CHAT, 12345))  # no such post
    async with workers(bot, 2):
        status = await until_state(campaign, "failed")
    assert status.error is not None and "message to copy not found" in status.error
    await asyncio.sleep(0.3)
    # Each chunk loop stops at its first refusal: a handful of attempts, not 3,000.
    assert len(telegram.calls("copyMessage")) <= 2 * 4


async def test_an_unknown_sender_fails_the_campaign(
    cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    await add_chats(cdb, range(1, 11))
    campaign = await c.create_campaign(bot.id, sender="renamed")
    async with workers(bot, 1, senders={"promo": lambda b, chat: b.send_message(chat, "x")}):
        status = await until_state(campaign, "failed")
    assert status.error is not None and "unknown sender 'renamed'" in status.error
    assert telegram.calls("sendMessage") == []


async def test_pause_resume_cancel_while_workers_run(
    cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    prepare_post(telegram)
    await add_chats(cdb, range(1, 3_001))
    campaign = await c.create_campaign(bot.id, copy_from=(ADMIN_CHAT, POST), rate=200)
    async with workers(bot, 3):
        await asyncio.sleep(1.0)
        assert await c.pause_campaign(campaign)
        paused_at = len(received(telegram))
        await asyncio.sleep(1.0)
        during_pause = len(received(telegram)) - paused_at
        assert await c.resume_campaign(campaign)
        await asyncio.sleep(1.0)
        assert len(received(telegram)) > paused_at + during_pause
        started = time.monotonic()
        assert await c.cancel_campaign(campaign)
        cancelled_at = len(received(telegram))
        await asyncio.sleep(1.0)
        after_cancel = len(received(telegram)) - cancelled_at
    print(f"\nsent in the second after pause: {during_pause}, after cancel: {after_cancel}")
    # What was in flight when the state changed (one message a chunk loop) may still land.
    assert during_pause <= 3 * 4 and after_cancel <= 3 * 4
    status = await c.get_campaign(campaign)
    assert status is not None and status.state == "cancelled" and status.processed < 3_000
    assert set(received(telegram).values()) == {1}
    assert time.monotonic() - started < 5


def spawn(db_url: str, telegram: FakeTelegram, token: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.campaign_worker", db_url, telegram.url, token],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def wait_ready(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert p.stdout is not None
        line = await asyncio.to_thread(p.stdout.readline)
        assert line.strip() == "ready", line


def go(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()


async def finish(procs: list[subprocess.Popen[str]], within: float = 180) -> None:
    for p in procs:
        assert await asyncio.to_thread(p.wait, within) == 0


async def mixed_audience(cdb: asyncpg.Connection, telegram: FakeTelegram, n: int) -> set[int]:
    """``n`` private chats and 100 groups with 403s, migrations, 429s and 5xx mixed in; the
    chats that can receive the message (a migrated group by its new id)."""
    prepare_post(telegram)
    await add_chats(cdb, range(1, n + 1))
    groups = list(range(-100, 0))
    await add_chats(cdb, groups)
    blocked = set(range(17, n, 401))
    for chat in blocked:
        telegram.block(chat)
    migrated = {g: g - 1_000_000_000_000 for g in groups[:10]}
    for old, new in migrated.items():
        telegram.migrate(old, new)
    for after in (n // 5, n // 2):
        telegram.flood(1, method="copyMessage", after=after)
    for after in range(100, n, n // 7):
        telegram.server_error(method="copyMessage", after=after)
    return (set(range(1, n + 1)) - blocked) | set(groups[10:]) | set(migrated.values())


@pytest.mark.slow
async def test_three_processes_share_a_campaign(
    db_url: str, cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    rate = 600.0
    reachable = await mixed_audience(cdb, telegram, N_CHATS)
    procs = [spawn(db_url, telegram, "42:TEST") for _ in range(3)]
    await wait_ready(procs)
    campaign = await c.create_campaign(
        bot.id, copy_from=(ADMIN_CHAT, POST), audience="all", rate=rate
    )
    started = time.monotonic()
    go(procs)
    await finish(procs)
    seconds = time.monotonic() - started
    status = await c.get_campaign(campaign)
    got = received(telegram)
    per_second = telegram.per_second("copyMessage")
    print(
        f"\n{N_CHATS + 100} chats, 3 processes: {seconds:.1f} s, {status}, busiest second "
        f"{max(per_second)} (calendar) / {telegram.max_per_second('copyMessage')} (sliding)"
    )
    assert status is not None and status.state == "done"
    assert set(got) == reachable and set(got.values()) == {1}
    assert status.sent == len(reachable) and status.processed == status.total == N_CHATS + 100
    assert (status.blocked, status.migrated, status.failed, status.skipped) == (
        len(range(17, N_CHATS, 401)),
        10,
        0,
        0,
    )
    # Requests of every kind (429s and 5xx included) count against Telegram's limit.
    assert max(per_second[1:-1]) <= rate * 1.02


@pytest.mark.slow
async def test_a_killed_worker_loses_nothing(
    db_url: str, cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    reachable = await mixed_audience(cdb, telegram, 3_000)
    campaign = await c.create_campaign(
        bot.id, copy_from=(ADMIN_CHAT, POST), audience="all", rate=300
    )
    procs = [spawn(db_url, telegram, "42:TEST") for _ in range(3)]
    await wait_ready(procs)
    go(procs)
    await until_sent(telegram, 800)
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    await until_sent(telegram, 1_600)
    for p in procs[1:]:  # the whole fleet restarted
        p.send_signal(signal.SIGKILL)
        p.wait()
    restarted = [spawn(db_url, telegram, "42:TEST") for _ in range(3)]
    await wait_ready(restarted)
    go(restarted)
    await finish(restarted)
    status = await c.get_campaign(campaign)
    got = received(telegram)
    twice = sum(n - 1 for n in got.values())
    print(f"\n3,100 chats, 3 workers killed (1, then 2): {twice} chats got the message twice")
    assert status is not None and status.state == "done"
    assert set(got) == reachable  # nothing skipped
    # At most the messages in flight in the killed workers: 4 chunk loops each.
    assert twice <= 3 * 4


async def until_sent(telegram: FakeTelegram, n: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while len(received(telegram)) < n:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def cli_worker(db_url: str, telegram: FakeTelegram) -> subprocess.Popen[str]:
    """``tt-storage broadcast work`` as its own process, on the fake server."""
    return subprocess.Popen(
        [sys.executable, "-m", "tt_storage.ops.cli", "--url", db_url, "broadcast", "work",
         "--token", "42:TEST", "--api", telegram.url],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


async def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = await cli_module.run(list(argv), out)
    return status, out.getvalue()


async def test_the_cli_starts_controls_and_works_a_campaign(
    db_url: str, cdb: asyncpg.Connection, telegram: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_post(telegram)
    await add_chats(cdb, range(1, 51))
    assert (await cli("broadcast", "start", "--url", db_url, "--bot-id", "42", "--copy", "1:2"))[
        0
    ] == 0  # a campaign of another post, then cancelled
    first = (await c.list_campaigns(42))[0].id
    assert await cli("broadcast", "cancel", "--url", db_url, str(first)) == (
        0,
        f"campaign {first}: cancelled\n",
    )
    status, text = await cli(
        "broadcast", "start", "--url", db_url, "--bot-id", "42", "--copy", f"{ADMIN_CHAT}:{POST}",
        "--rate", "100",
    )  # fmt: skip
    assert status == 0 and text.endswith("running, 50 chats at 100/s\n"), text
    campaign = (await c.list_campaigns(42))[0].id
    assert (await cli("broadcast", "pause", "--url", db_url, str(campaign)))[0] == 0
    assert (await cli("broadcast", "pause", "--url", db_url, str(campaign)))[0] == 1
    assert "is paused" in capsys.readouterr().err
    assert (await cli("broadcast", "resume", "--url", db_url, str(campaign)))[0] == 0
    assert (await cli("broadcast", "start", "--url", db_url, "--bot-id", "42", "--copy", "1:2",
                      "--rate", "0"))[0] == 2  # fmt: skip
    assert "rate must be above 0" in capsys.readouterr().err
    worker = cli_worker(db_url, telegram)
    try:
        await until_state(campaign, "done", within=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0
    assert set(received(telegram)) == set(range(1, 51))
    status, text = await cli("broadcast", "status", "--url", db_url, "--json", str(campaign))
    shown = json.loads(text)
    assert (shown["state"], shown["total"], shown["sent"]) == ("done", 50, 50)
    status, text = await cli("broadcast", "list", "--url", db_url)
    assert status == 0 and re.search(rf"^{campaign}\s+done\s", text, re.M), text
    assert re.search(rf"^{first}\s+cancelled\s", text, re.M), text


async def test_a_dispatcher_runs_workers_from_startup_to_shutdown(
    cdb: asyncpg.Connection, telegram: FakeTelegram, bot: Bot
) -> None:
    with pytest.raises(ValueError, match="lease"):
        setup_campaign_workers(Dispatcher(), lease=0)
    with pytest.raises(TypeError, match="speed"):
        setup_campaign_workers(Dispatcher(), speed=3)
    prepare_post(telegram)
    await add_chats(cdb, range(1, 31))
    dp = Dispatcher()
    running = setup_campaign_workers(dp, poll=0.1)
    await dp.emit_startup(bot=bot)
    try:
        campaign = await c.create_campaign(bot.id, copy_from=(ADMIN_CHAT, POST))
        await until_state(campaign, "done")
        assert list(running) == [bot.id]
    finally:
        await dp.emit_shutdown()
    assert set(received(telegram)) == set(range(1, 31))
