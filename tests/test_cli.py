"""The tt-storage CLI, run in-process (``cli.run``) against the test database."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.support import database
from tests.test_adoption import make_legacy
from tests.test_analytics import D0, DAY, T, data, frozen_now  # noqa: F401 (fixtures)
from tt_storage.core.app import packaged_migrations
from tt_storage.ops import cli
from tt_storage.ops.cli.output import ProgressBar
from tt_storage.ops.cli.series import period_seconds

pytestmark = pytest.mark.usefixtures("frozen_now")


async def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = await cli.run(list(argv), out)
    return status, out.getvalue()


def cells(text: str, first: str) -> list[str]:
    """The whitespace-separated cells of the first line starting with ``first``."""
    for line in text.splitlines():
        if line.startswith(first):
            return line.split()
    raise AssertionError(f"no line starting with {first!r} in:\n{text}")


@pytest.mark.usefixtures("data")
async def test_stats_json(db_url: str) -> None:
    status, text = await run("stats", "--json", "--url", db_url)
    assert status == 0
    rows = {(r["period"], r["chat_type"]): r for r in json.loads(text)["stats"]}
    assert len(rows) == 12
    day = rows["24h", "all"]
    assert (day["new_chats"], day["videos"], day["video_chats"], day["images"]) == (2, 5, 2, 2)
    assert (day["music"], day["music_chats"]) == (1, 1)
    assert rows["24h", "groups"]["videos"] == 2
    everything = rows["all", "all"]
    assert (everything["new_chats"], everything["videos"], everything["music"]) == (5, 8, 3)
    assert rows["all", "users"]["video_chats"] == 2


@pytest.mark.usefixtures("data")
async def test_stats_table(db_url: str) -> None:
    status, text = await run("--url", db_url, "stats", "--periods", "24h,all")
    assert status == 0
    # ... then the media cache's hits, misses and hit rate: none through it here.
    assert cells(text, "24h") == ["24h", "all", "2", "5", "2", "2", "2", "1", "1", "0", "0", "-"]
    assert cells(text, "        users")[1:] == ["1", "3", "1", "1", "1", "1", "1", "0", "0", "-"]
    assert cells(text, "all ") == ["all", "all", "5", "8", "3", "3", "3", "3", "3", "0", "0", "-"]
    assert "week" not in text


@pytest.mark.usefixtures("data")
async def test_series_plot_and_json(db_url: str) -> None:
    status, text = await run("series", "--url", db_url, "--period", "week", "--bucket", "day")
    assert status == 0
    assert "video downloads per day (UTC), last week — total 7, peak 5" in text
    assert cells(text, "2023-11-15")[:2] == ["2023-11-15", "5"]
    assert text.rstrip().endswith("(so far)")
    assert cells(text, "2023-11-13") == ["2023-11-13", "0"]  # a zero-filled day
    status, text = await run(
        "series", "--url", db_url, "--kind", "users", "--period", "all", "--json"
    )
    points = json.loads(text)
    assert points["bucket"] == "day"  # the default beyond a week
    assert points["series"] == [[D0 - 2 * DAY, 1], [D0 - DAY, 0], [D0, 2]]
    status, text = await run("series", "--url", db_url, "--period", "24h", "--kind", "music")
    assert "music downloads per hour (UTC), last 24h — total 1" in text
    assert cells(text, "2023-11-15 05:00")[2] == "1"


@pytest.mark.usefixtures("data")
async def test_series_png_without_and_with_matplotlib(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    png = tmp_path / "series.png"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails, as when not installed
    status, text = await run("series", "--url", db_url, "--png", str(png))
    assert status == 2 and "2023-11-15" in text and not png.exists()
    assert "--png needs matplotlib" in capsys.readouterr().err

    calls: list[tuple[str, Any]] = []

    class Axes:
        def __getattr__(self, name: str) -> Any:
            return lambda *a, **k: calls.append((name, a))

    class Figure(Axes):
        def savefig(self, path: str) -> None:
            Path(path).write_bytes(b"\x89PNG fake")

    pyplot = types.ModuleType("matplotlib.pyplot")
    pyplot.subplots = lambda **k: (Figure(), Axes())  # type: ignore[attr-defined]
    pyplot.close = lambda fig: None  # type: ignore[attr-defined]
    matplotlib = types.ModuleType("matplotlib")
    matplotlib.use = lambda backend: calls.append(("use", backend))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    status, _ = await run("series", "--url", db_url, "--period", "week", "--png", str(png))
    assert status == 0 and png.read_bytes().startswith(b"\x89PNG")
    bars = next(args for name, args in calls if name == "bar")
    assert sum(bars[1]) == 7  # the week's hourly counts: every timestamped download
    assert ("use", "Agg") in calls


@pytest.mark.usefixtures("data")
async def test_export_users_to_file_and_history_to_stdout(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "users.csv"
    status, text = await run("export", "users", "--url", db_url, "-o", str(target))
    assert status == 0 and text == ""
    rows = list(csv.DictReader(target.open(newline="")))
    assert [r["user_id"] for r in rows] == ["-6", "-5", "1", "2", "3"]
    assert rows[2]["lang"] == "ru" and rows[2]["file_mode"] == "true"
    status, text = await run("export", "users", "--url", db_url, "--chat-type", "groups")
    assert text.splitlines()[1:] == [
        "-6,group,,,en,,false,",
        f"-5,group,{T - 2 * 3600},2023-11-15T03:10:00Z,en,,false,{T - 60}",
    ]
    status, text = await run("export", "history", "2", "--url", db_url)
    assert status == 0
    assert text.splitlines() == [
        "downloaded_at,downloaded_at_utc,video_link,is_images,is_processed,is_inline",
        ",,v,false,false,false",
        f"{T - 3 * DAY},2023-11-12T05:10:00Z,v,false,false,false",
        f"{T - 90_000},2023-11-14T04:10:00Z,v,true,false,true",
    ]


async def test_doctor_healthy(db: asyncpg.Connection, db_url: str) -> None:
    status, text = await run("doctor", "--url", db_url)
    assert status == 0, text
    assert cells(text, "migrations") == ["migrations", "ok", "none", "pending"]
    # 8 declared (the media cache's idx_tt_storage_media_last_used included) + idx_fsm_expiry
    # + migration 9's idx_videos_cache_hit and idx_music_cache_hit
    assert cells(text, "indexes")[:3] == ["indexes", "ok", "11"]
    assert "idx_videos_user_images" in text
    assert "users:" in text and "videos:" in text and "rollup" in text
    assert "tt_storage_fsm:" in text
    assert text.endswith("no problems found\n")


async def test_doctor_reports_a_missing_index(db: asyncpg.Connection, db_url: str) -> None:
    await db.execute('ALTER INDEX "idx_users_link" RENAME TO "idx_users_link_gone"')
    try:
        status, text = await run("doctor", "--url", db_url)
    finally:
        await db.execute('ALTER INDEX "idx_users_link_gone" RENAME TO "idx_users_link"')
    assert status == 1
    assert cells(text, "indexes")[:3] == ["indexes", "MISSING", "idx_users_link:"]
    assert "run `tt-storage migrate` (builds them)" in text
    assert text.endswith("1 problem(s)\n")


async def test_never_prints_a_password(
    db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://someone:hunter2@127.0.0.1:1/nowhere"
    status, text = await run("doctor", "--url", url)
    assert status == 1
    assert "someone:***@127.0.0.1:1/nowhere" in text
    status, _ = await run("stats", "--url", url)
    assert status == 1
    assert "hunter2" not in text + capsys.readouterr().err


async def test_adopt_an_empty_database(admin_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = await database.create_database(admin_url, prefix="tt_storage_cli")
    try:
        status, text = await run("adopt", "--url", url)
        assert status == 0
        assert text.startswith("applied: 0_") and "4_" in text
        err = capsys.readouterr().err
        assert "creating the schema" in err and "indexes valid" in err
        status, text = await run("adopt", "--url", url)
        assert (status, text) == (0, "nothing to apply\n")
    finally:
        await database.drop_database(admin_url, url)


def test_progress_bar_on_a_log_and_on_a_terminal() -> None:
    log = io.StringIO()
    bar = ProgressBar("rows", 200, stream=log, interval=3600)
    bar.update(50)
    bar.update(100)  # within the interval: not shown
    bar.finish(200)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("rows [#######.......................]  25 % 50/200")
    assert lines[1].startswith("rows [##############################] 100 % 200/200")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    bar = ProgressBar("rows", None, stream=tty)
    bar.update(7, force=True)
    bar.finish(9)
    assert tty.getvalue().startswith("\r\x1b[2Krows 7 ")
    assert tty.getvalue().endswith("\n") and "\r\x1b[2Krows 9 " in tty.getvalue()


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["series", "--period", "yesterday"])
    assert exc.value.code == 2
    assert "period must be one of 24h, week, month, all" in capsys.readouterr().err
    assert period_seconds("3600") == 3600 and period_seconds("week") == 604_800


async def test_adopt_shows_index_builds_as_bars(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tt_storage.ops.adopt

    async def fake_adopt(url: str, *, progress: Any) -> list[str]:
        progress("applying migrations")
        progress(
            "building idx_videos_time on videos: building index: scanning table, "
            "10/40 blocks (25 %)"
        )
        progress(
            "building idx_videos_time on videos: building index: scanning table, "
            "40/40 blocks (100 %)"
        )
        progress("done: 7 indexes valid")
        return ["1_x.py"]

    monkeypatch.setattr(tt_storage.ops.adopt, "adopt_database", fake_adopt)
    status, text = await run("adopt", "--url", "postgresql://u:pw@127.0.0.1/x")
    assert (status, text) == (0, "applied: 1_x.py\n")
    err = capsys.readouterr().err
    assert "  idx_videos_time [#######.......................]  25 % 10/40" in err
    assert "  idx_videos_time [##############################] 100 % 40/40" in err
    assert err.index("100 % 40/40") < err.index("done: 7 indexes valid")


# --- which database: never an embedded server unless asked ------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["stats"], ["series"], ["export", "users"], ["doctor"], ["migrate"], ["adopt"]],
)
async def test_no_url_exits_2_saying_how_to_give_one(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TT_STORAGE_DATA_DIR", str(tmp_path / "data"))
    status, text = await run(*argv)
    err = capsys.readouterr().err
    assert (status, text) == (2, "")
    assert "--url" in err and "DB_URL" in err and "--embedded" in err
    assert not os.listdir(tmp_path)  # no embedded server was started here


# --- migrate, and doctor's advice -------------------------------------------------------------


@pytest.fixture
async def fresh_url(admin_url: str) -> AsyncIterator[str]:
    url = await database.create_database(admin_url, prefix="tt_storage_cli")
    yield url
    await database.drop_database(admin_url, url)


async def test_migrate_one_line_per_migration_then_up_to_date(fresh_url: str) -> None:
    status, text = await run("migrate", "--url", fresh_url)
    assert status == 0, text
    lines = text.splitlines()
    applied = [line.split()[1] for line in lines if line.startswith("applied ")]
    assert applied == packaged_migrations() and len(applied) >= 6
    assert lines[-1].startswith("up to date")
    status, text = await run("migrate", "--url", fresh_url)
    assert status == 0
    assert text.startswith("up to date") and "nothing to apply" in text
    assert "applied" not in text


async def test_migrate_failure_exits_1_with_the_reason(
    admin_url: str, fresh_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A role that may connect but not create anything (PostgreSQL 15: schema public is the
    # owner's): the first migration fails on the server.
    role = f"tt_cli_nocreate_{os.getpid()}"
    admin = await database.connect(admin_url)
    await admin.execute(f"DROP ROLE IF EXISTS {role}")
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    await admin.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
    try:
        url = urlunsplit(urlsplit(fresh_url)._replace(netloc=with_user(fresh_url, role)))
        status, text = await run("migrate", "--url", url)
        err = capsys.readouterr().err
        assert status == 1, text + err
        assert "permission denied" in err and "Traceback" not in err
        assert "not applied: 0_" in err and "run `tt-storage migrate` again" in err
    finally:
        await database.drop_database(admin_url, fresh_url)
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


def with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return f"{user}@{parts.netloc.rpartition('@')[2]}"


async def _empty(url: str) -> None:
    """Nothing at all: every migration pending."""


async def _seed_shaped(url: str) -> None:
    """The tables tt-bot's SQLAlchemy layer made, with rows, never under aerich."""
    await make_legacy(url)


