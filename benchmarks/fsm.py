"""aiogram FSM storage: tt-storage's ``PostgresStorage`` next to aiogram's ``RedisStorage``.

Same process, same event loop, same interleaving as the main table: the two take turns every
``CHUNK`` operations, the one going first rotates, each operation is timed on its own. Redis is
the service on 127.0.0.1:6379 (``TT_STORAGE_BENCH_REDIS_URL``); without it (or without the
``redis`` package) the section says so and is skipped.

Whole-update rows run a real ``Dispatcher`` with FSM and tt-storage's ``StorageMiddleware`` in
both columns: the Redis bot reads its state from Redis and its settings from PostgreSQL, the
PostgreSQL bot reads both in one statement.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StorageKey
from aiogram.types import Message, Update

import tt_storage
from tt_storage import PostgresStorage
from tt_storage.bot.isolation import AdvisoryLockIsolation
from tt_storage.core.cache import SettingsCache

from . import bots
from .suite import Sampled

REDIS_ENV = "TT_STORAGE_BENCH_REDIS_URL"
IMPLS = ("redis", "pg")
LABELS = {"redis": "aiogram RedisStorage", "pg": "tt-storage PostgresStorage"}
CHUNK = 25
CHATS = 50
BASE = 700_000_000  # private chats of this section (registered up front)


class Form(StatesGroup):
    step = State()


@dataclass
class FsmRow(Sampled):
    title: str
    samples: dict[str, list[float]]


@dataclass
class FsmReport:
    rows: list[FsmRow] = field(default_factory=list)
    skipped: str | None = None
    redis_version: str = "?"


Op = Callable[[int], Awaitable[Any]]


async def interleaved(
    title: str, ops: dict[str, Op], rounds: int, per_round: int, warmup: int
) -> FsmRow:
    """A row of ``ops`` (implementation -> operation on the i-th input), taking turns every
    ``CHUNK`` operations, the first rotating each round; µs per operation."""
    impls = tuple(ops)
    samples: dict[str, list[float]] = {impl: [] for impl in impls}
    counters = dict.fromkeys(impls, 0)
    for impl in impls:  # warm-up
        for _ in range(warmup):
            await ops[impl](counters[impl])
            counters[impl] += 1
    clock = time.perf_counter_ns
    for round_no in range(rounds):
        gc.collect()
        k = round_no % len(impls)
        order = impls[k:] + impls[:k]
        for _chunk in range(max(1, per_round // CHUNK)):
            for impl in order:
                gc.collect(1)
                for _ in range(min(CHUNK, per_round)):
                    i = counters[impl]
                    counters[impl] += 1
                    start = clock()
                    await ops[impl](i)
                    samples[impl].append((clock() - start) / 1000)
    return FsmRow(title, samples)


def _key(bot: Bot, i: int) -> StorageKey:
    chat = BASE + i % CHATS
    return StorageKey(bot_id=bot.id, chat_id=chat, user_id=chat)


def _dispatcher(
    storage: BaseStorage, middleware: tt_storage.StorageMiddleware, isolation: Any = None
) -> Dispatcher:
    dp = Dispatcher(storage=storage, events_isolation=isolation)
    dp.update.outer_middleware.register(middleware)

    @dp.message(Form.step, F.text == "step")
    async def step(message: Message, state: FSMContext) -> None:
        await state.update_data(n=message.message_id)
        await state.set_state(Form.step)
        await message.answer("next")

    @dp.message()
    async def idle(message: Message, user_settings: tt_storage.UserSettings) -> None:
        await message.answer(user_settings.lang)

    return dp


async def run_fsm_suite(
    rounds: int,
    per_round: int,
    progress: Callable[[str], None] | None = None,
    warmup: int = 20,
) -> FsmReport:
    """The FSM rows, on the database tt-storage is initialised with and on Redis."""
    say = progress or (lambda _m: None)
    report = FsmReport()
    try:
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
    except ImportError:
        report.skipped = "the redis package is not installed (pip install 'tt-storage[bench]')"
        return report
    redis_storage = RedisStorage.from_url(os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0"))
    try:
        info = await redis_storage.redis.info("server")
        report.redis_version = str(info.get("redis_version", "?"))
    except Exception as exc:  # any connection failure: the section is skipped, not the run
        await redis_storage.close()
        report.skipped = f"Redis not reachable ({type(exc).__name__})"
        return report

    pg = PostgresStorage()
    storages: dict[str, BaseStorage] = {"redis": redis_storage, "pg": pg}
    bot = bots.offline_bot()
    for i in range(CHATS):
        await tt_storage.register_user(BASE + i, "en")
    try:
        for storage in storages.values():
            for i in range(CHATS):
                await storage.set_state(_key(bot, i), Form.step)
                await storage.set_data(_key(bot, i), {"n": 0})

        def op(call: Callable[[BaseStorage, StorageKey, int], Awaitable[Any]]) -> dict[str, Op]:
            def make(storage: BaseStorage) -> Op:
                return lambda i: call(storage, _key(bot, i), i)

            return {impl: make(storage) for impl, storage in storages.items()}

        say("  FSM: get_state")
        plain = PostgresStorage(prefetch_settings=False)
        report.rows.append(
            await interleaved(
                "get_state (PostgreSQL: prefetch_settings=False)",
                {
                    "redis": lambda i: redis_storage.get_state(_key(bot, i)),
                    "pg": lambda i: plain.get_state(_key(bot, i)),
                },
                rounds,
                per_round,
                warmup,
            )
        )
        report.rows.append(
            await interleaved(
                "get_state (PostgreSQL: with the chat's settings row)",
                op(lambda s, k, i: s.get_state(k)),
                rounds,
                per_round,
                warmup,
            )
        )
        # What the middleware's cache hit path leaves to get_state: the chat is cached, so the
        # state is read alone (the join would bring a row nobody takes).
        cache = SettingsCache(database=tt_storage.default_storage())
        cache.live = True
        for i in range(CHATS):
            cache.put(BASE + i, "en", False, cache.generation)
        try:
            report.rows.append(
                await interleaved(
                    "get_state (PostgreSQL: default, the chat in a settings cache: no join)",
                    op(lambda s, k, i: s.get_state(k)),
                    rounds,
                    per_round,
                    warmup,
                )
            )
        finally:
            cache.close()
        say("  FSM: set_state")
        report.rows.append(
            await interleaved(
                "set_state",
                op(lambda s, k, i: s.set_state(k, Form.step)),
                rounds,
                per_round,
                warmup,
            )
        )
        say("  FSM: get_data")
        report.rows.append(
            await interleaved(
                "get_data", op(lambda s, k, i: s.get_data(k)), rounds, per_round, warmup
            )
        )
        say("  FSM: set_data")
        report.rows.append(
            await interleaved(
                "set_data (2 keys)",
                op(lambda s, k, i: s.set_data(k, {"n": i, "name": "Ann"})),
                rounds,
                per_round,
                warmup,
            )
        )
        say("  FSM: update_data")
        report.rows.append(
            await interleaved(
                "update_data (Redis: get + set; PostgreSQL: one statement)",
                op(lambda s, k, i: s.update_data(k, {"m": i})),
                rounds,
                per_round,
                warmup,
            )
        )

        async def update_rows(
            label: str,
            cache_size: int,
            text: str,
            isolations: dict[str, BaseEventIsolation | None],
        ) -> None:
            say(f"  FSM: {label}")
            middlewares = {
                impl: tt_storage.StorageMiddleware(cache_size=cache_size) for impl in IMPLS
            }
            dps = {
                impl: _dispatcher(storages[impl], middlewares[impl], isolations[impl])
                for impl in IMPLS
            }
            try:
                if cache_size:
                    for impl in IMPLS:  # warm the settings cache, wait for it to serve
                        for i in range(CHATS):
                            await dps[impl].feed_update(bot, _update(bot, i, text))
                        for _ in range(500):
                            if middlewares[impl].cache.live:
                                break
                            await asyncio.sleep(0.01)

                def feed(impl: str) -> Op:
                    dp = dps[impl]
                    return lambda i: dp.feed_update(bot, _update(bot, i, text))

                report.rows.append(
                    await interleaved(
                        label, {impl: feed(impl) for impl in IMPLS}, rounds, per_round, warmup
                    )
                )
            finally:
                for middleware in middlewares.values():
                    await middleware.close()

        none: dict[str, BaseEventIsolation | None] = {"redis": None, "pg": None}
        await update_rows(
            "update through a Dispatcher, no FSM step, settings cache off", 0, "hi", none
        )
        await update_rows(
            "update through a Dispatcher, no FSM step, settings cache hit", 10_000, "hi", none
        )
        await update_rows(
            "update through a Dispatcher, FSM step (update_data + set_state), cache hit",
            10_000,
            "step",
            none,
        )
        locks: dict[str, BaseEventIsolation | None] = {
            "redis": RedisEventIsolation(redis_storage.redis),
            "pg": AdvisoryLockIsolation(),
        }
        try:
            await update_rows(
                "the FSM step with events isolation (Redis lock / advisory lock)",
                10_000,
                "step",
                locks,
            )
        finally:
            for isolation in locks.values():
                assert isolation is not None
                await isolation.close()
    finally:
        for impl in IMPLS:
            for i in range(CHATS):
                await storages[impl].set_state(_key(bot, i), None)
                await storages[impl].set_data(_key(bot, i), {})
        await pg.close()
        await redis_storage.close()
        await bot.session.close()
    return report


_updates: dict[tuple[int, str], Update] = {}


def _update(bot: Bot, i: int, text: str) -> Update:
    """The message ``text`` of the i-th chat, built once (pydantic is not what is measured)."""
    key = (i % CHATS, text)
    update = _updates.get(key)
    if update is None:
        update = _updates[key] = bots.message_update(
            bot, 900_000 + len(_updates), BASE + key[0], text
        )
    return update


def render_fsm(report: FsmReport) -> str:
    if report.skipped is not None:
        return f"FSM storage: skipped, {report.skipped}"
    lines = [
        f"FSM storage (aiogram {LABELS['redis']} on Redis {report.redis_version} at 127.0.0.1:6379"
        f" vs {LABELS['pg']}), µs/op: median (p90). pg/redis = PostgreSQL's time / Redis's.",
        "",
        f"| row | {LABELS['redis']} | {LABELS['pg']} | pg/redis |",
        "|---|---:|---:|---:|",
    ]
    for row in report.rows:
        cells = " | ".join(f"{row.median(i):,.1f} ({row.p90(i):,.0f})" for i in IMPLS)
        lines.append(f"| {row.title} | {cells} | {row.median('pg') / row.median('redis'):.2f}x |")
    return "\n".join(lines)
