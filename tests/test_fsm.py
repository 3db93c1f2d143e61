"""aiogram FSM storage (PostgresStorage) on real PostgreSQL: aiogram's own storage behaviours,
expiry, concurrency, a restart, and a real Dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TypedDict

import asyncpg
import pytest
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey

import tt_storage
from tt_storage import PostgresStorage
from tt_storage.bot.keys import row_key
from tt_storage.core import sql

KEY = StorageKey(bot_id=42, chat_id=-100123, user_id=5)


@pytest.fixture
async def fsm_db(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute("TRUNCATE tt_storage_fsm")
    return db


@pytest.fixture
async def storage(fsm_db: asyncpg.Connection) -> AsyncIterator[PostgresStorage]:
    made = PostgresStorage()
    yield made
    await made.close()


async def rows(raw: asyncpg.Connection) -> list[tuple[str, str | None, str]]:
    found = await raw.fetch("SELECT key, state, data::text FROM tt_storage_fsm ORDER BY key")
    return [(r[0], r[1], r[2]) for r in found]


# --- what aiogram's own storage tests check (Memory/Redis/Mongo) ------------------------------


async def test_set_state(storage: PostgresStorage) -> None:
    assert await storage.get_state(KEY) is None
    await storage.set_state(KEY, "state")
    assert await storage.get_state(KEY) == "state"
    await storage.set_state(KEY, None)
    assert await storage.get_state(KEY) is None


async def test_state_object_is_stored_by_name(storage: PostgresStorage) -> None:
    class Form(StatesGroup):
        name = State()

    await storage.set_state(KEY, Form.name)
    assert await storage.get_state(KEY) == "Form:name"


async def test_set_data(storage: PostgresStorage) -> None:
    assert await storage.get_data(KEY) == {}
    assert await storage.get_value(KEY, "foo") is None
    assert await storage.get_value(KEY, "foo", "baz") == "baz"

    await storage.set_data(KEY, {"foo": "bar"})
    assert await storage.get_data(KEY) == {"foo": "bar"}
    assert await storage.get_value(KEY, "foo") == "bar"
    assert await storage.get_value(KEY, "foo", "baz") == "bar"

    await storage.set_data(KEY, {})
    assert await storage.get_data(KEY) == {}
    assert await storage.get_value(KEY, "foo", "baz") == "baz"

    class CustomTypedDict(TypedDict, total=False):
        foo: str
        bar: str

    await storage.set_data(KEY, CustomTypedDict(foo="bar", bar="baz"))
    assert await storage.get_data(KEY) == {"foo": "bar", "bar": "baz"}

    with pytest.raises(DataNotDictLikeError):
        await storage.set_data(KEY, ())  # type: ignore[arg-type]
    assert await storage.get_data(KEY) == {"foo": "bar", "bar": "baz"}


async def test_update_data(storage: PostgresStorage) -> None:
    assert await storage.get_data(KEY) == {}
    assert await storage.update_data(KEY, {"foo": "bar"}) == {"foo": "bar"}
    assert await storage.update_data(KEY, {}) == {"foo": "bar"}
    assert await storage.get_data(KEY) == {"foo": "bar"}
    assert await storage.update_data(KEY, {"baz": "spam"}) == {"foo": "bar", "baz": "spam"}
    assert await storage.get_data(KEY) == {"foo": "bar", "baz": "spam"}
    assert await storage.update_data(KEY, {"baz": "test"}) == {"foo": "bar", "baz": "test"}
    assert await storage.get_data(KEY) == {"foo": "bar", "baz": "test"}


async def test_json_values_round_trip(storage: PostgresStorage) -> None:
    value: dict[str, Any] = {
        "n": 1,
        "f": 1.5,
        "t": True,
        "none": None,
        "list": [1, "a"],
        "nested": {"x": {}},
    }
    await storage.set_data(KEY, value)
    assert await storage.get_data(KEY) == value
    # dict.update semantics: a nested dict is replaced, not merged.
    assert await storage.update_data(KEY, {"nested": {"y": 2}}) == {**value, "nested": {"y": 2}}


async def test_row_life_cycle(storage: PostgresStorage, fsm_db: asyncpg.Connection) -> None:
    """As aiogram's Mongo storage: a key with neither state nor data has no row."""
    assert await storage.update_data(KEY, {}) == {}
    assert await rows(fsm_db) == []
    await storage.set_state(KEY, "test")
    await storage.set_data(KEY, {"key": "value"})
    assert await rows(fsm_db) == [(row_key(KEY), "test", '{"key": "value"}')]
    await storage.set_state(KEY, None)
    assert await rows(fsm_db) == [(row_key(KEY), None, '{"key": "value"}')]
    await storage.set_data(KEY, {})
    assert await rows(fsm_db) == []
    await storage.set_data(KEY, {"key": "value"})
    await storage.set_data(KEY, {})
    assert await rows(fsm_db) == []
    await storage.set_state(KEY, "test")
    await storage.update_data(KEY, {"a": 1})
    await storage.set_data(KEY, {})
    assert await rows(fsm_db) == [(row_key(KEY), "test", "{}")]
    await storage.set_state(KEY, None)
    assert await rows(fsm_db) == []


