"""``tt-storage``: the operator's command line — stats, series, exports, migrations, adoption, a
health check.

The database is ``--url``, else ``DB_URL``; the embedded PostgreSQL only with ``--embedded``
(without any of them a command exits 2 saying so). A URL is only ever printed with its password
redacted. Progress goes to stderr (a redrawn bar on
a terminal, a line every few seconds otherwise), results to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict
from typing import IO, Any, TextIO

import asyncpg

from ..core import db, sql
from ..core.config import (
    APP,
    DATA_DIR_ENV,
    DB_URL_ENV,
    DEFAULT_DATA_DIR,
    LEGACY_APP,
    connect_kwargs,
    data_dir,
    env_db_url,
    migrations_location,
    packaged_migrations,
    redact_url,
)
from ..core.errors import StorageError
from ..services import analytics
from . import host_check
from ._watch import run_watched

#: The stats bot's windows.
PERIODS = analytics.PERIODS
CHAT_TYPES = ("all", "users", "groups")
EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


# --- progress on stderr -----------------------------------------------------------------------


class ProgressBar:
    """``label [#####.....] 45 % 123/456 note`` redrawn in place on a terminal; on anything else
    (a log, a pipe) one plain line at most every ``interval`` seconds, and the last one."""

    WIDTH = 30

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        interval: float = 5,
    ) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self.started = time.monotonic()
        self.drawn = -1e9
        self.dirty = False

    def update(
        self, done: int, total: int | None = None, note: str = "", force: bool = False
    ) -> None:
        if total is not None:
            self.total = total
        now = time.monotonic()
        if not force and now - self.drawn < (0.1 if self.tty else self.interval):
            return
        self.drawn = now
        line = self._render(done, note, now - self.started)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.dirty = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _render(self, done: int, note: str, elapsed: float) -> str:
        parts = [self.label]
        if self.total:
            ratio = max(0.0, min(1.0, done / self.total))
            filled = int(ratio * self.WIDTH)
            parts.append(f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {ratio * 100:3.0f} %")
            parts.append(f"{done:,}/{self.total:,}")
        else:
            parts.append(f"{done:,}")
        parts.append(f"{elapsed:.1f} s")
        if note:
            parts.append(note)
        return " ".join(parts)

    def finish(self, done: int, note: str = "") -> None:
        self.update(done, note=note, force=True)
        if self.tty and self.dirty:
            self.stream.write("\n")
            self.stream.flush()


# --- formatting -------------------------------------------------------------------------------


def fmt_utc(ts: int, bucket: str = "day") -> str:
    return time.strftime("%Y-%m-%d" if bucket == "day" else "%Y-%m-%d %H:00", time.gmtime(ts))


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


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                str(c).ljust(w) if i < 2 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(value: int, top: int, width: int) -> str:
    """A horizontal bar of ``value`` out of ``top`` in ``width`` cells, to an eighth of a cell."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(value / top * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def render_series(series: Sequence[tuple[int, int]], bucket: str, width: int, title: str) -> str:
    if not series:
        return f"{title}\n(no rows)"
    top = max(n for _, n in series)
    total = sum(n for _, n in series)
    label_width = max(len(f"{n:,}") for _, n in series)
    lines = [f"{title} — total {total:,}, peak {top:,}"]
    for i, (t, n) in enumerate(series):
        mark = "  (so far)" if i == len(series) - 1 else ""
        lines.append(
            f"{fmt_utc(t, bucket)}  {n:>{label_width},}  {bar(n, top, width)}{mark}".rstrip()
        )
    return "\n".join(lines)


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


# --- the commands -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def connected(url: str | None) -> AsyncIterator[None]:
    """A ``Storage`` of the command's own on ``url``, bound for the block: whatever the caller
    (an app, a test running ``run()``) has opened is left alone."""
    from ..services.storage import Storage

    storage = await Storage().init(url, max_size=2)
    try:
        with storage.bound():
            yield
    finally:
        await storage.close()


def shown_url(url: str | None) -> str:
    url = url or env_db_url()
    return redact_url(url) if url else "the embedded PostgreSQL"


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
)


async def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    periods = stats_periods(args.periods)
    results = await collect_stats(args.url, periods)
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
    return EXIT_OK


def stats_periods(text: str) -> list[str]:
    """``--periods``' names; exits naming the first one that is not a window."""
    periods = [p.strip() for p in text.split(",") if p.strip()]
    for p in periods:
        if p not in PERIODS:
            raise SystemExit(f"tt-storage: unknown period {p!r} (use {', '.join(PERIODS)})")
    return periods


async def collect_stats(url: str | None, periods: Sequence[str]) -> list[dict[str, Any]]:
    """The quick stats of each period × chat type, each with its query's time, a bar meanwhile."""
    results: list[dict[str, Any]] = []
    progress = ProgressBar("stats", len(periods) * len(CHAT_TYPES))
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
        )
        for r in results
    ]


