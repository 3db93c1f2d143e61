"""``tt-storage migrate``: the pending migrations applied, each reported as aerich records it,
then every missing or INVALID packaged index built."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import asyncpg

from ...core import sql
from ...core.app import APP, migrations_location, packaged_migrations
from ...core.errors import StorageError
from ...core.lifecycle import apply_migrations
from .._watch import run_watched
from .common import (
    EXIT_OK,
    EXIT_PROBLEM,
    LOST,
    applied_migrations,
    database_url,
    direct_connection,
    shown_url,
)

#: How often ``migrate`` looks at aerich's table for newly applied migrations.
MIGRATE_POLL = 0.2


def index_builds() -> dict[str, tuple[str, str]]:
    """``name -> (drop statement, create statement)`` of every index a packaged migration builds
    (their ``INDEXES`` and ``DROP_INVALID``): the statements ``migrate`` rebuilds one with."""

    builds: dict[str, tuple[str, str]] = {}
    for name in packaged_migrations():
        path = migrations_location() / APP / name
        spec = importlib.util.spec_from_file_location(f"_tt_storage_migration_{path.stem}", path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for index, create in getattr(module, "INDEXES", ()):
            builds[index] = (module.DROP_INVALID[index], create)
    return builds


async def rebuild_indexes(conn: asyncpg.Connection, report: Any) -> list[str]:
    """Build every packaged index that is missing, drop and rebuild every INVALID one (left by
    an interrupted concurrent build after its migration was recorded: aerich never runs that
    migration again). Concurrently, so the bot keeps writing meanwhile. Returns their names."""
    builds = index_builds()
    found = {r["name"]: r["valid"] for r in await conn.fetch(sql.INDEX_STATE, list(builds))}
    done: list[str] = []
    for name, (drop, create) in builds.items():
        if found.get(name, False):
            continue
        t0 = time.monotonic()
        if name in found:
            await conn.execute(drop)
        await conn.execute(create)
        what = "rebuilt INVALID" if name in found else "built missing"
        report(f"{what} index {name} ({time.monotonic() - t0:.1f} s)")
        done.append(name)
    return done


async def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    url = await database_url(args)
    where = shown_url(args.url)
    started = time.monotonic()

    def report(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    async with direct_connection(url) as conn:
        applied = await migrate_reporting(conn, url, where, report, started)
        if applied is None:
            return EXIT_PROBLEM
        try:
            rebuilt = await rebuild_indexes(conn, report)
        except LOST as exc:
            print(
                f"tt-storage migrate: migrations applied, but rebuilding an index failed: "
                f"{type(exc).__name__}: {exc}. Fix the cause and run `tt-storage migrate` again",
                file=sys.stderr,
            )
            return EXIT_PROBLEM
    if applied or rebuilt:
        report(f"up to date: {where}")
    else:
        report(f"up to date: {where} (nothing to apply)")
    return EXIT_OK


async def migrate_reporting(
    conn: asyncpg.Connection, url: str, where: str, report: Callable[[str], None], started: float
) -> list[str] | None:
    """Apply the pending migrations, reporting each as aerich records it (seen from ``conn``);
    the names applied, or ``None`` once the failure is reported on stderr."""
    seen = set(await applied_migrations(conn) or [])
    pending = [m for m in packaged_migrations() if m not in seen]
    if pending:
        print(f"{where}: {len(pending)} migration(s) to apply", file=sys.stderr, flush=True)

    async def watch() -> None:
        with contextlib.suppress(*LOST):
            # Each migration is recorded as it is applied: a line per migration, live.
            for name in await applied_migrations(conn) or []:
                if name not in seen:
                    seen.add(name)
                    report(f"applied {name} ({time.monotonic() - started:.1f} s)")

    task = await run_watched(apply_migrations(url), watch, MIGRATE_POLL, last_look=True)
    try:
        applied = task.result()
    except Exception as exc:
        await report_migrate_failure(conn, exc)
        return None
    for name in applied:
        if name not in seen:
            report(f"applied {name} ({time.monotonic() - started:.1f} s)")
    return applied


async def report_migrate_failure(conn: asyncpg.Connection, exc: Exception) -> None:
    """Why ``migrate`` failed, and the migrations still not applied, on stderr."""
    left = [m for m in packaged_migrations() if m not in set(await _applied(conn))]
    reason = exc if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
    print(
        f"tt-storage migrate: {reason}\n"
        f"not applied: {', '.join(left) or 'none'}. Applied migrations stay recorded; "
        "fix the cause and run `tt-storage migrate` again",
        file=sys.stderr,
    )


async def _applied(conn: asyncpg.Connection) -> list[str]:
    with contextlib.suppress(*LOST):
        return await applied_migrations(conn) or []
    return []


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "migrate",
        parents=[common],
        help="apply tt-storage's pending migrations, rebuild missing or invalid indexes",
    )
    p.set_defaults(run=cmd_migrate)
