"""``tt-storage media``: the media cache — ``prune --unused-for 90d`` (with progress) and
``top`` (the most used media)."""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import TextIO

from ...services import media, media_stats
from .common import EXIT_OK, connected, shown_url
from .output import ProgressBar, render_table

#: Seconds per unit of a ``--unused-for`` duration.
UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(\d+)([smhdw])")


def duration(text: str) -> int:
    """``90d``, ``12h``, ``2w``, ``45m``, ``30s`` (or a bare number of seconds) in seconds."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    found = _DURATION.fullmatch(text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a number and one of s, m, h, d, w (e.g. 90d)"
        )
    return int(found.group(1)) * UNITS[found.group(2)]


async def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    progress = ProgressBar("prune")
    async with connected(args.url):
        before = await media_stats.get_cache_size()
        progress.update(0, before.entries, force=True)
        deleted = await media.prune_media(
            args.unused_for,
            batch=args.batch,
            progress=lambda done: progress.update(done, note="entries deleted"),
        )
        progress.finish(deleted, note="entries deleted")
        after = await media_stats.get_cache_size()
    out.write(
        f"pruned {deleted:,} media entries unused for {args.unused_for:,} s from"
        f" {shown_url(args.url)}: {after.entries:,} entries and {after.file_sets:,} file sets"
        f" left ({after.bytes / 2**20:,.1f} MB)\n"
    )
    return EXIT_OK


async def cmd_top(args: argparse.Namespace, out: TextIO) -> int:
    async with connected(args.url):
        top = await media_stats.get_top_media(args.limit, period=args.period)
    if args.json:
        rows = [{"media_id": m.media_id, "key": m.key, "uses": m.uses, "hits": m.hits} for m in top]
        json.dump({"generated_at": int(time.time()), "top": rows}, out, indent=2)
        out.write("\n")
        return EXIT_OK
    window = "all time" if args.period == 0 else f"the last {args.period:,} s"
    out.write(f"Top media by use, {window}, of {shown_url(args.url)}\n\n")
    table = [
        (
            m.key or "(pruned)",
            str(m.media_id),
            f"{m.uses:,}",
            "" if m.hits is None else f"{m.hits:,}",
        )
        for m in top
    ]
    out.write(render_table(("key", "id", "uses", "hits"), table) + "\n")
    return EXIT_OK


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("media", help="the media cache: prune unused entries, top media")
    actions = p.add_subparsers(dest="action", required=True, metavar="action")
    prune = actions.add_parser(
        "prune", parents=[common], help="delete entries unused for a while, in small batches"
    )
    prune.add_argument(
        "--unused-for", type=duration, required=True, help="e.g. 90d, 12h, 2w (s, m, h, d, w)"
    )
    prune.add_argument("--batch", type=int, default=1000, help="entries per statement")
    prune.set_defaults(run=cmd_prune)
    top = actions.add_parser("top", parents=[common], help="the most used media")
    top.add_argument("--limit", type=int, default=10)
    top.add_argument(
        "--period", type=duration, default=0, help="the last this long (default: all time)"
    )
    top.add_argument("--json", action="store_true", help="machine-readable output")
    top.set_defaults(run=cmd_top)
