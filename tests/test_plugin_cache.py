"""Cache coherence for writes that do not go through tt-storage's functions: ORM saves and
deletes (signals), and ``tt_storage.invalidate`` after a queryset update or plain SQL."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

import tt_storage
from tests.support.checks import middleware_settings
from tests.support.waiting import until
from tt_storage import StorageMiddleware, Users

#: As many chats as the issue's run (4 of 300 updates saw the old language).
CHATS = range(710_000, 710_300)


@pytest.fixture
async def mw(db: asyncpg.Connection) -> AsyncIterator[StorageMiddleware]:
    middleware = StorageMiddleware()
    for chat in CHATS:
        await middleware_settings(middleware, chat)  # registers (lang "en") and caches
    await until(lambda: middleware.cache.live)
    for chat in CHATS:
        await middleware_settings(middleware, chat)
    assert all(chat in middleware.cache._entries for chat in CHATS)
    yield middleware
    await middleware.close()


async def test_orm_save_is_seen_by_the_next_update(mw: StorageMiddleware) -> None:
    stale = 0
    for chat in CHATS:
        user = await Users.get(user_id=chat)
        user.lang = "ru"
        await user.save()
        stale += (await middleware_settings(mw, chat)).lang != "ru"
    assert stale == 0


async def test_orm_delete_is_seen_by_the_next_update(mw: StorageMiddleware) -> None:
    chat = CHATS[0]
    await (await Users.get(user_id=chat)).delete()
    assert chat not in mw.cache._entries
    settings = await middleware_settings(mw, chat)
    assert settings.is_new  # registered again, not served from the cache


async def test_invalidate_after_a_queryset_update(mw: StorageMiddleware) -> None:
    stale = 0
    for chat in CHATS:
        await Users.filter(user_id=chat).update(lang="uk")
        tt_storage.invalidate(chat)
        stale += (await middleware_settings(mw, chat)).lang != "uk"
    assert stale == 0


def test_invalidate_rejects_what_is_not_a_chat_id() -> None:
    for bad in ("1", 1.0, True, None, 2**63):
        with pytest.raises(ValueError):
            tt_storage.invalidate(bad)  # type: ignore[arg-type]


async def test_queryset_update_alone_is_eventual(mw: StorageMiddleware) -> None:
    """Without ``invalidate``: the next update may still get the old language until the
    trigger's notification arrives. Prints how often, and the notification delay."""
    arrived: dict[int, float] = {}
    invalidate = mw.cache.invalidate

    def timed(chat_id: int) -> None:
        arrived.setdefault(chat_id, time.perf_counter())
        invalidate(chat_id)

    mw.cache.invalidate = timed  # type: ignore[method-assign]
    committed: dict[int, float] = {}
    stale = 0
    for chat in CHATS:
        committed[chat] = time.perf_counter()
        await Users.filter(user_id=chat).update(lang="vi")
        stale += (await middleware_settings(mw, chat)).lang != "vi"
    await until(lambda: all(chat in arrived for chat in CHATS))
    # Eventually coherent: every chat's next update after the notification is fresh.
    for chat in CHATS:
        assert (await middleware_settings(mw, chat)).lang == "vi"
    delays = sorted((arrived[c] - committed[c]) * 1000 for c in CHATS)
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(
        f"\nqueryset update() then an update of that chat, {len(CHATS)} chats: "
        f"{stale} stale; notification after the statement started: "
        f"p50 {statistics.median(delays):.2f} ms, p99 {p99:.2f} ms, max {delays[-1]:.2f} ms"
    )
