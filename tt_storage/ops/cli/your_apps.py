"""``tt-storage doctor``'s lines about the application's own apps: their tables and columns
against their models, and their pending migrations (``tt_storage.core.host_schema``).

The models are ``--models`` if given, else those of the config that ``./pyproject.toml`` names
for aerich or Tortoise (``[tool.aerich]`` / ``[tool.tortoise]`` ``tortoise_orm``): run in
the bot's project, ``doctor`` needs no argument.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from ...core import host_schema
from ...core.config import tortoise_config
from ...core.migration_steps import in_fresh_context
from ...core.urls import DB_URL_ENV

#: ``line(topic, status, text)``, as ``doctor`` writes them.
Line = Callable[[str, str, str], None]
TOPIC = "your app"


def project_config(url: str, pyproject: Path = Path("pyproject.toml")) -> dict[str, Any] | None:
    """The Tortoise config ``pyproject.toml`` names (``tortoise_orm = "pkg.module.NAME"``),
    imported from the current directory with ``DB_URL`` set to ``url`` (a config built
    without one would start the embedded server); None if it names none."""
    try:
        tool = tomllib.loads(pyproject.read_text("utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    dotted = tool.get("aerich", {}).get("tortoise_orm") or tool.get("tortoise", {}).get(
        "tortoise_orm"
    )
    if not dotted or "." not in dotted:
        return None
    module, _, name = dotted.rpartition(".")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    before = os.environ.get(DB_URL_ENV)
    os.environ[DB_URL_ENV] = url
    try:
        config: dict[str, Any] = getattr(importlib.import_module(module), name)
    finally:
        if before is None:
            del os.environ[DB_URL_ENV]
        else:
            os.environ[DB_URL_ENV] = before
    return config


async def host_apps(url: str, models: Sequence[str] | None) -> list[host_schema.HostApp]:
    """The application's apps, from ``models`` or the project's config (see the module)."""
    config = tortoise_config(url, models=list(models)) if models else project_config(url)
    if config is None:
        return []

    async def declared() -> list[host_schema.HostApp]:
        from tortoise import Tortoise

        await Tortoise.init(config=config, init_connections=False)
        return host_schema.declared(Tortoise.apps or {}, config["apps"])

    found: list[host_schema.HostApp] = await in_fresh_context(declared)
    return found


async def report(
    conn: asyncpg.Connection, url: str, models: Sequence[str] | None, line: Line
) -> int:
    """A line per application app; the problems found."""
    try:
        apps = await host_apps(url, models)
    except Exception as exc:  # their code: an import error, a bad config
        line(TOPIC, "ERROR", f"cannot load your models: {type(exc).__name__}: {exc}")
        return 1
    problems = 0
    for app in await host_schema.inspect(conn, apps):
        runner = app.runner or "no migration recorded"
        if app.ok:
            pending = "" if app.pending is None else ", none pending"
            line(
                TOPIC,
                "ok",
                f"{app.label} ({runner}): {len(app.tables)} table(s), "
                f"{len(app.applied)} migration(s) applied{pending}",
            )
        else:
            problems += 1
            line(TOPIC, "PENDING" if app.pending else "MISSING", f"{app.problem()}")
    return problems