async def cmd_series(args: argparse.Namespace, out: TextIO) -> int:
    bucket = args.bucket or ("hour" if 0 < args.period <= PERIODS["week"] else "day")
    async with connected(args.url):
        series = await analytics.get_time_series(args.kind, args.period, bucket)
    what = {"users": "new chats", "videos": "video downloads", "music": "music downloads"}[
        args.kind
    ]
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
    import datetime as dt
    import importlib

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


@contextlib.contextmanager
def output(path: str | None, stdout: TextIO) -> Iterator[TextIO | IO[str]]:
    if path in (None, "-"):
        yield stdout
        return
    assert path is not None
    with open(path, "w", newline="", encoding="utf-8") as f:
        yield f


async def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    async with connected(args.url):
        if args.what == "users":
            estimate = await db.fetch(sql.TABLE_ESTIMATES, ["users"])
            total = estimate[0]["rows"] if estimate else -1
            progress = ProgressBar("chats written", total if total > 0 else None)

            async def run(f: Any) -> int:
                return await analytics.export_users(
                    f, chat_type=args.chat_type, progress=progress.update
                )
        else:
            from ..services.stats import get_user_stats

            user, videos, _ = await get_user_stats(args.user_id)
            if user is None and videos == 0:
                print(
                    f"tt-storage: no chat {args.user_id} (the CSV has a header only)",
                    file=sys.stderr,
                )
            progress = ProgressBar(f"downloads of {args.user_id} written", videos or None)

            async def run(f: Any) -> int:
                return await analytics.export_user_history(
                    args.user_id, f, progress=progress.update
                )

        with output(args.output, out) as f:
            n = await run(f)
    progress.finish(n)
    if args.output not in (None, "-"):
        print(f"wrote {n:,} rows to {args.output}", file=sys.stderr)
    return EXIT_OK


_BLOCKS = re.compile(r"(\d+)/(\d+) blocks")