async def _missing_index(url: str) -> None:
    await _migrated(url)
    conn = await database.connect(url)
    await conn.execute('DROP INDEX "idx_videos_time"')
    await conn.close()


async def _invalid_index(url: str) -> None:
    """A concurrent build that failed half way: the index exists, INVALID (here a unique build
    meeting duplicates, so it also has another definition than tt-storage's)."""
    await _migrated(url)
    conn = await database.connect(url)
    await conn.execute('DROP INDEX "idx_users_link"')
    await conn.execute(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown)"
        " VALUES (1, 0, 'en', 'same', false, 0, 0), (2, 0, 'en', 'same', false, 0, 0)"
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute('CREATE UNIQUE INDEX CONCURRENTLY "idx_users_link" ON users (link)')
    await conn.close()


async def _migrated(url: str) -> None:
    status, _ = await run("migrate", "--url", url)
    assert status == 0


@pytest.mark.parametrize(
    ("make_problem", "report"),
    [
        (_empty, ("migrations", "PENDING")),
        (_seed_shaped, ("migrations", "PENDING")),
        (_missing_index, ("indexes", "MISSING")),
        (_invalid_index, ("indexes", "INVALID")),
    ],
)
async def test_every_doctor_problem_names_a_command_that_fixes_it(
    make_problem: Callable[[str], Awaitable[None]], report: tuple[str, str], fresh_url: str
) -> None:
    await make_problem(fresh_url)
    status, text = await run("doctor", "--url", fresh_url)
    assert status == 1
    assert cells(text, report[0])[:2] == list(report)
    commands = set(re.findall(r"run `(tt-storage [a-z-]+)`", text))
    assert len(commands) == 1, text  # one fix for everything reported
    command = commands.pop().split()[1:]
    assert command == (["adopt"] if make_problem is _seed_shaped else ["migrate"])
    status, fixed = await run(*command, "--url", fresh_url)
    assert status == 0, fixed
    status, text = await run("doctor", "--url", fresh_url)
    assert status == 0, text
    assert text.endswith("no problems found\n")
    conn = await database.connect(fresh_url)
    try:
        definition = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_users_link'"
        )
    finally:
        await conn.close()
    assert definition is not None and "UNIQUE" not in definition  # tt-storage's own definition


