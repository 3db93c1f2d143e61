"""tt_storage.testing for a bot developer: the README's example test runs as written through
the installed pytest plugin; the plugin loads nothing until a fixture is used; fresh databases
are migrated and dropped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg

import tt_storage
from tests.support import database
from tt_storage.testing import fresh_database

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Testing your bot", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's 'Testing your bot' has no python example"
    return match.group(1)


def test_the_readmes_example_test_passes_as_a_user_runs_it(tmp_path: Path, admin_url: str) -> None:
    (tmp_path / "test_bot.py").write_text(readme_example(), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "test_bot.py",
        ],
        cwd=tmp_path,
        env={**os.environ, database.ADMIN_ENV: admin_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def loaded_after(code: str) -> set[str]:
    script = (
        f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(done.stdout.split())


def test_the_plugin_and_the_package_load_nothing_more_than_tt_storage() -> None:
    baseline = loaded_after("import tt_storage, pytest")
    loaded = loaded_after("import tt_storage.testing, tt_storage.testing.pytest_plugin")
    assert not loaded & {"aiogram", "aiohttp", "aerich"}
    assert loaded - baseline <= {"pytest_asyncio"}


async def test_fresh_database_is_migrated_then_dropped(admin_url: str) -> None:
    async with fresh_database(admin_url, prefix="tt_storage_fresh") as url:
        assert await tt_storage.ops.pending_migrations(url) == []
        conn = await database.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
        finally:
            await conn.close()
    admin = await database.connect(admin_url)
    try:
        gone = await admin.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", database.database_name(url)
        )
    finally:
        await admin.close()
    assert gone == 0


async def test_fresh_database_without_migrations_is_empty(admin_url: str) -> None:
    async with fresh_database(admin_url, migrate=False) as url:
        conn = await database.connect(url)
        try:
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            )
        finally:
            await conn.close()
    assert tables == 0
    assert isinstance(url, str) and not isinstance(url, asyncpg.Connection)