async def cmd_adopt(args: argparse.Namespace, out: TextIO) -> int:
    from .adopt import adopt_database

    url = args.url or env_db_url()
    if not url:
        print("tt-storage adopt: needs the existing database: --url or DB_URL", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    bars: dict[str, ProgressBar] = {}

    def progress(line: str) -> None:
        # Index builds report "building <name> on <table>: <phase>, done/total blocks (p %)".
        match = _BLOCKS.search(line)
        if line.startswith("building ") and match:
            name = line.split(" ", 2)[1]
            bar_ = bars.setdefault(name, ProgressBar(f"  {name}", int(match[2]), interval=2))
            bar_.update(int(match[1]), int(match[2]), note=line.split(": ", 1)[-1].split(",")[0])
            return
        for name, bar_ in list(bars.items()):
            bar_.finish(bar_.total or 0, note="done")
            del bars[name]
        print(f"[{time.monotonic() - started:7.1f} s] {line}", file=sys.stderr, flush=True)

    try:
        applied = await adopt_database(url, progress=progress)
    except StorageError as exc:
        print(f"tt-storage adopt: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    out.write(("applied: " + ", ".join(applied)) if applied else "nothing to apply")
    out.write("\n")
    return EXIT_OK


# --- migrations and the health check -------------------------------------------------------------

#: How often ``migrate`` looks at aerich's table for newly applied migrations.
MIGRATE_POLL = 0.2
#: What a query on the direct connection may fail with (the server went away, a statement failed).
_LOST = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
#: The commands ``doctor`` names as fixes.
FIX_MIGRATE = "tt-storage migrate"
FIX_ADOPT = "tt-storage adopt"


async def database_url(args: argparse.Namespace) -> str:
    """The command's database: ``--url``, ``DB_URL``, else (``--embedded``) the embedded server,
    started if need be."""
    url: str | None = args.url or env_db_url()
    if url:
        return url
    from ..core.embedded import embedded_url

    return await asyncio.to_thread(embedded_url)


@contextlib.asynccontextmanager
async def direct_connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    """One plain connection to ``url`` with no statement time limit (index builds run for
    minutes on a big table), independent of the library's pool and of the schema's state."""
    try:
        conn = await asyncpg.connect(**connect_kwargs(url), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StorageError(
            f"cannot connect to {redact_url(url)}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        yield conn
    finally:
        await conn.close()


async def applied_migrations(conn: asyncpg.Connection) -> list[str] | None:
    """tt-storage's migrations aerich records as applied (under either label); ``None``
    without an aerich table."""
    if not await conn.fetchval(sql.AERICH_TABLE_EXISTS):
        return None
    rows = await conn.fetch(sql.APPLIED_MIGRATIONS, [APP, LEGACY_APP], packaged_migrations())
    return [r["version"] for r in rows]


def index_builds() -> dict[str, tuple[str, str]]:
    """``name -> (drop statement, create statement)`` of every index a packaged migration builds
    (their ``INDEXES`` and ``DROP_INVALID``): the statements ``migrate`` rebuilds one with."""
    import importlib.util

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
        except _LOST as exc:
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
    from ..core.lifecycle import apply_migrations

    seen = set(await applied_migrations(conn) or [])
    pending = [m for m in packaged_migrations() if m not in seen]
    if pending:
        print(f"{where}: {len(pending)} migration(s) to apply", file=sys.stderr, flush=True)

    async def watch() -> None:
        with contextlib.suppress(*_LOST):
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
    with contextlib.suppress(*_LOST):
        return await applied_migrations(conn) or []
    return []


#: The tables whose sizes ``doctor`` shows.
DOCTOR_TABLES = (
    "users",
    "videos",
    "music",
    "tt_storage_hourly",
    "tt_storage_hourly_state",
    "tt_storage_fsm",
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
    problems += await host_check.report(conn, url, models, line)
    doctor_tables(tables, line)
    if any(r["name"] == "tt_storage_hourly_state" for r in tables):
        await doctor_rollup(conn, line)
    return problems


async def doctor_migrations(
    conn: asyncpg.Connection, url: str, tables: Sequence[asyncpg.Record], line: DoctorLine
) -> tuple[int, str]:
    """The pending migrations' line; the problems found, and the command that fixes them
    (``adopt`` for the seed's tables without any migration recorded, else ``migrate``)."""
    from ..core.lifecycle import pending_migrations

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
    from .adopt import expected_indexes

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


# --- argument parsing -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    url_help = "database URL (default: $DB_URL)"
    embedded_help = (
        f"without --url or ${DB_URL_ENV}: the embedded PostgreSQL (data in ${DATA_DIR_ENV}, "
        f"default {DEFAULT_DATA_DIR}), started if need be"
    )
    parser = argparse.ArgumentParser(
        prog="tt-storage",
        description="tt-storage operator tools: stats, series, exports, migrations, adoption, "
        "a health check.",
    )
    parser.add_argument("--url", help=url_help)
    parser.add_argument("--embedded", action="store_true", help=embedded_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=url_help)
    common.add_argument(
        "--embedded", action="store_true", default=argparse.SUPPRESS, help=embedded_help
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    add_report_commands(sub, common)
    add_database_commands(sub, common)
    return parser


def add_report_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """``stats``, ``series`` and ``export``: what the database holds."""
    p = sub.add_parser("stats", parents=[common], help="quick stats: 24h/week/month/all × chats")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--periods", default=",".join(PERIODS), help="comma-separated (default: %(default)s)"
    )
    p.set_defaults(run=cmd_stats)

    p = sub.add_parser("series", parents=[common], help="new chats or downloads per hour/day")
    p.add_argument("--kind", choices=analytics.SERIES_KINDS, default="videos")
    p.add_argument(
        "--period",
        type=period_seconds,
        default=PERIODS["month"],
        help="24h, week, month, all, or seconds (default: month)",
    )
    p.add_argument(
        "--bucket", choices=tuple(analytics.BUCKETS), help="default: hour up to a week, else day"
    )
    p.add_argument("--width", type=int, default=50, help="bar width in characters")
    p.add_argument("--png", metavar="FILE", help="also save a bar chart (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="the points as JSON instead of a plot")
    p.set_defaults(run=cmd_series)

    p = sub.add_parser("export", parents=[common], help="CSV of the chats or of one chat's history")
    what = p.add_subparsers(dest="what", required=True, metavar="what")
    users = what.add_parser("users", parents=[common], help="every chat")
    users.add_argument("--chat-type", choices=CHAT_TYPES, default="all")
    users.add_argument("-o", "--output", help="file (default: stdout)")
    history = what.add_parser("history", parents=[common], help="one chat's downloads")
    history.add_argument("user_id", type=int)
    history.add_argument("-o", "--output", help="file (default: stdout)")
    p.set_defaults(run=cmd_export)


def add_database_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """``adopt``, ``migrate`` and ``doctor``: the schema and the database's health."""
    p = sub.add_parser(
        "adopt", parents=[common], help="put an existing tt-bot database under aerich"
    )
    p.set_defaults(run=cmd_adopt)

    p = sub.add_parser(
        "migrate",
        parents=[common],
        help="apply tt-storage's pending migrations, rebuild missing or invalid indexes",
    )
    p.set_defaults(run=cmd_migrate)

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


async def run(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Parse ``argv`` and run the command in the running event loop; return the exit status."""
    args = build_parser().parse_args(argv)
    out = stdout if stdout is not None else sys.stdout
    if not (args.url or env_db_url() or args.embedded):
        print(
            f"tt-storage {args.command}: which database? Pass --url "
            f"postgresql://USER:PASSWORD@HOST:5432/DBNAME, or set {DB_URL_ENV}, or --embedded "
            f"for the embedded PostgreSQL (in {data_dir()})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        status: int = await args.run(args, out)
    except StorageError as exc:
        print(f"tt-storage {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """The ``tt-storage`` console script; returns the exit status."""
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tt-storage export users | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
