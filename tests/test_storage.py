"""``Storage``: explicit instances beside the default one, two databases in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiogram import Bot, Dispatcher
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

import tt_storage as tt
from tests.support import database
from tests.support import telegram as support_telegram
from tt_storage import Storage, Users, UserSettings
from tt_storage.core import db
from tt_storage.testing import updates as events


async def _migrated(fresh: Callable[[], Awaitable[str]]) -> str:
    url = await fresh()
    await tt.ops.apply_migrations(url)
    return url


@pytest.fixture
async def two(fresh: Callable[[], Awaitable[str]]) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two open instances on two fresh databases of their own (the default stays as it is)."""
    first = await Storage().init(await _migrated(fresh), max_size=4)
    second = await Storage().init(await _migrated(fresh), max_size=4)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _rows(url: str | None, query: str) -> list[tuple[Any, ...]]:
    """``query``'s rows in the database at ``url``, read behind the library's back."""
    assert url is not None
    conn = await database.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


async def _videos(url: str | None) -> list[tuple[Any, ...]]:
    return await _rows(url, "SELECT user_id, video_link FROM videos ORDER BY pk_id")


async def test_methods_write_to_their_own_database(
    db_url: str, db: asyncpg.Connection, two: tuple[Storage, Storage]
) -> None:
    first, second = two
    await first.add_video(1, "https://t/one", False)
    await second.add_video(2, "https://t/two", False)
    await asyncio.gather(*(second.add_music(2, n) for n in range(5)))
    assert await _videos(first.url) == [(1, "https://t/one")]
    assert await _videos(second.url) == [(2, "https://t/two")]
    assert await first.get_user_stats(2) == (None, 0, 0)
    user, videos, images = await second.get_user_stats(2)
    assert (user is not None and user.user_id, videos, images) == (2, 1, 0)
    assert [u async for u in second.iter_user_ids()] == [2]
    # The default (the session's database) saw none of it.
    assert tt.default_storage().url == db_url
    assert await tt.get_user(1) is None and await tt.get_user(2) is None


async def test_bound_sends_module_functions_and_models_there(two: tuple[Storage, Storage]) -> None:
    first, second = two
    with second.bound():
        await tt.add_video(7, "https://t/bound", False)
        assert await tt.get_user_settings(7) == ("en", False)
        # Tortoise's models too: the instance's context is current in the block.
        assert [u.user_id for u in await Users.all()] == [7]
        await Users.filter(user_id=7).update(lang="uk")
        # Tasks created in the block inherit it.
        assert await asyncio.create_task(tt.get_user_settings(7)) == ("uk", False)
    assert await first.get_user_settings(7) is None
    assert await second.get_user_settings(7) == ("uk", False)
    assert db.current() is tt.default_storage()


async def test_a_stream_does_not_leak_its_binding(two: tuple[Storage, Storage]) -> None:
    first, second = two
    for chat in (1, 2, 3):
        await second.add_video(chat, "https://t/x", False)
    await first.add_video(9, "https://t/y", False)
    seen = []
    async for chat in second.iter_user_ids():
        # Between items, this task's statements go where they went before the loop.
        assert db.current() is tt.default_storage()
        assert await first.get_user_settings(9) == ("en", False)
        seen.append(chat)
    assert seen == [1, 2, 3]
    stream = second.iter_user_ids()
    assert await anext(stream) == 1
    await stream.aclose()  # closed early: its cursor's connection goes back to the pool
    assert await second.get_user_settings(1) == ("en", False)


async def test_outboxes_and_caches_are_per_instance(two: tuple[Storage, Storage]) -> None:
    first, second = two
    assert first.outbox is not second.outbox
    await first.add_video(1, "https://t/a", False)
    assert first.outbox_stats() == second.outbox_stats()  # nothing queued in either
    cache_first = tt.core.cache.SettingsCache(database=first)
    cache_second = tt.core.cache.SettingsCache(database=second)
    for cache in (cache_first, cache_second):
        cache.live = True
        cache.put(1, "en", False, cache.generation)
    await first.update_user_lang(1, "uk")  # invalidates first's caches only
    assert cache_first.get(1) is None
    assert cache_second.get(1) == ("en", False)
    cache_first.close()
    cache_second.close()


