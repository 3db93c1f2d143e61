"""``tt-storage forget CHAT_ID --yes``: remove every row tt-storage keeps for one chat."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TextIO

from ...services.privacy import forget_chat
from .common import EXIT_OK, EXIT_USAGE, connected, shown_url


async def cmd_forget(args: argparse.Namespace, out: TextIO) -> int:
    if not args.yes:
        print(
            f"tt-storage forget: this deletes chat {args.chat_id}'s settings, downloads, music,"
            f" active days, FSM rows and migration records in {shown_url(args.url)}, for good;"
            " run it again with --yes to do so",
            file=sys.stderr,
        )
        return EXIT_USAGE
    async with connected(args.url):
        result = await forget_chat(args.chat_id)
    if args.json:
        json.dump({"chat_id": args.chat_id, **asdict(result), "total": result.total}, out)
        out.write("\n")
    elif result.total == 0:
        out.write(f"chat {args.chat_id}: nothing stored, nothing removed\n")
    else:
        counts = ", ".join(f"{n:,} {kind}" for kind, n in asdict(result).items() if n)
        out.write(f"chat {args.chat_id} forgotten: {counts} (rows removed)\n")
    return EXIT_OK


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "forget", parents=[common], help="delete every row of one chat (a deletion request)"
    )
    p.add_argument("chat_id", type=int, help="the chat (a user's id, or a group's negative id)")
    p.add_argument("--yes", action="store_true", help="do it (without: say what it would do)")
    p.add_argument("--json", action="store_true", help="the counts as JSON")
    p.set_defaults(run=cmd_forget)
