"""Test databases: one fresh, migrated database per session on a real PostgreSQL server.

Making and dropping databases is the benchmarks' too: it lives in ``benchmarks/database.py``
(the benchmarks never import the tests).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from benchmarks.database import (
    LOCAL_ADMIN,
    answers,
    connect,
    create_database,
    database_name,
    drop_database,
    with_database,
)

# admin_url, and the helpers of benchmarks.database the tests use through this module.
__all__ = [
    "admin_url",
    "connect",
    "create_database",
    "database_name",
    "drop_database",
    "with_database",
]

ADMIN_ENV = "TT_STORAGE_TEST_DB_URL"

#: Where the test suite's own embedded server keeps its data (apart from the demo's).
EMBEDDED_TEST_DIR = Path(".tt_storage") / "test-server"


async def embedded_admin_url() -> str:
    from tt_storage.core.embedded import embedded_url

    return await asyncio.to_thread(embedded_url, EMBEDDED_TEST_DIR.resolve(), "postgres")


async def admin_url() -> str:
    """``TT_STORAGE_TEST_DB_URL`` (``embedded`` for the embedded server), else the local
    server on 127.0.0.1:5432 if it answers, else the embedded one."""
    url = os.environ.get(ADMIN_ENV)
    if url and url != "embedded":
        return url
    if not url and await answers(LOCAL_ADMIN):
        return LOCAL_ADMIN
    return await embedded_admin_url()
