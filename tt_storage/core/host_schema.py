"""The application's own tables (``models=``), checked against its models: start-up fails fast
naming the command that migrates them, and ``tt-storage doctor`` lists them.

A table or column a model declares and the database lacks is found in one query. Which runner
migrates an app is read from what it recorded (aerich's table, Tortoise's
``tortoise_migrations``); aerich's files on disk are found where aerich finds them (the
``[tool.aerich] location`` of ``./pyproject.toml``), Tortoise's in the app's ``"migrations"``
module when the config names one.
"""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from . import sql
from .app import APP

AERICH = "aerich"
TORTOISE = "tortoise"


@dataclass
class HostApp:
    """One of the application's apps: what its models need and what the database has."""

    label: str
    #: table -> the columns its models declare.
    tables: dict[str, list[str]]
    #: Module of its Tortoise migrations, if the config names one.
    migrations_module: str | None = None
    runner: str | None = None  # who recorded its migrations: AERICH, TORTOISE or None
    applied: list[str] = field(default_factory=list)
    #: Migrations on disk the database lacks; None when they cannot be found from here.
    pending: list[str] | None = None
    missing: list[str] = field(default_factory=list)  # "note" (a table), "note.body" (a column)

    @property
    def fix(self) -> str:
        """The command that migrates this app."""
        if self.runner == AERICH:
            return f"`aerich --app {self.label} upgrade`"
        if self.runner == TORTOISE or self.migrations_module is not None:
            return "`tortoise migrate` (all apps at once, never one alone)"
        return (
            f"`aerich --app {self.label} upgrade` (`init-db` for its first migration), or "
            "`tortoise migrate` with Tortoise's own migrations"
        )

    @property
    def ok(self) -> bool:
        return not self.missing and not self.pending

    def problem(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"lacks {', '.join(self.missing)}")
        if self.pending:
            parts.append(f"has not applied {', '.join(self.pending)}")
        return f"app {self.label!r} " + " and ".join(parts) + f": run {self.fix}"


def declared(apps: Any, config_apps: Mapping[str, Mapping[str, Any]]) -> list[HostApp]:
    """The application's apps in a Tortoise ``Apps`` (tt-storage's left out), with the tables
    and columns of their models (many-to-many tables included)."""
    found = []
    for label, models in apps.items():
        if label == APP:
            continue
        tables: dict[str, list[str]] = {}
        for model in models.values():
            meta = model._meta
            if meta.abstract or getattr(getattr(model, "Meta", None), "managed", None) is False:
                continue
            tables[meta.db_table] = list(meta.fields_db_projection.values())
            for name in meta.m2m_fields:
                m2m = meta.fields_map[name]
                if not getattr(m2m, "_generated", False):
                    tables.setdefault(m2m.through, [m2m.backward_key, m2m.forward_key])
        module = config_apps.get(label, {}).get("migrations")
        found.append(HostApp(label, tables, module))
    return found


async def inspect(conn: asyncpg.Connection, host_apps: list[HostApp]) -> list[HostApp]:
    """Fill in what the database has for each app; return the apps."""
    if not host_apps:
        return host_apps
    wanted = sorted({t for app in host_apps for t in app.tables})
    present: dict[str, set[str]] = {}
    for row in await conn.fetch(sql.HOST_COLUMNS, wanted):
        present.setdefault(row["table_name"], set()).add(row["column_name"])
    labels = [app.label for app in host_apps]
    recorded: dict[tuple[str, str], list[str]] = {}
    for runner, exists, query in (
        (AERICH, sql.AERICH_TABLE_EXISTS, sql.AERICH_APPLIED),
        (TORTOISE, sql.TORTOISE_MIGRATIONS_TABLE_EXISTS, sql.TORTOISE_APPLIED),
    ):
        if await conn.fetchval(exists):
            for row in await conn.fetch(query, labels):
                recorded.setdefault((row["app"], runner), []).append(row["name"])
    for app in host_apps:
        app.missing = [
            table if table not in present else f"{table}.{column}"
            for table, columns in app.tables.items()
            for column in ([None] if table not in present else columns)
            if table not in present or column not in present[table]
        ]
        for runner in (TORTOISE, AERICH):
            if (app.label, runner) in recorded:
                app.runner, app.applied = runner, recorded[(app.label, runner)]
                break
        on_disk = _on_disk(app)
        if on_disk is not None:
            done = set(app.applied)
            app.pending = [name for name in on_disk if name not in done]
    return host_apps


def _on_disk(app: HostApp) -> list[str] | None:
    """The app's migrations where its runner keeps them, in order; None if not found here."""
    if app.migrations_module is not None and app.runner != AERICH:
        try:
            package = importlib.import_module(app.migrations_module)
        except ImportError:
            return None
        return sorted(
            name
            for _, name, is_pkg in pkgutil.iter_modules(getattr(package, "__path__", []))
            if not is_pkg and name[0] not in "_~"
        )
    folder = aerich_location() / app.label
    if app.runner == TORTOISE or not folder.is_dir():
        return None
    return _numbered(p.name for p in folder.glob("*_*.py"))


def _numbered(names: Iterable[str]) -> list[str]:
    found = [n for n in names if n.split("_", 1)[0].isdigit()]
    return sorted(found, key=lambda n: int(n.split("_", 1)[0]))


def aerich_location(pyproject: Path = Path("pyproject.toml")) -> Path:
    """Where aerich, run here, keeps migrations: ``[tool.aerich] location`` (default
    ``./migrations``)."""
    try:
        tool = tomllib.loads(pyproject.read_text("utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        tool = {}
    return Path(tool.get("aerich", {}).get("location", "./migrations"))
