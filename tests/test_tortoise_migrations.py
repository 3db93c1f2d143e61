"""tt-storage's migrations through Tortoise's own runner (``tt_storage.ops.tortoise_migrations``):
the same list as the aerich files (a new file is picked up as is), the same schema as aerich
makes, and each runner sees what the other applied."""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from tortoise.migrations.graph import MigrationKey
from tortoise.migrations.loader import MigrationLoader
from tortoise.migrations.recorder import MigrationRecorder

import tt_storage
from tests.support import database
from tests.support.schema_dump import difference, schema_of
from tt_storage.core import app
from tt_storage.core.app import APP
from tt_storage.core.config import TORTOISE_MIGRATIONS, migration_config
from tt_storage.core.migration_steps import in_fresh_context


def aerich_files() -> list[str]:
    return [name.removesuffix(".py") for name in app.packaged_migrations()]


def tortoise_migrations() -> dict[MigrationKey, object]:
    """What Tortoise's loader reads from tt-storage's app."""
    loader = MigrationLoader({APP: {"migrations": TORTOISE_MIGRATIONS}}, MigrationRecorder(None))
    loader.load_disk()
    return dict(loader.disk_migrations)


def test_one_tortoise_migration_per_aerich_file_in_order() -> None:
    names = aerich_files()
    found = tortoise_migrations()
    assert sorted(key.name for key in found) == sorted(names)
    for index, name in enumerate(names):
        migration = found[MigrationKey(APP, name)]
        assert migration.dependencies == ([(APP, names[index - 1])] if index else [])  # type: ignore[attr-defined]
        # Outside a transaction exactly where aerich runs the file outside one (index builds).
        text = (app.migrations_location() / APP / f"{name}.py").read_text()
        assert migration.atomic == ("RUN_IN_TRANSACTION = False" not in text)  # type: ignore[attr-defined]


def test_a_new_aerich_file_is_picked_up_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another migration lands in migrations/tt_storage/: nothing else to write.
    shutil.copytree(app.migrations_location(), tmp_path / "migrations")
    names = aerich_files()
    added = f"{len(names)}_20991231000000_later"
    (tmp_path / "migrations" / APP / f"{added}.py").write_text(
        "RUN_IN_TRANSACTION = True\n\n\nasync def upgrade(db):\n    return 'SELECT 1'\n"
    )
    monkeypatch.setattr(app, "migrations_location", lambda: tmp_path / "migrations")
    package = importlib.import_module(TORTOISE_MIGRATIONS)
    try:
        importlib.reload(package)
        found = tortoise_migrations()
        assert sorted(k.name for k in found) == sorted([*names, added])
        assert found[MigrationKey(APP, added)].dependencies == [(APP, names[-1])]  # type: ignore[attr-defined]
    finally:
        monkeypatch.undo()
        importlib.reload(package)


async def tortoise_migrate(url: str) -> None:
    """``tortoise migrate`` with tt-storage only (no app of the application's own)."""
    from tortoise import Tortoise
    from tortoise.migrations.api.migrate import migrate

    async def work() -> None:
        try:
            await migrate(config=migration_config(url, migrations={}))
        finally:
            await Tortoise.close_connections()

    await in_fresh_context(work)


def without_tortoise_table(schema: list[str]) -> list[str]:
    return [line for line in schema if "tortoise_migrations" not in line]


async def test_same_schema_as_aerich_and_each_runner_sees_the_other(
    fresh: Callable[[], Awaitable[str]],
) -> None:
    by_aerich, by_tortoise = await fresh(), await fresh()
    await tt_storage.ops.apply_migrations(by_aerich)
    await tortoise_migrate(by_tortoise)
    expected = await schema_of(by_aerich)
    got = await schema_of(by_tortoise)
    assert difference(expected, without_tortoise_table(got)) == ""
    assert any(line.startswith("column | tortoise_migrations |") for line in got)
    # aerich finds nothing to do after Tortoise's runner, and the library starts on it.
    assert await tt_storage.ops.pending_migrations(by_tortoise) == []
    assert await tt_storage.ops.apply_migrations(by_tortoise) == []
    # Tortoise's runner on a database aerich migrated: records each migration, runs none.
    await tortoise_migrate(by_aerich)
    assert difference(expected, without_tortoise_table(await schema_of(by_aerich))) == ""
    conn = await database.connect(by_aerich)
    try:
        recorded = await conn.fetch("SELECT name FROM tortoise_migrations WHERE app = $1", APP)
    finally:
        await conn.close()
    assert sorted(r["name"] for r in recorded) == sorted(aerich_files())


def test_the_config_names_each_apps_migrations() -> None:
    url = "postgresql://u@h/db"
    apps = migration_config(url, models=["mybot.models"], migrations="mybot.migrations")["apps"]
    assert apps[APP]["migrations"] == TORTOISE_MIGRATIONS
    assert apps["models"]["migrations"] == "mybot.migrations"
    two = {"bot": ["mybot.models"], "shop": ["shop.models"]}
    apps = migration_config(url, models=two, migrations={"bot": "mybot.migrations"})["apps"]
    assert apps["bot"]["migrations"] == "mybot.migrations" and "migrations" not in apps["shop"]
    assert "migrations" not in migration_config(url, models=two)["apps"][APP]
    for wrong in ({"nope": "x.migrations"}, {APP: "x.migrations"}, {"bot": ["x"]}):
        with pytest.raises(ValueError, match="is not one of your apps"):
            migration_config(url, models=two, migrations=wrong)  # type: ignore[arg-type]