async def test_open_twice_and_close(two: tuple[Storage, Storage]) -> None:
    first, second = two
    assert await first.init(first.url, max_size=4) is first  # the same URL: nothing happens
    with pytest.raises(tt.StorageError, match="already open"):
        await first.init(second.url)
    url = second.url
    await second.close()
    assert not second.initialized
    with pytest.raises(tt.StorageNotInitialized):
        await second.get_user(1)
    await first.add_video(3, "https://t/still", False)  # the other one is untouched
    await second.init(url)  # and a closed one opens again
    assert await second.get_user(3) is None


async def test_two_bots_on_two_databases_in_one_process(two: tuple[Storage, Storage]) -> None:
    """Each dispatcher holds its own Storage (opened at its startup): the same handler code,
    calling the module-level functions, writes to its bot's database, and aiogram's FSM (which
    reads the state before the middleware runs) reads and writes there too."""
    first, second = two
    urls = [first.url, second.url]
    await first.close()
    await second.close()
    bots = []
    again: list[int] = []
    for n, storage in enumerate((first, second)):
        dp = Dispatcher()

        @dp.message(StateFilter("downloaded"))
        async def repeat(message: Message) -> None:
            again.append(message.chat.id)

        @dp.message()
        async def download(
            message: Message, user_settings: UserSettings, state: FSMContext
        ) -> None:
            await tt.add_video(user_settings.chat_id, message.text or "", False)
            await state.set_state("downloaded")

        middleware = tt.setup_storage(dp, urls[n], storage=storage, fsm=True, max_size=2)
        assert middleware.storage is storage
        telegram = support_telegram.server()
        await dp.emit_startup(bot=telegram.bot())
        bots.append((dp, telegram.bot()))

    async def chat(n: int, chat_id: int) -> None:
        dp, bot = bots[n]
        for text in (f"https://t/{n}/{chat_id}", "again"):
            await dp.feed_update(bot, events.message(chat_id, text))

    try:
        await asyncio.gather(*(chat(n, 100 * (n + 1) + i) for n in (0, 1) for i in range(5)))
    finally:
        for dp, bot in bots:
            await dp.emit_shutdown(bot=bot)
    for n, url in enumerate(urls):
        ids = [100 * (n + 1) + i for i in range(5)]
        assert sorted(await _videos(url)) == [(i, f"https://t/{n}/{i}") for i in ids]
        states = await _rows(url, "SELECT state FROM tt_storage_fsm ORDER BY key")
        assert states == [("downloaded",)] * 5
    # Every second message found its chat's state: read from its bot's database.
    assert sorted(again) == [100, 101, 102, 103, 104, 200, 201, 202, 203, 204]
    # emit_shutdown closed them; the fixture's close is then a no-op.
    assert not first.initialized and not second.initialized


async def test_admin_side_on_an_explicit_instance(two: tuple[Storage, Storage]) -> None:
    """The admin functions have no method of their own: ``bound()`` sends broadcast's reads
    and writes (the id stream, marking 403s blocked) to the instance."""
    from tt_storage.admin.broadcast import broadcast

    async def send(bot: Bot, chat_id: int) -> None:
        await bot.send_message(chat_id, "news")

    first, second = two
    for chat in (1, 2, 3):
        await second.register_user(chat)
    await first.register_user(4)
    telegram = support_telegram.server()
    telegram.fail(chat_id=2, status=403, description="Forbidden: bot was blocked by the user")
    with second.bound():
        result = await broadcast(telegram.bot(), send, rate=1000.0, concurrency=2)
    assert (result.sent, result.blocked) == (2, 1)
    assert sorted(telegram.texts(1) + telegram.texts(3)) == ["news", "news"]
    assert await second.get_user_ids() == [1, 3]
    assert await first.get_user_ids() == [4]
