"""Active chats at tt-bot scale: ``python -m benchmarks.activity --url …`` on a database filled
by ``python -m benchmarks.generate`` (which fills ``tt_storage_activity`` too).

Each library call next to the plain SQL a bot owner would run on raw asyncpg: the same
statement (what the library adds), and the guess without an activity table (distinct chats
that downloaded, from ``videos``). Every row is run ``--runs`` times after one warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import time
from typing import Any

import asyncpg

import tt_storage as tt
from tt_storage.core import sql
from tt_storage.services import analytics
from tt_storage.services.activity import day_start, window_days

from .database import asyncpg_dsn
from .scale import DAY, MONTH, WEEK, Table, explain, timed

LO, HI = -(2**63) + 1, 2**63 - 1

# The plain-SQL guesses without an activity table: chats that downloaded in the window.
DOWNLOADERS_SINCE = (
    "SELECT count(*) FROM (SELECT user_id FROM videos WHERE downloaded_at >= $1"
    " UNION SELECT user_id FROM music WHERE downloaded_at >= $1) s"
)
# The plain per-day count over the activity table.
ACTIVE_PER_DAY = (
    "SELECT day, count(*) FROM tt_storage_activity WHERE day >= $1 GROUP BY day ORDER BY day"
)
COUNT_ROWS = "SELECT count(*) FROM tt_storage_activity"
LATEST = "SELECT max(downloaded_at) FROM videos"


async def plain(conn: asyncpg.Connection, statement: str, *args: Any) -> None:
    # Planned for these values, as the library does (a generic plan would not see the window).
    await (await conn.prepare(statement)).fetch(*args)


async def run(url: str, runs: int, do_explain: bool) -> tuple[Table, list[str], int]:
    await tt.init_storage(url, max_size=4)
    table = Table()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    plans: list[str] = []
    try:
        rows = int(await conn.fetchval(COUNT_ROWS))
        # "Now" is the generated history's last download: a run just after a UTC midnight
        # would otherwise measure an empty today.
        latest = int(await conn.fetchval(LATEST) or time.time())
        setattr(analytics, "now", lambda: latest)  # noqa: B010 (a module's clock, replaced)
        today = day_start(latest)
        for label, period in (("24 h", DAY), ("week", WEEK), ("month", MONTH)):
            n = window_days(period)
            start = today - (n - 1) * DAY
            table.add(
                f"get_active_chats({label}, all)",
                await timed(functools.partial(tt.admin.get_active_chats, period), runs),
                "≤ 100 ms" if period == DAY else "",
            )
            table.add(
                f"  plain SQL: the same statement, JIT on ({label})",
                await timed(
                    functools.partial(
                        plain, conn, sql.ACTIVE_STATS, start, start - n * DAY, LO, HI
                    ),
                    runs,
                ),
            )
            table.add(
                f"  plain SQL: chats that downloaded, from videos + music ({label})",
                await timed(functools.partial(plain, conn, DOWNLOADERS_SINCE, start), runs),
                "",
                "no new/returning, misses chats that did not download",
            )
        table.add(
            "get_active_chats(24 h, users)",
            await timed(functools.partial(tt.admin.get_active_chats, DAY, "users"), runs),
        )
        table.add(
            "get_active_chats(all time, all)",
            await timed(functools.partial(tt.admin.get_active_chats, 0), max(3, runs // 2)),
        )
        table.add(
            "get_quick_stats(24 h, all), downloads + active",
            await timed(functools.partial(tt.admin.get_quick_stats, DAY), runs),
            "≤ 100 ms",
        )
        for kind in ("active", "returning"):
            table.add(
                f"get_time_series({kind}, month, day)",
                await timed(functools.partial(tt.admin.get_time_series, kind, MONTH, "day"), runs),
            )
        table.add(
            "  plain SQL: active per day, a month (GROUP BY day)",
            await timed(functools.partial(plain, conn, ACTIVE_PER_DAY, today - 30 * DAY), runs),
        )
        if do_explain:
            await conn.execute("SET jit = off")
            plans.append(
                await explain(
                    conn,
                    "Active chats, 24 h (ACTIVE_STATS, JIT off as the library runs it)",
                    sql.ACTIVE_STATS,
                    today,
                    today - DAY,
                    LO,
                    HI,
                )
            )
    finally:
        await conn.close()
        await tt.close_storage()
    return table, plans, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.activity", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("DB_URL"), help="default: $DB_URL")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--explain", action="store_true", help="print the 24 h plan")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url or DB_URL is required")
    table, plans, rows = asyncio.run(run(args.url, args.runs, args.explain))
    print(f"tt_storage_activity: {rows:,} rows; load average {os.getloadavg()}")
    print()
    print(table.markdown())
    for plan in plans:
        print()
        print(plan)


if __name__ == "__main__":
    main()
