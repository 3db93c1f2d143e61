"""Throwaway databases on a PostgreSQL server, for the benchmarks: the library's own test
helpers (``tt_storage.testing.database``), which the test suite uses too."""

from tt_storage.testing.database import (
    LOCAL_ADMIN,
    answers,
    asyncpg_dsn,
    connect,
    create_database,
    database_name,
    drop_database,
    with_database,
)

__all__ = [
    "LOCAL_ADMIN",
    "answers",
    "asyncpg_dsn",
    "connect",
    "create_database",
    "database_name",
    "drop_database",
    "with_database",
]
