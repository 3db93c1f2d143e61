"""``tt-storage stats``: the quick stats of each window × chat type, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

from ...services import analytics
from .common import CHAT_TYPES, EXIT_OK, connected, shown_url
from .output import ProgressBar, render_table

#: The stats bot's windows.
PERIODS = analytics.PERIODS


#: The counts (``QuickStats`` fields) in ``stats``' table, after the period and the chat type;
#: the table's header.
STATS_COLUMNS = (
    "new_chats",
    "videos",
    "video_chats",
    "images",
    "image_chats",
    "music",
    "music_chats",
    "cache_hits",
    "cache_misses",
)


STATS_HEADER = (
    "period",
    "chats",
    "new chats",
    "videos",
    "(chats)",
    "images",
    "(chats)",
    "music",
    "(chats)",
    "cache hits",
    "misses",
    "hit rate",
)


async def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    periods = stats_periods(args.periods)
    results = await collect_stats(args.url, periods, quiet=args.json)
    if args.json:
        json.dump({"generated_at": int(time.time()), "stats": results}, out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write(
        f"Quick stats of {shown_url(args.url)} at {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}"
        " UTC (all = every chat, users = id > 0, groups = id < 0; 'all' period includes rows"
        " without a timestamp)\n\n"
    )
    out.write(render_table(STATS_HEADER, stats_rows(results)) + "\n")
    out.write(
        "\nActive chats (whole UTC days ending today, 24h = today; retention: of the chats"
        " active in the window as long just before, those active again)\n\n"
    )
    out.write(render_table(ACTIVE_HEADER, active_rows(results)) + "\n")
    return EXIT_OK


def stats_periods(text: str) -> list[str]:
    """``--periods``' names; exits naming the first one that is not a window."""
    periods = [p.strip() for p in text.split(",") if p.strip()]
    for p in periods:
        if p not in PERIODS:
            raise SystemExit(f"tt-storage: unknown period {p!r} (use {', '.join(PERIODS)})")
    return periods


async def collect_stats(
    url: str | None, periods: Sequence[str], quiet: bool = False
) -> list[dict[str, Any]]:
    """The quick stats of each period × chat type, each with its query's time, a bar meanwhile
    (none when ``quiet``)."""
    results: list[dict[str, Any]] = []
    progress = ProgressBar("stats", len(periods) * len(CHAT_TYPES), quiet=quiet)
    async with connected(url):
        for p in periods:
            for chat_type in CHAT_TYPES:
                progress.update(len(results), note=f"{p} {chat_type}")
                t0 = time.perf_counter()
                stats = await analytics.get_quick_stats(PERIODS[p], chat_type)
                results.append(
                    {
                        "period": p,
                        "seconds": PERIODS[p],
                        "chat_type": chat_type,
                        **asdict(stats),
                        "cache_hit_rate": stats.cache_hit_rate,
                        "query_ms": round((time.perf_counter() - t0) * 1000, 1),
                    }
                )
    progress.finish(len(results))
    return results


def stats_rows(results: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The table's rows: the period named on its first chat type only, the counts grouped."""
    return [
        (
            r["period"] if r["chat_type"] == "all" else "",
            r["chat_type"],
            *(f"{r[k]:,}" for k in STATS_COLUMNS),
            "-" if r["cache_hit_rate"] is None else f"{r['cache_hit_rate']:.0%}",
        )
        for r in results
    ]


ACTIVE_HEADER = ("period", "chats", "active", "new", "returning", "retention", "")


def active_rows(results: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The active-chats table: all time has the count only (new/returning mean nothing there)."""
    rows: list[tuple[str, ...]] = []
    for r in results:
        first = (r["period"] if r["chat_type"] == "all" else "", r["chat_type"])
        if r["seconds"] == 0:
            rows.append((*first, f"{r['active_chats']:,}", "-", "-", "-", ""))
            continue
        retention = r["retention"]
        rows.append(
            (
                *first,
                f"{r['active_chats']:,}",
                f"{r['new_active_chats']:,}",
                f"{r['returning_chats']:,}",
                "-" if retention is None else f"{retention:.0%}",
                f"({r['retained_chats']:,}/{r['previous_active_chats']:,})",
            )
        )
    return rows


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("stats", parents=[common], help="quick stats: 24h/week/month/all × chats")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--periods", default=",".join(PERIODS), help="comma-separated (default: %(default)s)"
    )
    p.set_defaults(run=cmd_stats)
