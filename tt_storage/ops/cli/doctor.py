"""``tt-storage doctor``: the connection, the migrations, the indexes, the tables' sizes, the
rollup's lag; the fix for each problem."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import asyncpg

from ...core import sql
from ...core.app import packaged_migrations
from ...core.errors import StorageError
from ...core.lifecycle import pending_migrations
from ..adopt.shape import expected_indexes
from . import your_apps
from .common import (
    EXIT_OK,
    EXIT_PROBLEM,
    applied_migrations,
    database_url,
    direct_connection,
    shown_url,
)
from .output import mib

#: The commands ``doctor`` names as fixes.
FIX_MIGRATE = "tt-storage migrate"
FIX_ADOPT = "tt-storage adopt"


#: The tables whose sizes ``doctor`` shows.
DOCTOR_TABLES = (
    "users",
    "videos",
    "music",
    "tt_storage_hourly",
    "tt_storage_hourly_state",
    "tt_storage_fsm",
    "tt_storage_media",
    "tt_storage_media_files",
)


#: ``line(topic, status, text)``: writes one line of ``doctor``'s report.
DoctorLine = Callable[[str, str, str], None]


async def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    def line(topic: str, status: str, text: str) -> None:
        out.write(f"{topic:<11} {status:<7} {text}\n")

    where = shown_url(args.url)
    t0 = time.perf_counter()
    try:
        url = await database_url(args)
        async with direct_connection(url) as conn:
            version = await conn.fetchval(sql.SERVER_VERSION)
            line(
                "connection",
                "ok",
                f"{where}: PostgreSQL {version} ({(time.perf_counter() - t0) * 1000:.0f} ms)",
            )
            problems = await doctor_checks(conn, url, line, args.models)
    except StorageError as exc:
        line("connection", "FAILED", f"{where}: {exc}")
        return EXIT_PROBLEM
    out.write("no problems found\n" if problems == 0 else f"{problems} problem(s)\n")
    return EXIT_OK if problems == 0 else EXIT_PROBLEM


async def doctor_checks(
    conn: asyncpg.Connection, url: str, line: DoctorLine, models: Sequence[str] | None = None
) -> int:
    """Everything ``doctor`` reports after the connection, in order; the problems found."""
    tables = await conn.fetch(sql.TABLE_ESTIMATES, list(DOCTOR_TABLES))
    problems, fix = await doctor_migrations(conn, url, tables, line)
    problems += await doctor_indexes(conn, fix, line)
    problems += await your_apps.report(conn, url, models, line)
    doctor_tables(tables, line)
    doctor_media(tables, line)
    if any(r["name"] == "tt_storage_hourly_state" for r in tables):
        await doctor_rollup(conn, line)
    return problems


async def doctor_migrations(
    conn: asyncpg.Connection, url: str, tables: Sequence[asyncpg.Record], line: DoctorLine
) -> tuple[int, str]:
    """The pending migrations' line; the problems found, and the command that fixes them
    (``adopt`` for the seed's tables without any migration recorded, else ``migrate``)."""
    problems = 0
    applied = await applied_migrations(conn)
    pending: list[str] | None = packaged_migrations()
    if applied is not None:
        try:
            pending = await pending_migrations(url)
        except Exception as exc:  # StorageError, or aerich's own plain exceptions
            pending = None
            problems += 1
            line("migrations", "ERROR", f"cannot read aerich's table: {exc}")
    # The seed's tables and no record of any migration: adopt checks their shape first.
    seed_shaped = not applied and any(r["name"] == "users" for r in tables)
    fix = FIX_ADOPT if seed_shaped else FIX_MIGRATE
    if pending == []:
        line("migrations", "ok", "none pending")
    elif pending:
        problems += 1
        what = "a tt-bot database not yet adopted" if seed_shaped else "pending"
        line("migrations", "PENDING", f"{', '.join(pending)} ({what}): run `{fix}`")
    return problems, fix


async def doctor_indexes(conn: asyncpg.Connection, fix: str, line: DoctorLine) -> int:
    """The indexes' lines: missing or INVALID ones (then 1 problem, fixed by ``fix``), or all
    valid."""
    expected = expected_indexes()
    found = {r["name"]: r for r in await conn.fetch(sql.INDEX_STATE, list(expected))}
    missing = [n for n in expected if n not in found]
    invalid = [n for n, r in found.items() if not r["valid"]]
    if missing:
        line("indexes", "MISSING", f"{', '.join(missing)}: run `{fix}` (builds them)")
    if invalid:
        line(
            "indexes",
            "INVALID",
            f"{', '.join(invalid)}: an interrupted concurrent build; run `{fix}` "
            "(drops and rebuilds them)",
        )
    if missing or invalid:
        return 1
    line("indexes", "ok", f"{len(expected)} valid ({', '.join(expected)})")
    return 0


def doctor_tables(tables: Sequence[asyncpg.Record], line: DoctorLine) -> None:
    """A line per table: its estimated rows and its size."""
    for r in tables:
        rows = "never analyzed" if r["rows"] < 0 else f"~{r['rows']:,} rows"
        line(
            "table",
            "",
            f"{r['name']}: {rows}, {mib(r['heap_bytes'])} ({mib(r['total_bytes'])} with indexes)",
        )


def doctor_media(tables: Sequence[asyncpg.Record], line: DoctorLine) -> None:
    """The media cache's size: entries and file sets (the planner's estimates), bytes."""
    found = {r["name"]: r for r in tables}
    entries, sets = found.get("tt_storage_media"), found.get("tt_storage_media_files")
    if entries is None or sets is None:
        return  # not migrated yet: the migrations line says so
    rows = [("?" if r["rows"] < 0 else f"~{r['rows']:,}") for r in (entries, sets)]
    line(
        "media",
        "ok",
        f"cache: {rows[0]} entries, {rows[1]} file sets,"
        f" {mib(entries['total_bytes'] + sets['total_bytes'])} with indexes",
    )


async def doctor_rollup(conn: asyncpg.Connection, line: DoctorLine) -> None:
    """A line per kind of row the hourly rollup counts: how far it has folded them."""
    for r in await conn.fetch(sql.ROLLUP_LAG):
        folded, last = r["folded_pk"] or 0, r["max_pk"] or 0
        line(
            "rollup",
            "ok",
            f"{r['kind']}: folded up to pk_id {folded:,} of {last:,}"
            f" ({max(last - folded, 0):,} newer rows counted live)",
        )


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "doctor", parents=[common], help="connection, migrations, indexes, sizes, your tables"
    )
    p.add_argument(
        "--models",
        action="append",
        metavar="MODULE",
        help="your models' module (repeatable; default: those of the tortoise_orm config "
        "./pyproject.toml names)",
    )
    p.set_defaults(run=cmd_doctor)