# --- the media cache ------------------------------------------------------------------------


async def test_media_prune_top_stats_and_doctor(
    db: asyncpg.Connection,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tt_storage.services import media, media_stats

    monkeypatch.setattr(media_stats, "now", lambda: T)  # as analytics (frozen_now)

    files = (media.MediaFile("video", "f"),)
    now = int(__import__("time").time())
    for i in range(5):
        await media.store_media(("k", str(i)), 42, "video", files)
    kept = await media.store_media("kept", 42, "video", files)
    for hit in (True, True, False):
        await db.execute(
            "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count,"
            " ad_cooldown, blocked_at) VALUES (1, 0, 'en', NULL, false, 0, 0, NULL)"
            " ON CONFLICT DO NOTHING"
        )
        await db.execute(
            "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
            " is_inline, media_id, cache_hit) VALUES (1, $1, 'v', false, false, false, $2, $3)",
            T - 10,
            kept.media_id,
            hit,
        )
    await db.execute("UPDATE tt_storage_media SET use_count = 3 WHERE key = 'kept'")
    await db.execute(
        "UPDATE tt_storage_media SET last_used_at = $1 WHERE key <> 'kept'", now - 100 * DAY
    )
    status, text = await run("stats", "--json", "--url", db_url)
    day = {(r["period"], r["chat_type"]): r for r in json.loads(text)["stats"]}["24h", "all"]
    assert (day["cache_hits"], day["cache_misses"], day["cache_hit_rate"]) == (2, 1, 2 / 3)
    status, text = await run("stats", "--url", db_url, "--periods", "24h")
    assert cells(text, "24h")[-3:] == ["2", "1", "67%"]
    status, text = await run("media", "top", "--url", db_url, "--limit", "1")
    assert status == 0 and cells(text, "kept") == ["kept", str(kept.media_id), "3"]
    status, text = await run("media", "top", "--json", "--period", "1d", "--url", db_url)
    assert json.loads(text)["top"] == [
        {"media_id": kept.media_id, "key": "kept", "uses": 3, "hits": 2}
    ]
    capsys.readouterr()
    status, text = await run(
        "media", "prune", "--unused-for", "90d", "--batch", "2", "--url", db_url
    )
    assert status == 0, text
    assert text.startswith("pruned 5 media entries unused for 7,776,000 s")
    assert "1 entries and 1 file sets left" in text
    progress = capsys.readouterr().err
    assert "prune" in progress and "5/6" in progress and "entries deleted" in progress
    assert await db.fetchval("SELECT key FROM tt_storage_media") == "kept"
    status, text = await run("doctor", "--url", db_url)
    assert cells(text, "media")[:3] == ["media", "ok", "cache:"]


@pytest.mark.parametrize("given", ["90", "5x", "d", "-1d", "1.5h"])
def test_media_prune_rejects_a_bad_duration(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tt_storage.ops.cli.media import duration

    if given == "90":
        assert duration(given) == 90
        return
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["media", "prune", f"--unused-for={given}"])
    assert exited.value.code == 2
    assert "is not a duration" in capsys.readouterr().err
