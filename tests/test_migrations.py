"""Migrations applied programmatically: concurrent starters, and a second run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

import tt_storage
from tests.support import database
from tt_storage.core.app import APP, migrations_location


def _on_disk() -> list[str]:
    return _by_number(p.name for p in (migrations_location() / APP).glob("[0-9]*_*.py"))


def _by_number(names: Iterable[str]) -> list[str]:
    """In aerich's order: by the number before the first ``_`` (10 after 9)."""
    return sorted(names, key=lambda name: int(name.split("_", 1)[0]))


async def test_concurrent_starters_migrate_once(admin_url: str) -> None:
    # Webhook workers all starting with migrate=True: one applies, the others wait and find
    # nothing pending (without the advisory lock they would race on aerich's table and DDL).
    url = await database.create_database(admin_url, "tt_storage_test")
    try:
        results = await asyncio.gather(*(tt_storage.ops.apply_migrations(url) for _ in range(4)))
        applied = [name for result in results for name in result]
        assert _by_number(applied) == _on_disk()
        assert sum(1 for result in results if result) == 1
        assert await tt_storage.ops.pending_migrations(url) == []
        conn = await database.connect(url)
        try:
            rows = await conn.fetch("SELECT version FROM aerich ORDER BY id")
        finally:
            await conn.close()
        assert [r["version"] for r in rows] == _on_disk()
    finally:
        await database.drop_database(admin_url, url)


async def test_unreachable_server_is_a_storage_error() -> None:
    # Port 1 on loopback: nothing listens there, the connect is refused at once.
    with pytest.raises(tt_storage.StorageUnavailable):
        await tt_storage.ops.apply_migrations("postgresql://postgres@127.0.0.1:1/nowhere")


async def test_missing_database_is_a_storage_error(admin_url: str) -> None:
    missing = database.with_database(admin_url, "tt_storage_no_such_database")
    with pytest.raises(tt_storage.StorageError):
        await tt_storage.ops.apply_migrations(missing)
