"""The media cache at tt-bot scale: its migration on a filled database, lookups among 10M entries.

    python -m benchmarks.media_scale before --url U   # every migration before the media cache's
    python -m benchmarks.generate --url U --chats 1000000 --downloads 10000000 --music 1000000
    python -m benchmarks.media_scale migrate --url U  # the media cache's, timed, locks sampled
    python -m benchmarks.media_scale lookup --url U --entries 10000000

``migrate`` samples ``pg_locks`` every few ms from another connection and keeps writing
downloads the way a running bot does (the seed's INSERT, valid before and after) while the
migration runs: the locks seen on each table and the slowest write are what it costs the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

import tt_storage as tt
from tt_storage import media
from tt_storage.core.app import APP, migrations_location
from tt_storage.core.config import migration_config

from .database import asyncpg_dsn
from .scale import Table, each

MEDIA_MIGRATION = "media_cache"
LOCKS = (
    "SELECT l.pid, c.relname, l.mode, l.granted FROM pg_locks l JOIN pg_class c"
    " ON c.oid = l.relation WHERE l.pid <> pg_backend_pid()"
    " AND c.relname IN ('videos', 'music', 'users', 'tt_storage_media', 'tt_storage_media_files')"
)
WRITE = (
    "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed, is_inline)"
    " SELECT user_id, $1, 'https://t/bench', false, false, false FROM users WHERE user_id = $2"
)
SAMPLE_CHATS = "SELECT user_id FROM users TABLESAMPLE SYSTEM (1) REPEATABLE (3) LIMIT 200"
COUNT_ENTRIES = "SELECT count(*) FROM tt_storage_media"
MAX_ID = "SELECT max(id) FROM tt_storage_media"
# $1 first, $2 last index, $3 now. Keys shaped like a bot's (platform, id).
FILL_ENTRIES = (
    "INSERT INTO tt_storage_media"
    " (key, metadata, metadata_at, first_used_at, last_used_at, use_count)"
    ' SELECT \'tiktok:\' || (7300000000000000000 + g), \'{"likes": 12, "creator": "bench"}\','
    " $3, $3 - g % 8000000, $3 - g % 8000000, g % 50 FROM generate_series($1::bigint, $2) g"
)
FILL_SETS = (
    "INSERT INTO tt_storage_media_files (media_id, bot_id, variant, version, files, stored_at)"
    " SELECT id, 42, 'video', 1, jsonb_build_array(jsonb_build_object('kind', 'video',"
    " 'file_id', 'BAACAgIAAxkBAAI' || id, 'file_unique_id', 'AgAD' || id)), $3"
    " FROM tt_storage_media WHERE id BETWEEN $1 AND $2"
)


def _own_context(work: Any) -> Any:
    async def isolated() -> Any:
        from tortoise.context import TortoiseContext

        with TortoiseContext():
            return await work()

    return asyncio.create_task(isolated(), context=contextvars.Context())


async def before(url: str) -> None:
    """Apply every packaged migration older than the media cache's (aerich, from a copy)."""
    from aerich import Command

    location = Path(tempfile.mkdtemp()) / "migrations"
    shutil.copytree(migrations_location() / APP, location / APP)
    files = sorted((location / APP).glob("*_*.py"), key=lambda p: int(p.name.split("_")[0]))
    cut = next(i for i, p in enumerate(files) if p.stem.endswith(MEDIA_MIGRATION))
    for later in files[cut:]:
        later.unlink()

    async def upgrade() -> None:
        async with Command(migration_config(url), app=APP, location=str(location)) as command:
            await command.upgrade(run_in_transaction=True)

    try:
        await _own_context(upgrade)
    finally:
        shutil.rmtree(location.parent)
    print(f"applied {cut} migrations; next: python -m benchmarks.generate --url …")


