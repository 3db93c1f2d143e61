"""Test databases: one fresh, migrated database per session on a real PostgreSQL server.

Making and dropping databases is the library's public test helper
(``tt_storage.testing.database``); the benchmarks use it too.
"""

from __future__ import annotations

from tt_storage.testing.database import (
    ADMIN_ENV,
    EMBEDDED_TEST_DIR,
    admin_url,
    connect,
    create_database,
    database_name,
    drop_database,
    embedded_admin_url,
    with_database,
)

__all__ = [
    "ADMIN_ENV",
    "EMBEDDED_TEST_DIR",
    "admin_url",
    "connect",
    "create_database",
    "database_name",
    "drop_database",
    "embedded_admin_url",
    "with_database",
]
