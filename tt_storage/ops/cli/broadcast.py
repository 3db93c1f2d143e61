"""``tt-storage broadcast``: campaigns — start, status (with a progress bar), pause, resume,
cancel, list, and ``work``, a worker process that sends them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from ...services import campaigns
from .common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, connected
from .output import ProgressBar, fmt_utc, render_table

#: The bot token ``broadcast work`` sends with, when ``--token`` is not given.
TOKEN_ENV = "BOT_TOKEN"


def _when(value: str) -> float:
    """``--at``: epoch seconds or an ISO time (UTC unless it names its zone)."""
    try:
        return float(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _copy(value: str) -> tuple[int, int]:
    chat, _, message = value.partition(":")
    try:
        return int(chat), int(message)
    except ValueError:
        raise argparse.ArgumentTypeError("--copy is CHAT_ID:MESSAGE_ID, e.g. -1001234:56") from None


def _describe(s: campaigns.CampaignStatus) -> dict[str, Any]:
    return {
        "id": s.id,
        "bot_id": s.bot_id,
        "name": s.name,
        "state": s.state,
        "total": s.total,
        "sent": s.sent,
        "blocked": s.blocked,
        "migrated": s.migrated,
        "failed": s.failed,
        "skipped": s.skipped,
        "rate": s.rate,
        "throughput": round(s.throughput(), 2),
        "eta_seconds": None if s.eta() is None else round(s.eta() or 0),
        "workers": s.leased,
        "error": s.error,
    }


async def _start(args: argparse.Namespace, out: TextIO) -> int:
    try:
        campaign = await campaigns.create_campaign(
            args.bot_id,
            copy_from=args.copy,
            sender=args.sender,
            audience=args.audience,
            languages=args.lang.split(",") if args.lang else None,
            rate=args.rate,
            start_at=args.at,
            name=args.name,
        )
    except (TypeError, ValueError) as exc:
        print(f"tt-storage broadcast start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    status = await campaigns.get_campaign(campaign)
    assert status is not None
    print(
        f"campaign {campaign}: {status.state}, {status.total:,} chats at {status.rate:g}/s",
        file=out,
    )
    return EXIT_OK


async def _status(args: argparse.Namespace, out: TextIO) -> int:
    status = await campaigns.get_campaign(args.campaign)
    if status is None:
        print(f"tt-storage broadcast: no campaign {args.campaign}", file=sys.stderr)
        return EXIT_PROBLEM
    if args.json:
        print(json.dumps(_describe(status)), file=out)
        return EXIT_OK
    bar = ProgressBar(f"campaign {status.id}")
    while args.watch and status.state in ("scheduled", "running", "paused"):
        bar.update(status.processed, status.total or None, _note(status))
        await asyncio.sleep(1)
        status = await campaigns.get_campaign(args.campaign) or status
    bar.finish(status.processed, _note(status))
    print(render_table(list(_describe(status)), [[str(v) for v in _describe(status).values()]]))
    return EXIT_OK


def _note(s: campaigns.CampaignStatus) -> str:
    eta = s.eta()
    left = "" if eta is None else f", about {eta / 60:.0f} min left"
    return f"{s.state}, {s.throughput():.1f}/s{left}"


async def _control(args: argparse.Namespace, out: TextIO) -> int:
    act = {
        "pause": campaigns.pause_campaign,
        "resume": campaigns.resume_campaign,
        "cancel": campaigns.cancel_campaign,
    }[args.action]
    if not await act(args.campaign):
        status = await campaigns.get_campaign(args.campaign)
        state = "does not exist" if status is None else f"is {status.state}"
        print(
            f"tt-storage broadcast {args.action}: campaign {args.campaign} {state}", file=sys.stderr
        )
        return EXIT_PROBLEM
    done = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[args.action]
    print(f"campaign {args.campaign}: {done}", file=out)
    return EXIT_OK


async def _list(args: argparse.Namespace, out: TextIO) -> int:
    listed = await campaigns.list_campaigns(args.bot_id, args.limit)
    header = ["id", "state", "bot", "name", "total", "sent", "blocked", "failed", "created"]
    rows = [
        [
            s.id,
            s.state,
            s.bot_id,
            s.name,
            s.total,
            s.sent,
            s.blocked,
            s.failed,
            fmt_utc(s.created_at, "hour"),
        ]
        for s in listed
    ]
    print(render_table(header, [[str(v) for v in r] for r in rows]), file=out)
    return EXIT_OK


def _senders(spec: str | None) -> dict[str, Any]:
    """``--senders module:NAME``: a mapping of sender names to callables in an importable
    module (the same one the bot registers)."""
    if not spec:
        return {}
    module, _, attr = spec.partition(":")
    found = getattr(importlib.import_module(module), attr or "SENDERS")
    return dict(found)


async def _work(args: argparse.Namespace, out: TextIO) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"tt-storage broadcast work: give --token or set {TOKEN_ENV}", file=sys.stderr)
        return EXIT_USAGE
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from ...admin.campaigns import CampaignWorker

    session = AiohttpSession(api=TelegramAPIServer.from_base(args.api)) if args.api else None
    bot = Bot(token, session=session)
    worker = CampaignWorker(bot, senders=_senders(args.senders), concurrency=args.concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, worker.stop)
    print(f"worker {worker.name}: sending the campaigns of bot {bot.id}", file=sys.stderr)
    started = time.monotonic()
    try:
        await worker.run()
    finally:
        await bot.session.close()
    print(f"worker stopped after {time.monotonic() - started:.0f} s", file=out)
    return EXIT_OK


async def cmd_broadcast(args: argparse.Namespace, out: TextIO) -> int:
    # A worker's chunk loops each need a connection at times; the other actions one.
    size = args.concurrency + 1 if args.action == "work" else 2
    async with connected(args.url, max_size=size):
        run = {"start": _start, "status": _status, "list": _list, "work": _work}.get(
            args.action, _control
        )
        return await run(args, out)


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("broadcast", parents=[common], help="broadcast campaigns and their workers")
    actions = p.add_subparsers(dest="action", required=True, metavar="action")
    start = actions.add_parser("start", parents=[common], help="create a campaign")
    start.add_argument("--bot-id", type=int, required=True, help="the bot's id (its token's head)")
    source = start.add_mutually_exclusive_group(required=True)
    source.add_argument("--copy", type=_copy, help="CHAT_ID:MESSAGE_ID of the post to copy")
    source.add_argument("--sender", help="a sender name every worker registers")
    start.add_argument("--audience", choices=("private", "all"), default="private")
    start.add_argument("--lang", help="only these languages, e.g. en,ru")
    start.add_argument("--rate", type=float, default=25.0, help="messages/s for the bot")
    start.add_argument("--at", type=_when, help="start time: epoch seconds or ISO (default: now)")
    start.add_argument("--name", default="", help="a label for lists")
    for action, text in (
        ("status", "progress and counts"),
        ("pause", "stop sending until resumed"),
        ("resume", "go on"),
        ("cancel", "stop for good"),
    ):
        q = actions.add_parser(action, parents=[common], help=text)
        q.add_argument("campaign", type=int)
        if action == "status":
            q.add_argument("--watch", action="store_true", help="a progress bar until it ends")
            q.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", parents=[common], help="the newest campaigns")
    listing.add_argument("--bot-id", type=int)
    listing.add_argument("--limit", type=int, default=20)
    work = actions.add_parser("work", parents=[common], help="send campaigns until stopped")
    work.add_argument("--token", help=f"the bot token (default: ${TOKEN_ENV})")
    work.add_argument("--api", help="a Bot API server's base URL (default: Telegram's)")
    work.add_argument("--senders", help="module:NAME of a mapping of sender names to callables")
    work.add_argument("--concurrency", type=int, default=4, help="chunks sent at once")
    p.set_defaults(run=cmd_broadcast)