async def migrate(url: str) -> None:
    dsn = asyncpg_dsn(url)
    sampler, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    # (table, mode, granted) -> [samples, first seen, last seen] (seconds since the start).
    seen: dict[tuple[str, str, bool], list[float]] = {}
    writes: list[float] = []
    done = asyncio.Event()
    chats = [r[0] for r in await writer.fetch(SAMPLE_CHATS)]

    async def sample() -> None:
        while not done.is_set():
            rows = await sampler.fetch(LOCKS)
            at = time.perf_counter() - t0
            for row in rows:
                key = (row["relname"], row["mode"], row["granted"])
                entry = seen.setdefault(key, [0, at, at])
                entry[0] += 1
                entry[2] = at
            await asyncio.sleep(0.002)

    async def write() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            await writer.execute(WRITE, int(time.time()), random.choice(chats))
            writes.append(time.perf_counter() - t0)
            await asyncio.sleep(0.005)

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(sample()), asyncio.create_task(write())]
    await asyncio.sleep(0.5)
    baseline = len(writes)
    started = time.perf_counter()
    applied = await tt.ops.apply_migrations(url)
    took = time.perf_counter() - started
    during = writes[baseline:]
    await asyncio.sleep(0.3)
    done.set()
    await asyncio.gather(*tasks)
    sizes = await sampler.fetch(
        "SELECT relname, reltuples::bigint, pg_total_relation_size(oid) FROM pg_class"
        " WHERE relname IN ('videos', 'music') ORDER BY relname"
    )
    await sampler.close()
    await writer.close()
    print(f"applied {applied} in {took * 1000:,.0f} ms")
    for name, rows, size in sizes:
        print(f"- {name}: ~{rows:,} rows, {size / 2**20:,.0f} MB with indexes")
    ordered = sorted(during) or [0.0]
    median = ordered[len(ordered) // 2] * 1000
    p99 = ordered[int(0.99 * (len(ordered) - 1))] * 1000
    calm = sorted(writes[:baseline])[baseline // 2] * 1000
    print(
        f"downloads written meanwhile: {len(during)}: median {median:.1f} ms, p99 {p99:.1f} ms,"
        f" slowest {ordered[-1] * 1000:.1f} ms (before: median {calm:.1f} ms)"
    )
    offset = started - t0
    print(
        "locks held or awaited by other sessions, as sampled every ~2 ms (seconds from the start):"
    )
    for (rel, mode, granted), (n, first, last) in sorted(seen.items()):
        state = "granted" if granted else "WAITING"
        print(
            f"  {rel:<24} {mode:<24} {state:<8} {int(n):>5} samples,"
            f" {first - offset:7.3f} s .. {last - offset:7.3f} s"
        )


async def lookup(url: str, entries: int, runs: int) -> None:
    dsn = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    have = await conn.fetchval(COUNT_ENTRIES)
    now = int(time.time())
    step = 1_000_000
    for first in range(have + 1, entries + 1, step):
        last = min(entries, first + step - 1)
        t0 = time.perf_counter()
        await conn.execute(FILL_ENTRIES, first, last, now)
        high = await conn.fetchval(MAX_ID)
        await conn.execute(FILL_SETS, high - (last - first), high, now)
        print(f"entries {first:,}–{last:,} in {time.perf_counter() - t0:.0f} s", flush=True)
    await conn.execute("VACUUM (ANALYZE) tt_storage_media, tt_storage_media_files")
    total = await conn.fetchval(COUNT_ENTRIES)
    size = await conn.fetchval(
        "SELECT pg_total_relation_size('tt_storage_media')"
        " + pg_total_relation_size('tt_storage_media_files')"
    )
    pool: asyncpg.Pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await tt.init_storage(url, max_size=2)
    try:
        rng = random.Random(7)
        keys = [
            ("tiktok", str(7_300_000_000_000_000_000 + rng.randint(1, total))) for _ in range(runs)
        ]
        from tt_storage.core import sql_media

        table = Table()
        for key in keys[:50]:
            await media.lookup_media(key, 42, "video")
        table.add(
            f"raw asyncpg MEDIA_LOOKUP, {total:,} entries", await each(
                lambda k: pool.fetchrow(sql_media.MEDIA_LOOKUP, media.media_key(k), 42, "video"),
                keys,
            ),
        )  # fmt: skip
        found = await each(lambda k: media.lookup_media(k, 42, "video"), keys)
        table.add(f"lookup_media, {total:,} entries", found, "p50 ≤ 1 ms")
        # What one round trip costs on this machine now: the floor under both rows above.
        table.add(
            "raw asyncpg SELECT 1 (a round trip)",
            await each(lambda _k: pool.fetchval("SELECT 1"), keys),
        )
        print(f"cache tables: {size / 2**20:,.0f} MB")
        print(table.markdown())
        for key in keys[:3]:
            plan = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + sql_media.MEDIA_LOOKUP,
                media.media_key(key),
                42,
                "video",
            )
            print("\n".join(r[0] for r in plan))
    finally:
        await tt.close_storage()
        await pool.close()
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.media_scale", description=__doc__)
    parser.add_argument("step", choices=("before", "migrate", "lookup"))
    parser.add_argument("--url", default=os.environ.get("DB_URL"), help="default: $DB_URL")
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url or DB_URL is required")
    if args.step == "before":
        asyncio.run(before(args.url))
    elif args.step == "migrate":
        asyncio.run(migrate(args.url))
    else:
        asyncio.run(lookup(args.url, args.entries, args.runs))


if __name__ == "__main__":
    main()
