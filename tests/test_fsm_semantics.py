"""PostgresStorage's data next to aiogram's own storages (MemoryStorage, RedisStorage on the local
Redis): what is the same, what differs (documented), and what is refused at the call."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage

from tests.test_fsm_dispatcher import bot_with_fsm
from tt_storage import PostgresStorage
from tt_storage.core import db as db_module
from tt_storage.core import sql
from tt_storage.testing import updates as events

KEY = StorageKey(bot_id=42, chat_id=-100777, user_id=9)


@pytest.fixture
async def storage(db: asyncpg.Connection) -> AsyncIterator[PostgresStorage]:
    await db.execute("TRUNCATE tt_storage_fsm")
    made = PostgresStorage()
    yield made
    await made.close()


@pytest.fixture
async def redis() -> AsyncIterator[RedisStorage]:
    made = RedisStorage.from_url(
        "redis://127.0.0.1:6379/0", key_builder=DefaultKeyBuilder(prefix="tt_storage_test")
    )
    await made.set_data(KEY, {})
    yield made
    await made.set_data(KEY, {})
    await made.close()


@pytest.mark.parametrize(
    "bad",
    [math.nan, math.inf, -math.inf, [1, {"deep": math.nan}], {"x": (math.inf,)}],
)
async def test_nan_and_infinity_raise_type_error_and_write_nothing(
    storage: PostgresStorage, db: asyncpg.Connection, bad: Any
) -> None:
    await storage.set_data(KEY, {"kept": 1})
    with pytest.raises(TypeError, match="jsonb"):
        await storage.set_data(KEY, {"v": bad})
    with pytest.raises(TypeError, match="jsonb"):
        await storage.update_data(KEY, {"v": bad})
    assert await storage.get_data(KEY) == {"kept": 1}


async def test_a_cycle_and_other_encoders_raise_type_error(storage: PostgresStorage) -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(TypeError):
        await storage.set_data(KEY, cycle)
    with pytest.raises(TypeError):
        await storage.set_data(KEY, {"when": {1, 2}})
    # An encoder of the bot's own that writes NaN: refused here too, not by the server.
    loose = PostgresStorage(json_dumps=lambda v: json.dumps(v, allow_nan=True))
    with pytest.raises(TypeError, match="NaN"):
        await loose.update_data(KEY, {"v": math.nan})
    await loose.set_data(KEY, {"text": "NaN is fine as a string", "n": 1.5})
    assert await loose.get_data(KEY) == {"text": "NaN is fine as a string", "n": 1.5}


async def roundtrip(storage: BaseStorage, data: dict[Any, Any]) -> dict[str, Any]:
    await storage.set_data(KEY, data)
    return await storage.get_data(KEY)


async def test_data_semantics_next_to_aiogram_storages(
    storage: PostgresStorage, redis: RedisStorage
) -> None:
    """As documented: like RedisStorage (JSON) except key order; MemoryStorage keeps Python
    objects as they are."""
    memory = MemoryStorage()
    data = {"b": 1, "a": {"z": [1, (2, 3)], "y": None}, 7: "int key", "long key": True}
    pg, rd, mem = [await roundtrip(s, data) for s in (storage, redis, memory)]
    assert (
        pg == rd == {"b": 1, "a": {"z": [1, [2, 3]], "y": None}, "7": "int key", "long key": True}
    )
    assert mem == data  # a copy of the dict: int keys and tuples kept
    # Key order: Redis keeps insertion order; jsonb orders keys (shorter first, then bytes).
    assert list(rd) == ["b", "a", "7", "long key"]
    assert list(pg) == ["7", "a", "b", "long key"]
    # update_data merges top-level keys (dict.update) in all three; nested dicts are replaced.
    for s in (storage, redis, memory):
        await s.set_data(KEY, {"a": {"x": 1}, "k": 1})
        assert await s.update_data(KEY, {"a": {"y": 2}}) == {"a": {"y": 2}, "k": 1}
    # RedisStorage accepts NaN (json.dumps writes it); PostgresStorage refuses it at the call.
    assert math.isnan((await roundtrip(redis, {"v": math.nan}))["v"])


async def test_get_state_skips_the_settings_join_when_the_cache_holds_the_chat(
    storage: PostgresStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    fetchval, fetchrow = db_module.fetchval, db_module.fetchrow

    async def spy_val(statement: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(statement)
        return await fetchval(statement, *args, **kwargs)

    async def spy_row(statement: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(statement)
        return await fetchrow(statement, *args, **kwargs)

    monkeypatch.setattr(db_module, "fetchval", spy_val)
    monkeypatch.setattr(db_module, "fetchrow", spy_row)
    async with bot_with_fsm(cache_size=1000) as (dp, session):
        bot = session.bot()
        middleware = dp["tt_storage"]
        await dp.feed_update(bot, events.message(601, "hello"))
        async with asyncio.timeout(5):
            while not middleware.cache.live:  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.01)
        await dp.feed_update(bot, events.message(601, "hello"))  # cached from here on
        sent.clear()
        await dp.feed_update(bot, events.message(601, "/form"))
        assert sent[0] == sql.FSM_GET_STATE  # no join: the cache holds the chat
        await dp.feed_update(bot, events.message(601, "Ann"))
        assert sql.FSM_GET_STATE_AND_CHAT not in sent
        middleware.cache.invalidate(601)
        sent.clear()
        await dp.feed_update(bot, events.message(601, "30"))
        assert sent[0] == sql.FSM_GET_STATE_AND_CHAT  # not cached: the join brings the row
        assert session.texts(601)[-1] == "Ann (en), 30"
