"""The benchmark suite still runs: every row, a few operations each. No timing is checked."""

from __future__ import annotations

import asyncpg
import pytest

pytest.importorskip("sqlalchemy")

from benchmarks.suite import IMPLS, Config, render, run_suite


async def test_benchmark_machinery_runs(db_url: str, db: asyncpg.Connection) -> None:
    try:
        report = await run_suite(db_url, Config.tiny())
    finally:
        # The suite leaves its chats and downloads behind; later tests expect empty tables.
        await db.execute("TRUNCATE users, videos, music RESTART IDENTITY CASCADE")
    assert [row.key for row in report.rows] == [
        "miss",
        "hit",
        "new",
        "download",
        "music",
        "toggle",
        "throughput",
    ]
    for row in report.rows:
        for impl in IMPLS:
            assert row.samples[impl], (row.key, impl)
            assert all(value > 0 for value in row.samples[impl])
    assert not [check for check in report.checks if check.startswith("FAILED")], report.checks
    assert report.cache_bytes_per_chat > 0
    table = render(report)
    assert "| (a) raw asyncpg | (b) seed SQLAlchemy | (c) tt-storage |" in table
    assert table.count("[ok]") + table.count("[MISSED]") == 4


async def test_fsm_benchmark_machinery_runs(db_url: str, db: asyncpg.Connection) -> None:
    from benchmarks.fsm import IMPLS as FSM_IMPLS
    from benchmarks.fsm import render_fsm, run_fsm_suite

    try:
        report = await run_fsm_suite(rounds=1, per_round=2)
    finally:
        await db.execute("TRUNCATE users, videos, music, tt_storage_fsm CASCADE")
    if report.skipped is not None:
        pytest.skip(report.skipped)
    assert len(report.rows) == 11
    for row in report.rows:
        for impl in FSM_IMPLS:
            assert row.samples[impl] and all(value > 0 for value in row.samples[impl])
    assert render_fsm(report).count("\n| ") == 12  # header + 11 rows


async def test_media_benchmark_machinery_runs(db_url: str, db: asyncpg.Connection) -> None:
    from benchmarks.media import IMPLS as MEDIA_IMPLS
    from benchmarks.media import render_media, run_media_suite

    try:
        rows = await run_media_suite(db_url, rounds=1, per_round=2, warmup=1)
    finally:
        await db.execute("TRUNCATE users, videos, music, tt_storage_media CASCADE")
    assert len(rows) == 3
    for row in rows:
        for impl in MEDIA_IMPLS:
            assert row.samples[impl] and all(value > 0 for value in row.samples[impl])
    table = render_media(rows)
    assert table.count("\n| ") == 4 and table.count("[ok]") + table.count("[MISSED]") == 1


async def test_media_dispatch_benchmark_runs(db_url: str, db: asyncpg.Connection) -> None:
    from benchmarks.media_dispatch import IMPLS as MEDIA_IMPLS
    from benchmarks.media_dispatch import render_media, run_media_suite

    row = await run_media_suite(rounds=1, per_round=2, warmup=1)
    for impl in MEDIA_IMPLS:
        assert row.samples[impl] and all(value > 0 for value in row.samples[impl])
    hits = await db.fetchval("SELECT count(*) FROM videos WHERE cache_hit")
    plain = await db.fetchval("SELECT count(*) FROM videos WHERE cache_hit IS NULL")
    assert hits == plain == 3  # both bots recorded every update; the cached one as hits
    assert render_media(row).count("\n| ") == 2  # header + 1 row
