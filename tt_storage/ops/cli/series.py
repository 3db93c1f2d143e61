"""``tt-storage series``: new chats or downloads per hour or day, as a bar plot, JSON or a PNG."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from ...services import analytics
from .common import EXIT_OK, EXIT_USAGE, connected
from .output import render_series

PERIODS = analytics.PERIODS


def period_seconds(text: str) -> int:
    """``24h``/``week``/``month``/``all`` or a number of seconds."""
    if text in PERIODS:
        return PERIODS[text]
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(
        f"period must be one of {', '.join(PERIODS)} or seconds, not {text!r}"
    )


def period_name(seconds: int) -> str:
    for name, value in PERIODS.items():
        if value == seconds:
            return name
    return f"{seconds} s"


WHAT = {
    "users": "new chats",
    "videos": "video downloads",
    "music": "music downloads",
    "active": "active chats",
    "returning": "returning chats",
}


def default_bucket(kind: str, period: int) -> str:
    """Hours up to a day (25 rows), else days (a week: 8 rows, not 169); active chats are
    recorded per day only."""
    if kind in analytics.DAILY_KINDS:
        return "day"
    return "hour" if 0 < period <= PERIODS["24h"] else "day"


async def cmd_series(args: argparse.Namespace, out: TextIO) -> int:
    bucket = args.bucket or default_bucket(args.kind, args.period)
    async with connected(args.url):
        series = await analytics.get_time_series(args.kind, args.period, bucket)
    what = WHAT[args.kind]
    window = "all time" if args.period == 0 else f"last {period_name(args.period)}"
    title = f"{what} per {bucket} (UTC), {window}"
    if args.json:
        json.dump(
            {
                "kind": args.kind,
                "bucket": bucket,
                "period": args.period,
                "series": [[t, n] for t, n in series],
            },
            out,
            indent=1,
        )
        out.write("\n")
    else:
        out.write(render_series(series, bucket, args.width, title) + "\n")
    if args.png:
        try:
            save_png(series, bucket, title, args.png)
        except ImportError:
            print(
                "tt-storage: --png needs matplotlib, which is not installed "
                "(pip install 'tt-storage[plot]' or pip install matplotlib); "
                "the plot above needs nothing",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(f"wrote {args.png}", file=sys.stderr)
    return EXIT_OK


def save_png(series: Sequence[tuple[int, int]], bucket: str, title: str, path: str) -> None:
    """A bar chart of ``series`` as a PNG (matplotlib, imported only here)."""

    matplotlib = importlib.import_module("matplotlib")  # optional: not a dependency
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")

    times = [dt.datetime.fromtimestamp(t, dt.UTC) for t, _ in series]
    counts = [n for _, n in series]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = dt.timedelta(seconds=analytics.BUCKETS[bucket] * 0.9)
    ax.bar(times, counts, width=width, align="edge")
    ax.set_title(title)
    ax.set_ylabel("count")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "series", parents=[common], help="new chats, downloads or active chats per hour/day"
    )
    p.add_argument("--kind", choices=analytics.SERIES_KINDS, default="videos")
    p.add_argument(
        "--period",
        type=period_seconds,
        default=PERIODS["month"],
        help="24h, week, month, all, or seconds (default: month)",
    )
    p.add_argument(
        "--bucket",
        choices=tuple(analytics.BUCKETS),
        help="default: hour up to 24 h, else day (active/returning: always day)",
    )
    p.add_argument("--width", type=int, default=50, help="bar width in characters")
    p.add_argument("--png", metavar="FILE", help="also save a bar chart (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="the points as JSON instead of a plot")
    p.set_defaults(run=cmd_series)
