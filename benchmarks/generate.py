"""Fill a migrated tt-storage database with a tt-bot-shaped history, fast.

    python -m benchmarks.generate --url postgresql://postgres@127.0.0.1/scratch \\
        --chats 1000000 --downloads 10000000 --music 1000000

Everything is made inside PostgreSQL by ``INSERT … SELECT … FROM generate_series`` (no rows
cross the wire), one chunk per day of history so the heap ends up in time order like a bot's
append-only tables. The shape:

* chats: 85 % private users (positive ids up to ~8e9), 15 % groups (negative ids: a third
  basic groups, the rest ``-100…`` supergroups); registered uniformly over ``--days`` days in
  id-independent order, the oldest 1 % with a NULL ``registered_at`` (legacy rows);
  languages weighted (en, ru, ar, id, vi, hi, uk, so, then a few unsupported tags);
  referral ``link`` NULL for ~88 %, ``inline`` for 4 %, else a long tail over 5000 links
  (``ref<k>`` with k ~ 5000·u⁴); 5 % ``file_mode``; 8 % ``blocked_at``.
* downloads: the chat of each row is picked by rank ``⌊N·u³⌋`` (u uniform), scrambled over the
  ids, so a handful of chats have 10⁴–10⁵ downloads and the median chat a few; daily volume
  grows linearly ×2.3 over the period; 12 % slideshows, 30 % processed, 8 % inline; 0.5 %
  legacy rows with a NULL ``downloaded_at`` (the oldest ``pk_id``s).
* music: the same scheme with rank ``⌊N·u^2.5⌋``.
* active chats (``tt_storage_activity``): a chat is active on each UTC day it downloaded
  something (video or music) and on the day it was registered, as the middleware records it.

The tables must be empty (``--truncate`` empties them). Secondary indexes are dropped during the
load and rebuilt from their own definitions afterwards; foreign-key triggers are skipped with
``session_replication_role = replica`` when the role may (every id is made from an existing
chat's index, so the keys hold). Finally ``VACUUM (ANALYZE)``: statistics for the planner,
and the visibility map that autovacuum would have set on a long-lived table.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable

import asyncpg

from tt_storage.core.urls import redact_url

from .database import asyncpg_dsn

DAY = 86_400

# --- the shape, as SQL expressions over a chat index `i` (0 <= i < $N) -------------------------

# A cheap integer hash of i, in [0, 4294967291).
_H1 = "((i::bigint * 2654435761) % 4294967291)"
_H2 = "((i::bigint * 40503 + 2246822519) % 4294967291)"
_IS_GROUP = "(" + _H1 + " % 100 < 15)"
# A chat id from its index: unique, positive for users, negative for groups.
CHAT_ID = (
    "(CASE WHEN " + _IS_GROUP + " THEN CASE WHEN " + _H1 + " % 3 = 0"
    " THEN -(100000000 + i::bigint * 3) ELSE -(1000000000000 + i::bigint) END"
    " ELSE 5000000 + i::bigint * 7919 END)"
)
LANG = (
    "(CASE WHEN " + _H2 + " % 1000 < 380 THEN 'en' WHEN " + _H2 + " % 1000 < 580 THEN 'ru'"
    " WHEN " + _H2 + " % 1000 < 680 THEN 'ar' WHEN " + _H2 + " % 1000 < 760 THEN 'id'"
    " WHEN " + _H2 + " % 1000 < 830 THEN 'vi' WHEN " + _H2 + " % 1000 < 880 THEN 'hi'"
    " WHEN " + _H2 + " % 1000 < 930 THEN 'uk' WHEN " + _H2 + " % 1000 < 950 THEN 'so'"
    " WHEN " + _H2 + " % 1000 < 965 THEN 'pt-br' WHEN " + _H2 + " % 1000 < 978 THEN 'es'"
    " WHEN " + _H2 + " % 1000 < 988 THEN 'tr' WHEN " + _H2 + " % 1000 < 995 THEN 'de'"
    " ELSE 'zh-hans' END)"
)

# $1 first index, $2 end index (exclusive), $3 N, $4 first day, $5 span seconds, $6 seed.
INSERT_USERS = (
    "WITH s AS (SELECT setseed($6)), g AS ("  # noqa: S608 (constant fragments only)
    " SELECT i, CASE WHEN i < $3 / 100 THEN NULL"
    "  ELSE $4::bigint + (($5::bigint * (i - $3 / 100)) / ($3 - $3 / 100)) END AS reg"
    " FROM s, generate_series($1::bigint, $2::bigint - 1) AS i) "
    "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown,"
    " blocked_at) "
    "SELECT " + CHAT_ID + ", reg, " + LANG + ","
    " CASE WHEN r1 < 0.88 THEN NULL WHEN r1 < 0.92 THEN 'inline'"
    "  ELSE 'ref' || floor(5000 * power(r2, 4))::int END,"
    " random() < 0.05, floor(random() * 4)::int,"
    " CASE WHEN random() < 0.7 THEN coalesce(reg, $4) + 86400 ELSE 0 END,"
    " CASE WHEN random() < 0.08 THEN coalesce(reg, $4) + floor(random() * 86400 * 30)::bigint END "
    "FROM (SELECT i, reg, random() AS r1, random() AS r2 FROM g) x ORDER BY i"
)

# The chat index of a download: rank ⌊N·u^k⌋ scrambled by a multiplier coprime with N.
_PICK = "((floor($3::bigint * power(random(), $8::float8))::bigint * $7::bigint) % $3::bigint)"

# $1 rows, $2 first second, $3 N, $4 seconds spanned, $5 NULL timestamps, $6 seed,
# $7 scrambling multiplier, $8 skew exponent.
INSERT_VIDEOS = (
    "WITH s AS (SELECT setseed($6)), g AS ("  # noqa: S608 (constant fragments only)
    " SELECT " + _PICK + " AS i,"
    "  CASE WHEN $5 THEN NULL ELSE $2::bigint + floor(random() * $4::int)::bigint END AS ts,"
    "  random() AS r FROM s, generate_series(1, $1::int)) "
    "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed, is_inline) "
    "SELECT " + CHAT_ID + ", ts,"
    " CASE WHEN r < 0.7 THEN 'https://www.tiktok.com/@u' || i || '/video/'"
    "  || (7200000000000000000 + floor(random() * 1e17)::bigint)"
    "  ELSE 'https://vm.tiktok.com/ZM' || substr(md5(random()::text), 1, 7) || '/' END,"
    " r < 0.12, random() < 0.3, random() < 0.08 "
    "FROM g ORDER BY ts"
)

# Same parameters as INSERT_VIDEOS.
INSERT_MUSIC = (
    "WITH s AS (SELECT setseed($6)), g AS ("  # noqa: S608 (constant fragments only)
    " SELECT " + _PICK + " AS i,"
    "  CASE WHEN $5 THEN NULL ELSE $2::bigint + floor(random() * $4::int)::bigint END AS ts"
    " FROM s, generate_series(1, $1::int)) "
    "INSERT INTO music (user_id, downloaded_at, video_id) "
    "SELECT " + CHAT_ID + ", ts, 7200000000000000000 + floor(random() * 1e17)::bigint "
    "FROM g ORDER BY ts"
)

# $1 the day's start. Filled after the indexes are rebuilt (it reads idx_videos_time), a day at
# a time in chat order: the heap in (day, chat_id) order, as the primary key reads it. Days in
# order, one at a time (previous_day reads the days before).
INSERT_ACTIVITY = (
    "INSERT INTO tt_storage_activity (day, chat_id, registered_at, previous_day) "
    "SELECT $1::bigint, a.user_id, u.registered_at, (SELECT max(b.day) FROM tt_storage_activity b"
    " WHERE b.chat_id = a.user_id) FROM ("
    "SELECT user_id FROM videos WHERE downloaded_at >= $1 AND downloaded_at < $1::bigint + 86400"
    " UNION SELECT user_id FROM music"
    " WHERE downloaded_at >= $1 AND downloaded_at < $1::bigint + 86400"
    " UNION SELECT user_id FROM users"
    " WHERE registered_at >= $1 AND registered_at < $1::bigint + 86400) a "
    "JOIN users u ON u.user_id = a.user_id ORDER BY a.user_id"
)

IS_EMPTY = (
    "SELECT NOT EXISTS (SELECT 1 FROM users) AND NOT EXISTS (SELECT 1 FROM videos)"
    " AND NOT EXISTS (SELECT 1 FROM music) AND NOT EXISTS (SELECT 1 FROM tt_storage_activity)"
)
TRUNCATE = "TRUNCATE users, videos, music, tt_storage_activity RESTART IDENTITY CASCADE"
SECONDARY_INDEXES = (
    "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
    " WHERE t.relname IN ('users', 'videos', 'music') AND t.relnamespace = 'public'::regnamespace"
    " AND NOT i.indisprimary AND NOT i.indisunique"
)
TABLE_EXISTS = "SELECT to_regclass('public.videos') IS NOT NULL"


def scrambler(n: int) -> int:
    """A multiplier coprime with ``n``, far from 1, that spreads ranks over the chat indexes."""
    m = 2_654_435_761 % n or 1
    while math.gcd(m, n) != 1:
        m += 1
    return m


def daily_counts(total: int, days: int, growth: float = 2.3) -> list[int]:
    """``total`` split over ``days`` with a volume growing linearly ×``growth``."""
    weights = [1 + (growth - 1) * d / max(days - 1, 1) for d in range(days)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    counts[-1] += total - sum(counts)
    return counts


class Progress:
    def __init__(self, label: str, total: int, quiet: bool) -> None:
        self.label, self.total, self.done, self.quiet = label, total, 0, quiet
        self.started = time.monotonic()

        self.tty = sys.stderr.isatty()
        self.shown = 0.0

    def add(self, n: int) -> None:
        self.done += n
        elapsed = time.monotonic() - self.started
        finished = self.done >= self.total
        # A bar redrawn in place on a terminal; a line every 10 s in a log.
        if self.quiet or not (finished or self.tty or elapsed - self.shown >= 10):
            return
        self.shown = elapsed
        start = "\r" if self.tty else ""
        print(
            f"{start}  {self.label}: {self.done:>12,}/{self.total:,} "
            f"({100 * self.done / max(self.total, 1):5.1f} %, {elapsed:6.1f} s)",
            end="\n" if finished or not self.tty else "",
            file=sys.stderr,
            flush=True,
        )


Job = Callable[[asyncpg.Connection], Awaitable[None]]


async def run_parallel(pool: asyncpg.Pool, jobs: list[Job]) -> None:
    queue = list(reversed(jobs))

    async def worker() -> None:
        async with pool.acquire() as conn:
            await conn.execute("SET synchronous_commit = off")
            try:
                await conn.execute("SET session_replication_role = replica")
            except asyncpg.InsufficientPrivilegeError:
                pass  # foreign keys checked row by row: slower, same result
            while queue:
                await queue.pop()(conn)

    await asyncio.gather(*(worker() for _ in range(pool.get_max_size())))


async def generate(
    url: str,
    chats: int,
    downloads: int,
    music: int,
    days: int = 90,
    jobs: int = 2,
    seed: float = 0.42,
    truncate: bool = False,
    quiet: bool = False,
    now: int | None = None,
) -> dict[str, float]:
    """Fill the database at ``url``; return the seconds each phase took."""
    if chats < 100:
        raise ValueError("--chats must be at least 100")
    end = int(time.time()) if now is None else now
    start = end - days * DAY
    timings: dict[str, float] = {}
    say: Callable[[str], None] = (lambda _m: None) if quiet else (lambda m: print(m, flush=True))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if not await conn.fetchval(TABLE_EXISTS):
            raise SystemExit("no tt-storage schema there: run `aerich upgrade` first")
        if truncate:
            await conn.execute(TRUNCATE)
        elif not await conn.fetchval(IS_EMPTY):
            raise SystemExit("the tables are not empty (use --truncate to empty them first)")
        indexes = await conn.fetch(SECONDARY_INDEXES)
        for name, _ in indexes:
            await conn.execute('DROP INDEX IF EXISTS "' + name.replace('"', '""') + '"')
    finally:
        await conn.close()

    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=jobs, max_size=jobs)
    try:
        t0 = time.monotonic()
        bar = Progress("chats", chats, quiet)
        step = 100_000
        user_jobs: list[Job] = []
        for k, lo in enumerate(range(0, chats, step)):
            hi = min(lo + step, chats)

            async def users_chunk(
                c: asyncpg.Connection, lo: int = lo, hi: int = hi, k: int = k
            ) -> None:
                await c.execute(
                    INSERT_USERS, lo, hi, chats, start, days * DAY, (seed + k * 1e-3) % 1
                )
                bar.add(hi - lo)

            user_jobs.append(users_chunk)
        await run_parallel(pool, user_jobs)
        timings["chats"] = time.monotonic() - t0

        mult = scrambler(chats)
        for table, total, stmt, skew in (
            ("videos", downloads, INSERT_VIDEOS, 3.0),
            ("music", music, INSERT_MUSIC, 2.5),
        ):
            t0 = time.monotonic()
            bar = Progress(table, total, quiet)
            legacy = total // 200
            # (rows, first second, span, NULL timestamps): legacy rows first, then day by day.
            chunks = [(legacy, start, 1, True)] + [
                (n, start + d * DAY, DAY, False)
                for d, n in enumerate(daily_counts(total - legacy, days))
            ]
            table_jobs: list[Job] = []
            for k, (n, first, span, null) in enumerate(chunks):
                if n == 0:
                    continue

                async def chunk(
                    c: asyncpg.Connection,
                    n: int = n,
                    first: int = first,
                    span: int = span,
                    null: bool = null,
                    k: int = k,
                    stmt: str = stmt,
                    skew: float = skew,
                    bar: Progress = bar,
                ) -> None:
                    s = (seed * 7 + k * 1e-3 + (0.5 if stmt is INSERT_MUSIC else 0)) % 1
                    await c.execute(stmt, n, first, chats, span, null, s, mult, skew)
                    bar.add(n)

                table_jobs.append(chunk)
            # Days in order (a job queue of 2 workers): the heap stays close to time order.
            await run_parallel(pool, table_jobs)
            timings[table] = time.monotonic() - t0
    finally:
        await pool.close()

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        t0 = time.monotonic()
        for name, definition in indexes:
            say(f"  index {name}")
            await conn.execute(definition)
        timings["indexes"] = time.monotonic() - t0
    finally:
        await conn.close()
    timings["activity"] = await fill_activity(url, start, days, quiet)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        t0 = time.monotonic()
        say("  VACUUM (ANALYZE)")
        await conn.execute("VACUUM (ANALYZE) users, videos, music, tt_storage_activity")
        timings["vacuum_analyze"] = time.monotonic() - t0
    finally:
        await conn.close()
    return timings


async def fill_activity(url: str, start: int, days: int, quiet: bool = False) -> float:
    """Each day's active chats, days in order on one connection; the seconds it took."""
    t0 = time.monotonic()
    bar = Progress("active days", days + 1, quiet)
    first = start - start % DAY
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("SET synchronous_commit = off")
        for d in range(days + 1):
            await conn.execute(INSERT_ACTIVITY, first + d * DAY)
            bar.add(1)
    finally:
        await conn.close()
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("DB_URL"), help="default: $DB_URL")
    parser.add_argument("--chats", type=int, default=1_000_000)
    parser.add_argument("--downloads", type=int, default=10_000_000)
    parser.add_argument("--music", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--jobs", type=int, default=2, help="parallel connections")
    parser.add_argument("--seed", type=float, default=0.42, help="in [0, 1)")
    parser.add_argument("--truncate", action="store_true", help="empty the tables first")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url or DB_URL is required")
    print(
        f"generating {args.chats:,} chats, {args.downloads:,} downloads, {args.music:,} music"
        f" over {args.days} days into {redact_url(args.url)}",
        flush=True,
    )
    started = time.monotonic()
    timings = asyncio.run(
        generate(
            args.url,
            args.chats,
            args.downloads,
            args.music,
            days=args.days,
            jobs=args.jobs,
            seed=args.seed,
            truncate=args.truncate,
        )
    )
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    print(f"done in {time.monotonic() - started:.1f} s ({parts})")


if __name__ == "__main__":
    main()
