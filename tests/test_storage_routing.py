"""What runs where with two Storages: the FSM of the docs' own form, and calls bound to none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

import tt_storage as tt
from tests.support import database
from tests.support import telegram as support_telegram
from tests.support.faults import unbound
from tt_storage import PostgresStorage, Storage, StorageNotInitialized
from tt_storage.bot.isolation import AdvisoryLockIsolation
from tt_storage.testing import updates as events


async def _migrated(fresh: Callable[[], Awaitable[str]]) -> str:
    url = await fresh()
    await tt.ops.apply_migrations(url)
    return url


@pytest.fixture
async def urls(fresh: Callable[[], Awaitable[str]]) -> list[str]:
    return [await _migrated(fresh), await _migrated(fresh)]


async def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    conn = await database.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


@pytest.mark.parametrize("isolation", [False, True])
async def test_two_bots_in_the_documented_fsm_form(
    db_url: str, urls: list[str], isolation: bool
) -> None:
    """``Dispatcher(storage=PostgresStorage())`` plus ``setup_storage(dp, url, storage=Storage())``
    for each bot, the default Storage open on a third database: each bot's second message finds
    the state its first set, in its own database."""
    again: list[int] = []
    bots = []
    for url in urls:
        dp = Dispatcher(
            storage=PostgresStorage(),
            events_isolation=AdvisoryLockIsolation() if isolation else None,
        )

        @dp.message(StateFilter("seen"))
        async def second(message: Message) -> None:
            again.append(message.chat.id)

        @dp.message()
        async def first(message: Message, state: FSMContext) -> None:
            await state.set_state("seen")

        tt.setup_storage(dp, url, storage=Storage(), max_size=2)
        telegram = support_telegram.server()
        await dp.emit_startup(bot=telegram.bot())
        bots.append((dp, telegram.bot()))

    async def chat(n: int, chat_id: int) -> None:
        dp, bot = bots[n]
        for text in ("one", "two"):
            await dp.feed_update(bot, events.message(chat_id, text))

    try:
        await asyncio.gather(*(chat(n, 100 * (n + 1) + i) for n in (0, 1) for i in range(3)))
    finally:
        for dp, bot in bots:
            await dp.fsm.close()
            await dp.emit_shutdown(bot=bot)
    assert sorted(again) == [100, 101, 102, 200, 201, 202]
    for url in urls:
        assert await _rows(url, "SELECT state FROM tt_storage_fsm") == [("seen",)] * 3


def test_one_fsm_storage_for_two_databases_is_refused() -> None:
    shared = PostgresStorage()
    tt.setup_storage(Dispatcher(storage=shared), "postgresql://a@/one", storage=Storage())
    with pytest.raises(ValueError, match="give each bot its own"):
        tt.setup_storage(Dispatcher(storage=shared), "postgresql://a@/two", storage=Storage())


@pytest.fixture
async def two_open(urls: list[str]) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two Storages open and the default closed (as in a process that runs two bots)."""
    async with unbound():
        first = await Storage().init(urls[0], max_size=2)
        second = await Storage().init(urls[1], max_size=2)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


async def test_an_unbound_call_with_two_storages_open_is_refused(
    two_open: tuple[Storage, Storage],
) -> None:
    first, second = two_open
    for call in (tt.get_user(1), tt.register_user(1, "en"), tt.add_video(1, "https://t/x", False)):
        with pytest.raises(StorageNotInitialized, match="bound"):
            await call
    # Bound, or as methods, they go where they are sent; nothing went anywhere before.
    with second.bound():
        await tt.register_user(2, "en")
    await first.register_user(1, "ru")
    assert first.url is not None and second.url is not None
    assert await _rows(first.url, "SELECT user_id, lang FROM users") == [(1, "ru")]
    assert await _rows(second.url, "SELECT user_id, lang FROM users") == [(2, "en")]
