"""``python -m benchmarks [--quick] [--fsm-only | --media-only] [--admin-url URL]``: the tables,
on a database of their own."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import time
from urllib.parse import urlsplit

import tt_storage

from . import database
from .fsm import render_fsm, run_fsm_suite
from .media import render_media, run_media_suite
from .media_dispatch import render_media as render_dispatch
from .media_dispatch import run_media_suite as run_dispatch_suite
from .suite import Config, render, run_suite

ADMIN_ENV = "TT_STORAGE_BENCH_DB_URL"


_STARTED = time.perf_counter()


def _progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


async def admin_url(explicit: str | None) -> str:
    """``--admin-url``, else ``TT_STORAGE_BENCH_DB_URL``, else the local server, else embedded."""
    url = explicit or os.environ.get(ADMIN_ENV)
    if url:
        return url
    if await database.answers(database.LOCAL_ADMIN):
        return database.LOCAL_ADMIN
    from tt_storage.core.embedded import embedded_url

    return await asyncio.to_thread(embedded_url, None, "postgres")


async def create_database(admin: str, durable: bool) -> str:
    url = await database.create_database(admin, prefix="tt_storage_bench")
    if not durable:
        # Commits do not wait for the WAL flush: the numbers measure the data layers and
        # their round trips, not the disk (see docs/BENCHMARKS.md).
        conn = await database.connect(url)
        try:
            await conn.execute("ALTER DATABASE " + _quoted(url) + " SET synchronous_commit = off")
        finally:
            await conn.close()
    return url


def _quoted(url: str) -> str:
    return '"' + urlsplit(url).path.lstrip("/") + '"'


async def amain(args: argparse.Namespace) -> str:
    config = Config.quick() if args.quick else Config()
    if args.rounds:
        config = dataclasses.replace(config, rounds=args.rounds)
    admin = await admin_url(args.admin_url)
    url = await create_database(admin, args.durable)
    _progress(f"benchmark database {urlsplit(url).path.lstrip('/')} (dropped at the end)")
    try:
        _progress("migrations")
        await tt_storage.ops.apply_migrations(url)
        await tt_storage.init_storage(url, min_size=1, max_size=config.pool_size)
        try:
            sections = []
            only = args.fsm_only or args.media_only
            if not only:
                sections.append(render(await run_suite(url, config, _progress)))
            if args.fsm_only or not only:
                _progress("FSM storage rows")
                fsm = await run_fsm_suite(config.rounds, config.ops, _progress, config.warmup)
                sections.append(render_fsm(fsm))
            if args.media_only or not only:
                _progress("media cache rows")
                rows = await run_media_suite(
                    url, config.rounds, config.ops, _progress, config.warmup
                )
                sections.append(render_media(rows))
                row = await run_dispatch_suite(config.rounds, config.ops, _progress, config.warmup)
                sections.append(render_dispatch(row))
        finally:
            await tt_storage.close_storage()
    finally:
        await database.drop_database(admin, url)
    return "\n\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: few ops (< 30 s)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds per row (default 7)")
    parser.add_argument(
        "--fsm-only", action="store_true", help="only the FSM storage rows (PostgreSQL vs Redis)"
    )
    parser.add_argument(
        "--media-only",
        action="store_true",
        help="only the media cache rows (tt-storage vs raw asyncpg, same statements)",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="keep the server's synchronous_commit (default: off for the benchmark database,"
        " so that the WAL flush latency of the disk does not drown the data layers)",
    )
    parser.add_argument(
        "--admin-url",
        help=f"server to create the benchmark database on (default ${ADMIN_ENV}, else the local"
        " server on 127.0.0.1:5432, else the embedded one)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    table = asyncio.run(amain(args))
    print(table)
    _progress(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
