"""aerich's CLI taught tt-storage's migrations: five patches of aerich's classes and module,
installed once by ``teach_aerich`` (``config.migration_config`` does it), with ``migrate``'s two
of ``aerich_migrate``; what they change and why: its docstring, and each patch's. aerich itself
is imported inside the functions: it costs ~0.4 s, which ``import tt_storage`` does not pay.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FunctionType
from typing import Any

from tortoise import Tortoise

from .app import APP, migrations_location
from .migration_steps import in_fresh_context, relabel_migrations, upgrade


def teach_aerich() -> None:
    """Make aerich's CLI treat the ``tt_storage`` app as a dependency of the others.

    Installed by ``migration_config`` (what ``[tool.aerich] tortoise_orm`` names); nothing
    changes for an app unless tt-storage's models are in the same config:

    * **Where tt-storage's migrations are.** aerich reads an app's migrations from
      ``<location>/<app>`` of the project it runs in, a filesystem path; tt-storage's ship in
      the package (site-packages). Without a ``<location>/tt_storage`` of the project's own,
      aerich is pointed at the packaged ones: ``aerich upgrade`` needs no site-packages path.
    * **Old rows.** Before aerich looks at the ``tt_storage`` app's rows, those an earlier
      version recorded under the label ``"models"`` are relabelled (idempotent).
    * **tt-storage first.** ``aerich --app <yours> init-db`` and ``upgrade`` first apply
      tt-storage's pending migrations (your tables have keys to ``users``), and the first
      migration ``init-db`` writes for your app leaves tt-storage's tables out (aerich
      would otherwise copy every model on the connection into it).
    * **Keys to tt-storage's models.** ``aerich --app <yours> migrate`` resolves them
      (``aerich_migrate``).
    """
    import aerich  # on use: see the module's docstring
    from aerich.migrate import Migrate

    from .aerich_migrate import teach_migrate

    if getattr(Migrate, "tt_storage_taught", False):
        return
    _find_packaged_migrations(Migrate)
    _relabel_on_init(Migrate)
    _tt_storage_before_upgrade(aerich.Command)
    _tt_storage_before_init_db(aerich.Command)
    _leave_tt_storage_out_of_first_migration(aerich, Migrate)
    teach_migrate()
    Migrate.tt_storage_taught = True  # type: ignore[attr-defined]


def _find_packaged_migrations(migrate: Any) -> None:
    """``Migrate.get_migration_dir``: tt-storage's own migrations, from the package."""
    original = migrate.get_migration_dir

    def get_migration_dir(location: str, app: str) -> Path:
        found: Path = original(location, app)
        if app == APP and not found.exists():
            return migrations_location() / APP
        return found

    migrate.get_migration_dir = staticmethod(get_migration_dir)


def _relabel_on_init(migrate: Any) -> None:
    """``Migrate.init``: tt-storage's rows relabelled before aerich reads them."""
    original = migrate.init.__func__

    async def init(
        cls: type[Any], config: dict[str, Any], app: str, location: str, offline: bool = False
    ) -> None:
        if app == APP and not offline:
            await _relabel(config)
        await original(cls, config, app, location, offline)

    migrate.init = classmethod(init)


def _tt_storage_before_upgrade(command: Any) -> None:
    """``Command.upgrade`` of another app: tt-storage's pending migrations first."""
    original = command.upgrade

    async def upgrade(self: Any, run_in_transaction: bool = True, fake: bool = False) -> list[str]:
        if self.app != APP and not fake and APP in self.tortoise_config.get("apps", {}):
            await _tt_storage_first(self.tortoise_config)
        applied: list[str] = await original(self, run_in_transaction, fake)
        return applied

    command.upgrade = upgrade


def _tt_storage_before_init_db(command: Any) -> None:
    """``Command._do_init`` (``init-db``) of another app: tt-storage's pending migrations first."""
    original = command._do_init

    async def do_init(
        self: Any, safe: bool, pre_sql: str | None = None, offline: bool = False
    ) -> bool:
        if not offline and self.app != APP and APP in self.tortoise_config.get("apps", {}):
            await _tt_storage_first(self.tortoise_config)
        done: bool = await original(self, safe, pre_sql, offline)
        return done

    command._do_init = do_init


def _leave_tt_storage_out_of_first_migration(aerich: Any, migrate: Any) -> None:
    """``aerich.get_schema_sql``: another app's first migration without tt-storage's tables."""
    original = aerich.get_schema_sql

    def get_schema_sql(client: Any, safe: bool) -> str:
        schema: str = original(client, safe)
        if migrate.app == APP:
            return schema
        # The first migration of another app: every model on the connection but tt-storage's.
        generator = client.schema_generator(client)
        for model in _tt_storage_models():
            if model._meta.db is client:
                part = generator._get_table_sql(model, safe)["table_creation_string"]
                schema = schema.replace(part + "\n", "", 1).replace(part, "", 1)
        return schema

    aerich.get_schema_sql = get_schema_sql


def _tt_storage_models() -> list[type[Any]]:
    apps = Tortoise.apps
    return [] if apps is None or APP not in apps else list(apps[APP].values())


async def _relabel(config: dict[str, Any]) -> None:
    from aerich._compat import is_tortoise_inited  # on use: see the module's docstring
    from aerich.utils import get_app_connection

    if not is_tortoise_inited():
        await Tortoise.init(config=config)
    async with get_app_connection(config, APP).acquire_connection() as conn:
        await relabel_migrations(conn)


async def _tt_storage_first(config: dict[str, Any]) -> None:
    """Apply tt-storage's pending migrations (in a Tortoise context of their own), leaving
    aerich's class-level state as the caller's command had it."""
    from aerich.migrate import Migrate  # on use: see the module's docstring

    saved = {
        k: v
        for k, v in vars(Migrate).items()
        if not k.startswith("__")
        and not isinstance(v, (FunctionType, classmethod, staticmethod, property))
    }
    try:
        applied: list[str] = await in_fresh_context(upgrade, config)
    finally:
        for key in [k for k in vars(Migrate) if k not in saved and not k.startswith("__")]:
            if not isinstance(vars(Migrate)[key], (FunctionType, classmethod, staticmethod)):
                delattr(Migrate, key)
        for key, value in saved.items():
            setattr(Migrate, key, value)
    for name in applied:
        print(f"tt-storage: applied {name}", file=sys.stderr)