async def test_state_and_data_do_not_affect_each_other(storage: PostgresStorage) -> None:
    await storage.set_state(KEY, "test")
    await storage.set_data(KEY, {"key": "value"})
    assert await storage.get_state(KEY) == "test"
    await storage.set_state(KEY, None)
    assert await storage.get_data(KEY) == {"key": "value"}
    await storage.set_state(KEY, "again")
    await storage.set_data(KEY, {})
    assert await storage.get_state(KEY) == "again"
    assert await storage.update_data(KEY, {"k": "v"}) == {"k": "v"}
    assert await storage.get_state(KEY) == "again"


async def test_every_key_field_separates(storage: PostgresStorage) -> None:
    keys = [
        KEY,
        StorageKey(bot_id=43, chat_id=-100123, user_id=5),
        StorageKey(bot_id=42, chat_id=-100124, user_id=5),
        StorageKey(bot_id=42, chat_id=-100123, user_id=6),
        StorageKey(bot_id=42, chat_id=-100123, user_id=5, thread_id=1),
        StorageKey(bot_id=42, chat_id=-100123, user_id=5, business_connection_id="bc"),
        StorageKey(bot_id=42, chat_id=-100123, user_id=5, destiny="other"),
        # Text fields with the separator in them stay apart.
        StorageKey(bot_id=42, chat_id=1, user_id=1, business_connection_id="a:b", destiny="c"),
        StorageKey(bot_id=42, chat_id=1, user_id=1, business_connection_id="a", destiny="b:c"),
    ]
    for i, key in enumerate(keys):
        await storage.set_state(key, f"s{i}")
        await storage.set_data(key, {"i": i})
    for i, key in enumerate(keys):
        assert await storage.get_state(key) == f"s{i}"
        assert await storage.get_data(key) == {"i": i}


# --- bad input ---------------------------------------------------------------------------------


async def test_nul_characters_are_refused_not_dropped(storage: PostgresStorage) -> None:
    await storage.set_data(KEY, {"kept": 1})
    for write in (
        storage.set_data(KEY, {"a\x00b": ["x"]}),
        storage.update_data(KEY, {"n": "1\x002"}),
        storage.set_state(KEY, "s\x00t"),
    ):
        with pytest.raises(ValueError, match="NUL"):
            await write
    assert await storage.get_data(KEY) == {"kept": 1}
    assert await storage.get_state(KEY) is None
    # A backslash followed by "u0000" is not a NUL: kept as it is.
    await storage.set_data(KEY, {"text": "\\u0000"})
    assert await storage.get_data(KEY) == {"text": "\\u0000"}


