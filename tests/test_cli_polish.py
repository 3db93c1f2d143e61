"""The CLI's active-chat figures, ``forget``, and its output polish: no progress on stderr with
``--json``, one last progress line, a sane default bucket, adopt naming only its migrations."""

from __future__ import annotations

import io
import json

import asyncpg
import pytest

import tt_storage as tt
from tests.support import database
from tests.test_analytics import D0, DAY, HOUR, T, data, frozen_now  # noqa: F401 (fixtures)
from tt_storage.ops import cli

pytestmark = pytest.mark.usefixtures("frozen_now")


async def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = await cli.run(list(argv), out)
    return status, out.getvalue()


async def add_activity(db: asyncpg.Connection) -> None:
    """Chats 1 and 2 active today, 2 and -5 yesterday (1 registered today: new)."""
    await db.executemany(
        "INSERT INTO tt_storage_activity (day, chat_id, registered_at, previous_day)"
        " VALUES ($1, $2, $3, $4)",
        [
            (D0, 1, T - 100, None),
            (D0, 2, T - 2 * DAY, D0 - DAY),
            (D0 - DAY, 2, T - 2 * DAY, None),
            (D0 - DAY, -5, T - 2 * HOUR, None),
        ],
    )


@pytest.mark.usefixtures("data")
async def test_stats_json_has_the_active_chats_and_no_progress(
    db: asyncpg.Connection, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_activity(db)
    capsys.readouterr()
    status, text = await run("stats", "--json", "--url", db_url)
    assert status == 0
    assert capsys.readouterr().err == ""  # nothing on stderr: the JSON is the output
    rows = {(r["period"], r["chat_type"]): r for r in json.loads(text)["stats"]}
    day = rows["24h", "all"]
    assert (day["active_chats"], day["new_active_chats"], day["returning_chats"]) == (2, 1, 1)
    assert (day["previous_active_chats"], day["retained_chats"], day["retention"]) == (2, 1, 0.5)
    assert rows["all", "all"]["active_chats"] == 3 and rows["all", "all"]["retention"] is None


@pytest.mark.usefixtures("data")
async def test_stats_table_shows_the_active_chats(db: asyncpg.Connection, db_url: str) -> None:
    await add_activity(db)
    status, text = await run("stats", "--url", db_url, "--periods", "24h,all")
    assert status == 0
    active = text[text.index("Active chats") :]
    line = next(x for x in active.splitlines() if x.startswith("24h"))
    assert line.split() == ["24h", "all", "2", "1", "1", "50%", "(1/2)"]
    line = next(x for x in active.splitlines() if x.startswith("all"))
    assert line.split() == ["all", "all", "3", "-", "-", "-"]


@pytest.mark.usefixtures("data")
async def test_series_default_bucket_per_period_and_active_kind(
    db: asyncpg.Connection, db_url: str
) -> None:
    await add_activity(db)
    buckets = {}
    for period in ("24h", "week", "month", "all"):
        status, text = await run("series", "--url", db_url, "--period", period, "--json")
        assert status == 0
        buckets[period] = json.loads(text)
    assert buckets["24h"]["bucket"] == "hour" and len(buckets["24h"]["series"]) == 25
    assert buckets["week"]["bucket"] == "day" and len(buckets["week"]["series"]) == 8
    assert buckets["month"]["bucket"] == "day"
    status, text = await run("series", "--url", db_url, "--kind", "active", "--period", "week")
    assert status == 0
    assert "active chats per day (UTC), last week — total 4, peak 2" in text
    status, text = await run(
        "series", "--url", db_url, "--kind", "returning", "--period", "24h", "--json"
    )
    assert json.loads(text)["bucket"] == "day"  # active chats are recorded per day only
    # Yesterday: 2 (registered the day before; -5's registration is later); today: 2 (1 is new).
    assert json.loads(text)["series"] == [[D0 - DAY, 1], [D0, 1]]


@pytest.mark.usefixtures("data")
async def test_export_prints_its_last_progress_line_once(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    status, _ = await run("export", "users", "--url", db_url)
    assert status == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("chats written")]
    assert len(lines) == 1, lines
    assert " 5/" in lines[0] or lines[0].startswith("chats written 5 ")


async def test_forget_asks_for_yes_then_removes_the_chat(
    db: asyncpg.Connection, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await tt.register_user(77, "uk")
    await tt.add_video(77, "https://t/1", False, False)
    status, text = await run("forget", "77", "--url", db_url)
    assert (status, text) == (2, "")
    assert "--yes" in capsys.readouterr().err
    assert await tt.get_user(77) is not None  # nothing removed
    status, text = await run("forget", "77", "--yes", "--url", db_url)
    assert status == 0
    assert text == "chat 77 forgotten: 1 users, 1 videos (rows removed)\n"
    assert await tt.get_user(77) is None
    status, text = await run("forget", "77", "--yes", "--json", "--url", db_url)
    assert json.loads(text)["total"] == 0


async def test_adopt_names_only_its_own_migrations(
    admin_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The host app's own aerich rows (label "models", aerich's default) are not tt-storage's."""
    url = await database.create_database(admin_url, prefix="tt_storage_cli")
    try:
        assert (await run("adopt", "--url", url))[0] == 0
        conn = await database.connect(url)
        try:
            await conn.execute(
                "INSERT INTO aerich (version, app, content) VALUES"
                " ('0_20240101000000_host_init.py', 'models', '{}')"
            )
        finally:
            await conn.close()
        capsys.readouterr()
        status, text = await run("adopt", "--url", url)
        assert (status, text) == (0, "nothing to apply\n")
        err = capsys.readouterr().err
        assert "already under aerich" in err and "host_init" not in err
    finally:
        await database.drop_database(admin_url, url)
