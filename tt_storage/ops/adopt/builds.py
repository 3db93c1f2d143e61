"""Progress while adopting: each line logged and handed to the caller's callback, and the index
builds PostgreSQL reports (``pg_stat_progress_create_index``) turned into such lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

log = logging.getLogger("tt_storage")

Progress = Callable[[str], None]


#: How often the index builds are looked at, and how often an unchanged phase is re-reported.
POLL_INTERVAL = 0.1
PROGRESS_INTERVAL = 2.0


SELECT_INDEX_BUILDS = (
    "SELECT p.pid, ic.relname::text AS index_name, t.relname::text AS table_name,"
    " p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,"
    " p.lockers_done, p.lockers_total "
    "FROM pg_stat_progress_create_index p "
    "LEFT JOIN pg_class ic ON ic.oid = p.index_relid "
    "LEFT JOIN pg_class t ON t.oid = p.relid "
    "WHERE p.datname = current_database() AND p.pid <> pg_backend_pid()"
    " AND t.relname = ANY($1::text[]) "
    "ORDER BY p.pid"
)


class Reporter:
    """Logs every line; hands it to ``progress`` too, which may fail without stopping anything."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def __call__(self, message: str) -> None:
        log.info("adopt: %s", message)
        if self._progress is None:
            return
        try:
            self._progress(message)
        except Exception:
            log.exception("adopt: the progress callback failed; no more progress is reported")
            self._progress = None


@dataclass(slots=True)
class _Build:
    phase: str = ""
    reported_at: float = 0.0
    numbers: tuple[int, ...] = ()


class BuildWatcher:
    """Turns ``pg_stat_progress_create_index`` rows into progress lines."""

    def __init__(self, report: Reporter) -> None:
        self._report = report
        self._builds: dict[tuple[int, str], _Build] = {}

    def update(self, rows: Sequence[asyncpg.Record]) -> None:
        now = time.monotonic()
        for r in rows:
            table = r["table_name"] or "?"
            name = r["index_name"] or f"an index on {table}"
            key = (r["pid"], name)
            numbers = tuple(
                r[k] or 0 for k in ("blocks_done", "blocks_total", "lockers_done", "lockers_total")
            )
            build = self._builds.setdefault(key, _Build())
            changed_phase = r["phase"] != build.phase
            if not changed_phase and (
                numbers == build.numbers or now - build.reported_at < PROGRESS_INTERVAL
            ):
                continue
            build.phase, build.reported_at, build.numbers = r["phase"], now, numbers
            self._report(_describe(name, table, r))


def _describe(name: str, table: str, r: asyncpg.Record) -> str:
    line = f"building {name} on {table}: {r['phase']}"
    blocks_done, blocks_total = r["blocks_done"] or 0, r["blocks_total"] or 0
    lockers_done, lockers_total = r["lockers_done"] or 0, r["lockers_total"] or 0
    if blocks_total:
        line += f", {blocks_done}/{blocks_total} blocks ({100 * blocks_done // blocks_total} %)"
    elif r["tuples_total"]:
        line += f", {r['tuples_done'] or 0}/{r['tuples_total']} tuples"
    if lockers_total:
        line += f", {lockers_total - lockers_done} transaction(s) still to finish"
    return line