async def test_unserializable_data_is_refused_and_nothing_written(
    storage: PostgresStorage, fsm_db: asyncpg.Connection
) -> None:
    await storage.set_data(KEY, {"kept": 1})
    with pytest.raises(TypeError):
        await storage.set_data(KEY, {"when": object()})
    with pytest.raises(TypeError):
        await storage.update_data(KEY, {"when": object()})
    with pytest.raises(DataNotDictLikeError):
        await storage.update_data(KEY, [("a", 1)])  # type: ignore[arg-type]
    assert await storage.get_data(KEY) == {"kept": 1}


def test_bad_options_are_refused() -> None:
    for bad in (0, -1, "60", True):
        with pytest.raises(ValueError, match="state_ttl"):
            PostgresStorage(state_ttl=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cleanup_batch"):
        PostgresStorage(cleanup_batch=0)
    with pytest.raises(ValueError, match="NUL"):
        row_key(StorageKey(bot_id=1, chat_id=1, user_id=1, destiny="a\x00"))


# --- concurrency and restarts ---------------------------------------------------------------


async def test_fifty_concurrent_update_data_lose_nothing(storage: PostgresStorage) -> None:
    await storage.set_state(KEY, "busy")
    results = await asyncio.gather(*(storage.update_data(KEY, {f"k{i}": i}) for i in range(50)))
    expected = {f"k{i}": i for i in range(50)}
    assert await storage.get_data(KEY) == expected
    assert await storage.get_state(KEY) == "busy"
    # Each call saw its own key merged into everything committed before it: one of them saw all.
    assert all(f"k{i}" in result for i, result in enumerate(results))
    assert max(len(result) for result in results) == 50


async def test_concurrent_updates_of_a_new_key(storage: PostgresStorage) -> None:
    # No row yet: all 50 race on the INSERT; ON CONFLICT turns the losers into merges.
    await asyncio.gather(*(storage.update_data(KEY, {f"k{i}": i}) for i in range(50)))
    assert await storage.get_data(KEY) == {f"k{i}": i for i in range(50)}


async def test_state_survives_a_restart(storage: PostgresStorage, db_url: str) -> None:
    await storage.set_state(KEY, "Form:age")
    await storage.set_data(KEY, {"name": "Ann"})
    await storage.close()
    await tt_storage.close_storage()
    try:
        with pytest.raises(tt_storage.StorageNotInitialized):
            await storage.get_state(KEY)
    finally:
        await tt_storage.init_storage(db_url, max_size=20)
    again = PostgresStorage()
    assert await again.get_state(KEY) == "Form:age"
    assert await again.get_data(KEY) == {"name": "Ann"}
    await again.close()


# --- expiry ----------------------------------------------------------------------------------


async def expire(raw: asyncpg.Connection, part: str) -> None:
    """Move the part's expiry into the past (as if its TTL had run out)."""
    column = {"state": "state_expires_at", "data": "data_expires_at"}[part]
    await raw.execute(
        f"UPDATE tt_storage_fsm SET {column} = now() - interval '1 second'"
        f" WHERE {column} > '-infinity'"
    )


async def test_ttl_sets_expiry_and_reads_ignore_expired_parts(fsm_db: asyncpg.Connection) -> None:
    storage = PostgresStorage(state_ttl=timedelta(hours=1), data_ttl=600, cleanup_interval=None)
    await storage.set_state(KEY, "s")
    await storage.set_data(KEY, {"a": 1})
    left = await fsm_db.fetchrow(
        "SELECT extract(epoch FROM state_expires_at - now()) AS state,"
        " extract(epoch FROM data_expires_at - now()) AS data FROM tt_storage_fsm"
    )
    assert left is not None
    assert 3500 < left["state"] <= 3600
    assert 500 < left["data"] <= 600

    await expire(fsm_db, "state")
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {"a": 1}
    await expire(fsm_db, "data")
    assert await storage.get_data(KEY) == {}
    # Expired data is replaced, not merged into.
    assert await storage.update_data(KEY, {"b": 2}) == {"b": 2}
    # A write renews its part.
    await storage.set_state(KEY, "t")
    assert await storage.get_state(KEY) == "t"
    await storage.close()


async def test_without_ttl_nothing_expires(
    storage: PostgresStorage, fsm_db: asyncpg.Connection
) -> None:
    await storage.set_state(KEY, "s")
    await storage.set_data(KEY, {"a": 1})
    assert (
        await fsm_db.fetchval(
            "SELECT count(*) FROM tt_storage_fsm WHERE state_expires_at IS NULL"
            " AND data_expires_at IS NULL"
        )
        == 1
    )
    assert await storage.cleanup() == 0
    assert await storage.get_state(KEY) == "s"


async def test_cleanup_is_bounded_and_deletes_only_expired_rows(
    fsm_db: asyncpg.Connection,
) -> None:
    storage = PostgresStorage(state_ttl=60, data_ttl=60, cleanup_interval=None)
    keys = [StorageKey(bot_id=42, chat_id=i, user_id=i) for i in range(1, 8)]
    for key in keys:
        await storage.set_state(key, "s")
        await storage.set_data(key, {"a": 1})
    keep = PostgresStorage(cleanup_interval=None)
    await keep.set_state(StorageKey(bot_id=42, chat_id=99, user_id=99), "forever")
    await expire(fsm_db, "state")
    assert await storage.cleanup() == 0  # data still live: the rows stay
    await expire(fsm_db, "data")
    with pytest.raises(ValueError, match="limit"):
        await storage.cleanup(limit=0)
    assert await storage.cleanup(limit=3) == 3
    assert await storage.cleanup() == 4
    assert await storage.cleanup() == 0
    assert [r[1] for r in await rows(fsm_db)] == ["forever"]


async def test_cleanup_reads_the_partial_index(fsm_db: asyncpg.Connection) -> None:
    await fsm_db.execute(
        "INSERT INTO tt_storage_fsm SELECT 'k' || i, 's', '{}', NULL, '-infinity'"
        " FROM generate_series(1, 20000) AS i"
    )
    await fsm_db.execute("ANALYZE tt_storage_fsm")
    plan = "\n".join(
        r[0] for r in await fsm_db.fetch("EXPLAIN " + sql.FSM_CLEANUP.replace("$1", "1000"))
    )
    assert "idx_fsm_expiry" in plan
    assert "Seq Scan" not in plan


async def test_background_cleanup_deletes_expired_rows(fsm_db: asyncpg.Connection) -> None:
    storage = PostgresStorage(data_ttl=60, cleanup_interval=0.05, cleanup_batch=2)
    for i in range(5):
        await storage.set_data(StorageKey(bot_id=42, chat_id=i, user_id=i), {"a": i})
    await expire(fsm_db, "data")
    remaining = [5]

    async def count() -> None:
        remaining[0] = await fsm_db.fetchval("SELECT count(*) FROM tt_storage_fsm")

    async with asyncio.timeout(10):
        while remaining[0]:
            await count()
            await asyncio.sleep(0.02)
    await storage.close()
    assert storage._cleaner is None


async def test_a_real_ttl_runs_out(fsm_db: asyncpg.Connection) -> None:
    """End to end on the server's clock: written with a 1 s TTL, gone 1.2 s later."""
    storage = PostgresStorage(state_ttl=1, data_ttl=1, cleanup_interval=None)
    await storage.set_state(KEY, "s")
    await storage.set_data(KEY, {"a": 1})
    assert await storage.get_state(KEY) == "s"
    await asyncio.sleep(1.2)
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}
    assert await storage.cleanup() == 1
    assert await rows(fsm_db) == []
