"""``tt-storage export``: the chats, or one chat's downloads, as CSV."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ...core import db, sql
from ...services import analytics
from ...services.stats import get_user_stats
from .common import CHAT_TYPES, EXIT_OK, connected
from .output import ProgressBar, output


async def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    async with connected(args.url):
        if args.what == "users":
            estimate = await db.fetch(sql.TABLE_ESTIMATES, ["users"])
            total = estimate[0]["rows"] if estimate else -1
            progress = ProgressBar("chats written", total if total > 0 else None)

            async def run(f: Any) -> int:
                return await analytics.export_users(
                    f, chat_type=args.chat_type, progress=progress.update
                )
        else:
            user, videos, _ = await get_user_stats(args.user_id)
            if user is None and videos == 0:
                print(
                    f"tt-storage: no chat {args.user_id} (the CSV has a header only)",
                    file=sys.stderr,
                )
            progress = ProgressBar(f"downloads of {args.user_id} written", videos or None)

            async def run(f: Any) -> int:
                return await analytics.export_user_history(
                    args.user_id, f, progress=progress.update
                )

        with output(args.output, out) as f:
            n = await run(f)
    progress.finish(n)
    if args.output not in (None, "-"):
        print(f"wrote {n:,} rows to {args.output}", file=sys.stderr)
    return EXIT_OK


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("export", parents=[common], help="CSV of the chats or of one chat's history")
    what = p.add_subparsers(dest="what", required=True, metavar="what")
    users = what.add_parser("users", parents=[common], help="every chat")
    users.add_argument("--chat-type", choices=CHAT_TYPES, default="all")
    users.add_argument("-o", "--output", help="file (default: stdout)")
    history = what.add_parser("history", parents=[common], help="one chat's downloads")
    history.add_argument("user_id", type=int)
    history.add_argument("-o", "--output", help="file (default: stdout)")
    p.set_defaults(run=cmd_export)
