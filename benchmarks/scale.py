"""The admin side at tt-bot scale: ``python -m benchmarks.scale --url …`` on a database filled by
``python -m benchmarks.generate`` (see docs/BENCHMARKS_SCALE.md for the numbers and plans).

Every row is run ``--runs`` times after one warm-up run; the table shows the median, the fastest
and the slowest. The hourly rollup is measured twice: cold (as right after ``aerich upgrade``,
rows counted live) and warm (folded, as it stays once anything reads a series). ``--explain``
prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the heaviest statements.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psutil

import tt_storage as tt
from tt_storage.core import sql
from tt_storage.core.urls import redact_url
from tt_storage.services import analytics

from .database import asyncpg_dsn

DAY = 86_400
MONTH = 2_678_400
WEEK = 604_800

# Benchmark-only reads (sampling ids to look up), parametrized like the library's.
SAMPLE_CHATS = "SELECT user_id FROM users TABLESAMPLE SYSTEM (1) REPEATABLE ($1) LIMIT $2"
HEAVY_CHATS = (
    "SELECT user_id FROM videos TABLESAMPLE SYSTEM (2) REPEATABLE (1)"
    " GROUP BY user_id ORDER BY count(*) DESC LIMIT $1"
)
SIZES = (
    "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)"
    " FROM pg_class c WHERE c.relname IN ('users', 'videos', 'music') ORDER BY c.relname"
)
RESET_ROLLUP = "DELETE FROM tt_storage_hourly_state; DELETE FROM tt_storage_hourly"
SERVER = (
    "SELECT current_setting('server_version'), current_setting('shared_buffers'),"
    " current_setting('work_mem'), current_setting('jit'),"
    " current_setting('max_parallel_workers_per_gather')"
)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}" if seconds < 10 else f"{seconds * 1000:,.0f}"


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, name: str, samples: list[float], target: str = "", note: str = "") -> None:
        med = statistics.median(samples)
        row = {
            "name": name,
            "median_ms": round(med * 1000, 2),
            "min_ms": round(min(samples) * 1000, 2),
            "max_ms": round(max(samples) * 1000, 2),
            "runs": len(samples),
            "target": target,
            "note": note,
        }
        self.rows.append(row)
        print(
            f"  {name:<52} median {ms(med):>9} ms  (min {ms(min(samples))}, "
            f"max {ms(max(samples))}, n={len(samples)}) {target} {note}",
            file=sys.stderr,
            flush=True,
        )

    def markdown(self) -> str:
        out = [
            "| operation | median ms | min ms | max ms | runs | target | note |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        for r in self.rows:
            out.append(
                f"| {r['name']} | {r['median_ms']:,} | {r['min_ms']:,} | {r['max_ms']:,} "
                f"| {r['runs']} | {r['target']} | {r['note']} |"
            )
        return "\n".join(out)


async def timed(fn: Callable[[], Awaitable[Any]], runs: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t0)
    return samples


async def each(fn: Callable[[Any], Awaitable[Any]], items: list[Any]) -> list[float]:
    samples = []
    for item in items:
        t0 = time.perf_counter()
        await fn(item)
        samples.append(time.perf_counter() - t0)
    return samples


async def warm_rollup() -> None:
    """Fold everything now (the settle delay would only make the benchmark wait)."""
    settle, analytics.ROLLUP_SETTLE = analytics.ROLLUP_SETTLE, 0
    try:
        for _ in range(50):
            await tt.admin.refresh_rollup()  # observe, then fold what was observed
            folded = await tt.admin.refresh_rollup()
            if folded == 0:
                return
    finally:
        analytics.ROLLUP_SETTLE = settle


async def stream_ids(limit: int) -> tuple[float, int, float]:
    """Seconds, ids seen, and the peak RSS growth (MB) while streaming ``limit`` ids."""
    proc = psutil.Process()
    base = peak = proc.memory_info().rss
    n = 0
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {"only_positive": False}
    if "include_blocked" in inspect.signature(tt.admin.iter_user_ids).parameters:
        kwargs["include_blocked"] = True  # every chat, blocked ones too: a full 1M
    async for _ in tt.admin.iter_user_ids(**kwargs):
        n += 1
        if n % 5_000 == 0:
            peak = max(peak, proc.memory_info().rss)
        if n >= limit:
            break
    seconds = time.perf_counter() - t0
    peak = max(peak, proc.memory_info().rss)
    return seconds, n, (peak - base) / 2**20


class NullWriter:
    def __init__(self) -> None:
        self.bytes = 0
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss

    def write(self, text: str) -> None:
        self.bytes += len(text)
        self.peak = max(self.peak, self.proc.memory_info().rss)


async def explain(conn: asyncpg.Connection, title: str, statement: str, *args: Any) -> str:
    rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *args)
    plan = "\n".join(r[0] for r in rows)
    return f"### {title}\n\n```\n{plan}\n```\n"


async def run(url: str, runs: int, do_explain: bool, cold: bool) -> dict[str, Any]:
    await tt.init_storage(url, max_size=4)
    table = Table()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    info: dict[str, Any] = {"url": redact_url(url), "load_before": os.getloadavg()}
    try:
        info["server"] = list(await conn.fetchrow(SERVER))
        info["tables"] = [list(r) for r in await conn.fetch(SIZES)]
        print(f"server {info['server']}, tables {info['tables']}", file=sys.stderr)

        # --- quick stats -----------------------------------------------------------------------
        for chat_type in ("all", "users", "groups"):
            table.add(
                f"get_quick_stats(24 h, {chat_type})",
                await timed(functools.partial(tt.admin.get_quick_stats, DAY, chat_type), runs),
                "≤ 100 ms" if chat_type == "all" else "",
            )
        table.add(
            "get_quick_stats(week, all)", await timed(lambda: tt.admin.get_quick_stats(WEEK), runs)
        )
        table.add(
            "get_quick_stats(month, all)",
            await timed(lambda: tt.admin.get_quick_stats(MONTH), max(3, runs // 2)),
        )
        table.add(
            "get_quick_stats(all time, all)",
            await timed(lambda: tt.admin.get_quick_stats(0), max(3, runs // 2)),
            "≤ 2 s",
        )
        table.add(
            "get_quick_stats(all time, groups)",
            await timed(lambda: tt.admin.get_quick_stats(0, "groups"), max(3, runs // 2)),
        )

        # --- series: cold (rows counted live), then warm (rollup folded) -----------------------
        if cold:
            await conn.execute(RESET_ROLLUP)
            budget, analytics.ROLLUP_READ_BUDGET = analytics.ROLLUP_READ_BUDGET, 0
            try:
                table.add(
                    "get_time_series(videos, month, day) — cold rollup",
                    await timed(lambda: tt.admin.get_time_series("videos", MONTH, "day"), 3, 0),
                    "",
                    "no rollup yet: every row counted",
                )
            finally:
                analytics.ROLLUP_READ_BUDGET = budget
            await conn.execute(RESET_ROLLUP)
            t0 = time.perf_counter()
            await warm_rollup()
            table.add(
                "refresh_rollup() from empty (videos + music)",
                [time.perf_counter() - t0],
                "",
                "one-off, then incremental",
            )
        else:
            await warm_rollup()
        series = [
            ("videos", MONTH, "day", "≤ 300 ms"),
            ("videos", WEEK, "hour", ""),
            ("videos", DAY, "hour", ""),
            ("videos", 0, "day", ""),
            ("music", MONTH, "day", ""),
            ("users", MONTH, "day", ""),
            ("users", WEEK, "hour", ""),
            ("users", 0, "day", ""),
        ]
        for kind, period, bucket, target in series:
            label = {DAY: "24 h", WEEK: "week", MONTH: "month", 0: "all"}[period]
            table.add(
                f"get_time_series({kind}, {label}, {bucket})",
                await timed(
                    functools.partial(tt.admin.get_time_series, kind, period, bucket), runs
                ),
                target,
            )

        # --- per-chat reads --------------------------------------------------------------------
        sample = [r[0] for r in await conn.fetch(SAMPLE_CHATS, 7, 300)]
        heavy = [r[0] for r in await conn.fetch(HEAVY_CHATS, 5)]
        for chat in sample[:20]:
            await tt.get_user_stats(chat)  # warm the pool and plan cache
        table.add(
            f"get_user_stats, {len(sample)} random chats",
            await each(tt.get_user_stats, sample),
            "≤ 5 ms",
        )
        heavy_counts = [(await tt.get_user_stats(c))[1] for c in heavy]
        table.add(
            f"get_user_stats, 5 heaviest chats ({min(heavy_counts):,}–{max(heavy_counts):,} dl)",
            await each(tt.get_user_stats, heavy * 3),
            "≤ 5 ms",
        )
        table.add(
            f"user search: get_user, {len(sample)} random chats",
            await each(tt.get_user, sample),
            "≤ 5 ms",
        )

        # --- seed stats, reused as they are ----------------------------------------------------
        table.add("get_referral_stats()", await timed(tt.get_referral_stats, max(3, runs // 2)))
        table.add(
            "get_file_mode_count()", await timed(tt.admin.get_file_mode_count, max(3, runs // 2))
        )
        table.add(
            "get_language_stats()", await timed(tt.admin.get_language_stats, max(3, runs // 2))
        )
        table.add("get_top_users()", await timed(tt.admin.get_top_users, 3))

        # --- streams ---------------------------------------------------------------------------
        results = [await stream_ids(1_000_000) for _ in range(3)]
        table.add(
            f"iter_user_ids: {results[0][1]:,} ids",
            [r[0] for r in results],
            "≤ 50 MB RSS growth",
            "peak RSS growth " + " / ".join(f"{r[2]:.1f}" for r in results) + " MB",
        )
        writer = NullWriter()
        base = writer.peak
        t0 = time.perf_counter()
        n = await tt.admin.export_users(writer)
        table.add(
            f"export_users: {n:,} rows CSV",
            [time.perf_counter() - t0],
            "",
            f"{writer.bytes / 2**20:.0f} MB written, peak RSS growth "
            f"{(writer.peak - base) / 2**20:.1f} MB",
        )
        writer = NullWriter()
        base = writer.peak
        t0 = time.perf_counter()
        n = await tt.admin.export_user_history(heavy[0], writer)
        table.add(
            f"export_user_history: heaviest chat, {n:,} rows",
            [time.perf_counter() - t0],
            "",
            f"peak RSS growth {(writer.peak - base) / 2**20:.1f} MB",
        )

        plans = []
        if do_explain:
            now = int(time.time())
            lo, hi = -(2**63) + 1, 2**63 - 1
            plans.append(
                await explain(
                    conn, "Quick stats, all time (QUICK_STATS_ALL)", sql.QUICK_STATS_ALL, lo, hi
                )
            )
            plans.append(
                await explain(
                    conn,
                    "Quick stats, last 24 h (QUICK_STATS_SINCE)",
                    sql.QUICK_STATS_SINCE,
                    now - DAY,
                    lo,
                    hi,
                )
            )
            folded = await conn.fetchval(sql.ROLLUP_FOLDED, "videos") or 0
            start = (now - MONTH) // DAY * DAY
            end = now // DAY * DAY + DAY
            plans.append(
                await explain(
                    conn,
                    "Daily series of a month, warm rollup (ROLLUP_SERIES['videos'])",
                    sql.ROLLUP_SERIES["videos"],
                    start,
                    end,
                    DAY,
                    folded,
                )
            )
            plans.append(
                await explain(
                    conn,
                    "The same, cold: no row folded yet ($4 = 0)",
                    sql.ROLLUP_SERIES["videos"],
                    start,
                    end,
                    DAY,
                    0,
                )
            )
            heavy_chat = heavy[0]
            plans.append(
                await explain(
                    conn,
                    "get_user_stats, the heaviest chat (USER_STATS)",
                    sql.USER_STATS,
                    heavy_chat,
                )
            )
        info["load_after"] = os.getloadavg()
    finally:
        await conn.close()
        await tt.close_storage()
    return {"info": info, "rows": table.rows, "markdown": table.markdown(), "plans": plans}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("DB_URL"), help="default: $DB_URL")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--explain", action="store_true", help="print the heaviest plans")
    parser.add_argument("--no-cold", action="store_true", help="keep the rollup as it is")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results here")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url or DB_URL is required")
    result = asyncio.run(run(args.url, args.runs, args.explain, not args.no_cold))
    info = result["info"]
    print(
        f"server {info['server']}; load average before {info['load_before']}, "
        f"after {info['load_after']}"
    )
    for name, rows, size in info["tables"]:
        print(f"- {name}: ~{rows:,} rows, {size / 2**20:,.0f} MB with indexes")
    print()
    print(result["markdown"])
    for plan in result["plans"]:
        print()
        print(plan)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: v for k, v in result.items() if k != "markdown"}, f, indent=1)


if __name__ == "__main__":
    main()
