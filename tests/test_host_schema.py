"""Start-up and ``tt-storage doctor`` check the application's own tables (``models=``): a
missing table or column, or a migration of its own not applied, fails at start-up naming the
command to run, and ``doctor`` lists each app."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import tt_storage as tt
from tests.support import database
from tests.test_contract import TORTOISE_RECORDER
from tt_storage.ops import cli
from tt_storage.ops.cli.common import EXIT_OK, EXIT_PROBLEM
from tt_storage.services.storage import Storage

MODELS = ["tests.support.plugin_models"]
NOTES = (
    "CREATE TABLE app_notes (id SERIAL PRIMARY KEY, text TEXT NOT NULL,"
    " user_id BIGINT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE)"
)


async def migrated(fresh: Callable[[], Awaitable[str]], *statements: str) -> str:
    """A new database with tt-storage's migrations, then ``statements``."""
    url = await fresh()
    await tt.ops.apply_migrations(url)
    conn = await database.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()
    return url


async def start_up_error(url: str, **options: object) -> str:
    """What ``init(url, models=MODELS)`` refuses with ("" if it opens)."""
    storage = Storage()
    try:
        await storage.init(url, models=MODELS, max_size=2, **options)  # type: ignore[arg-type]
    except tt.StorageError as exc:
        assert storage.context is None
        return str(exc)
    await storage.close()
    return ""


async def doctor(url: str, *argv: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = await cli.run(["doctor", "--url", url, *argv], out)
    return status, [line for line in out.getvalue().splitlines() if line.startswith("your app")]


async def test_a_missing_table_fails_at_start_up_naming_the_commands(
    fresh: Callable[[], Awaitable[str]],
) -> None:
    url = await migrated(fresh)
    for options in ({}, {"migrate": True}):  # migrate=True migrates tt-storage's tables only
        error = await start_up_error(url, **options)
        assert "app 'models' lacks app_notes" in error, error
        assert "`aerich --app models upgrade`" in error and "`tortoise migrate`" in error
    status, lines = await doctor(url, "--models", MODELS[0])
    assert status == EXIT_PROBLEM
    assert lines == [
        f"your app    MISSING {error.split(': ', 1)[1].removesuffix(' (README: Your own models)')}"
    ]


async def test_a_missing_column_is_named(fresh: Callable[[], Awaitable[str]]) -> None:
    url = await migrated(fresh, NOTES.replace(" text TEXT NOT NULL,", ""))
    assert "lacks app_notes.text:" in await start_up_error(url)


async def test_pending_aerich_migrations_of_the_app(
    fresh: Callable[[], Awaitable[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bot's project: aerich keeps its migrations where its pyproject.toml says.
    (tmp_path / "pyproject.toml").write_text('[tool.aerich]\nlocation = "./db"\n')
    (tmp_path / "db" / "models").mkdir(parents=True)
    for name in ("0_20260101000000_init.py", "1_20260102000000_pinned.py"):
        (tmp_path / "db" / "models" / name).write_text("")
    monkeypatch.chdir(tmp_path)
    url = await migrated(
        fresh,
        NOTES,
        "INSERT INTO aerich (version, app, content) VALUES"
        " ('0_20260101000000_init.py', 'models', '{}')",
    )
    error = await start_up_error(url)
    assert (
        "app 'models' has not applied 1_20260102000000_pinned.py: run `aerich --app models upgrade`"
    ) in error, error
    status, lines = await doctor(url, "--models", MODELS[0])
    assert status == EXIT_PROBLEM and lines[0].startswith("your app    PENDING app 'models'")
    conn = await database.connect(url)
    try:
        await conn.execute(
            "INSERT INTO aerich (version, app, content) VALUES"
            " ('1_20260102000000_pinned.py', 'models', '{}')"
        )
    finally:
        await conn.close()
    assert await start_up_error(url) == ""
    status, lines = await doctor(url, "--models", MODELS[0])
    assert status == EXIT_OK
    assert lines == [
        "your app    ok      models (aerich): 1 table(s), 2 migration(s) applied, none pending"
    ]


async def test_an_app_on_tortoise_migrations_is_told_to_run_them(
    fresh: Callable[[], Awaitable[str]],
) -> None:
    url = await migrated(
        fresh,
        TORTOISE_RECORDER,
        "INSERT INTO tortoise_migrations (app, name, applied_at) VALUES"
        " ('models', '0001_initial', now())",
    )
    error = await start_up_error(url)
    assert "app 'models' lacks app_notes: run `tortoise migrate` (all apps" in error, error


async def test_doctor_reads_the_projects_config(
    fresh: Callable[[], Awaitable[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run in the bot's project: the config its pyproject.toml names gives its models (built
    # for doctor's database: no embedded server is started for it).
    (tmp_path / "pyproject.toml").write_text(
        '[tool.tortoise]\ntortoise_orm = "hostcfg.TORTOISE_ORM"\n'
    )
    (tmp_path / "hostcfg.py").write_text(
        "from tt_storage.core.config import migration_config\n"
        "from tt_storage.core.urls import env_db_url\n"
        "assert env_db_url()\n"
        f"TORTOISE_ORM = migration_config(models={MODELS!r})\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DB_URL", raising=False)
    url = await migrated(fresh, NOTES)
    status, lines = await doctor(url)
    assert status == EXIT_OK
    assert lines == [
        "your app    ok      models (no migration recorded): 1 table(s), 0 migration(s) applied"
    ]
