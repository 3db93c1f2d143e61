"""tt-storage's migrations for Tortoise's own runner (``tortoise migrate``): the app
``tt_storage``'s ``"migrations"`` module (``migration_config(migrations=…)`` sets it).

One Tortoise migration per aerich file tt-storage ships, made from that file when this package
is imported: the aerich files stay the only history, so a new one is picked up as it lands.
Each runs its file's ``upgrade`` exactly as aerich does and records it in aerich's table too, so
a database migrated by one runner is seen as migrated by the other. The first also declares
tt-storage's models to Tortoise's migration state: your migrations' keys to ``Users`` resolve,
and ``tortoise makemigrations`` finds nothing to do for tt-storage.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tortoise.migrations.migration import Migration
from tortoise.migrations.operations import TortoiseOperation
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import ModelState, State

from ...core import sql
from ...core.app import APP, migrations_location, packaged_migrations


class DeclareModels(TortoiseOperation):
    """tt-storage's models, as installed, into the migration state (no SQL)."""

    def describe(self) -> str:
        return "Declare tt-storage's models (their tables are made by the SQL that follows)"

    def state_forward(self, app_label: str, state: State) -> None:
        from tortoise import Tortoise

        apps = Tortoise.apps
        models = apps[app_label] if apps is not None and app_label in apps else None
        if not models:
            raise RuntimeError(f"Tortoise has no app {app_label!r}: run this through Tortoise")
        for model in models.values():
            state.models[(app_label, model.__name__)] = ModelState.make_from_model(app_label, model)
        state.reload_models([(app_label, model.__name__) for model in models.values()])


class RunAerichMigration(TortoiseOperation):
    """One of tt-storage's aerich files: its ``upgrade(db)`` and aerich's row for it, unless
    aerich's table already has that row (applied by aerich: then nothing runs)."""

    def __init__(self, version: str, module: ModuleType) -> None:
        self.version, self.module = version, module

    def describe(self) -> str:
        return f"Apply tt-storage's migration {self.version} (as aerich does)"

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is None:
            return
        if state_editor.collect_sql:  # sqlmigrate: upgrade() may run statements itself
            state_editor.collected_sql.append(f"-- upgrade() of {self.module.__file__}")
            return
        client = state_editor.client
        if await _recorded(client, self.version):
            return
        statements: str = await self.module.upgrade(client)
        if statements.strip():
            await client.execute_script(statements)
        await client.execute_query(sql.RECORD_AERICH_ROW, [self.version, APP, _state(self.module)])


async def _recorded(client: Any, version: str) -> bool:
    _, rows = await client.execute_query(sql.AERICH_TABLE_EXISTS)
    if not next(iter(rows[0].values())):
        return False
    _, rows = await client.execute_query(sql.AERICH_ROW_EXISTS, [version, APP])
    return bool(next(iter(rows[0].values())))


def _state(module: ModuleType) -> str:
    from aerich.utils import decompress_dict

    compressed = getattr(module, "MODELS_STATE", None)
    return json.dumps(decompress_dict(compressed) if compressed else {})


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_tt_storage_aerich_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _register() -> list[str]:
    """A module with a ``Migration`` per aerich file, under this package; their names in order."""
    folder = migrations_location() / APP
    names = [name.removesuffix(".py") for name in packaged_migrations()]
    for index, name in enumerate(names):
        aerich_file = _load(folder / f"{name}.py")
        operations: list[Any] = [DeclareModels()] if index == 0 else []
        operations.append(RunAerichMigration(f"{name}.py", aerich_file))
        migration = type(
            "Migration",
            (Migration,),
            {
                "dependencies": [(APP, names[index - 1])] if index else [],
                "operations": operations,
                "initial": index == 0,
                # Index builds run CONCURRENTLY, statement by statement: outside a transaction.
                "atomic": bool(getattr(aerich_file, "RUN_IN_TRANSACTION", True)),
            },
        )
        module = ModuleType(f"{__name__}.{name}", aerich_file.__doc__)
        module.Migration = migration  # type: ignore[attr-defined]
        sys.modules[module.__name__] = module
    return names


#: Tortoise's loader lists this package's migrations in ``__path__``: the aerich files' folder,
#: whose every file has its module registered above.
__path__ = [str(migrations_location() / APP)]
MIGRATIONS = _register()
