"""The measurements: single-operation rows, dispatcher throughput, cache memory; the report.

Every row runs the three implementations on the same database in the same process, in
several rounds; within a round they take turns every few operations (rotating who goes
first), so that other load on the machine hits all three alike. Each operation is timed on
its own and a row reports the median (and p90) of all its samples. Preparing an operation's
input (building the aiogram ``Update``, picking a chat id) happens outside the timed region.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.types import Update

import tt_storage
from tt_storage.core.cache import SettingsCache

from . import bots, flows, raw, seed
from .database import asyncpg_dsn

IMPLS = ("raw", "seed", "tt")
LABELS = {"raw": "(a) raw asyncpg", "seed": "(b) seed SQLAlchemy", "tt": "(c) tt-storage"}

#: The issue's targets.
MAX_TT_OVER_RAW = 1.25  # every single-op row, cold cache
MIN_SEED_OVER_TT = 3.0  # every row
MIN_RAW_OVER_HIT = 10.0  # a cache hit vs one raw round trip
MIN_THROUGHPUT_VS_RAW = 0.8

LINK = "https://www.tiktok.com/@bench/video/7300000000000000000"
START_TEXT = "/start bench"
TIKTOK_VIDEO_ID = 7_300_000_000_000_000_000

# Chat id ranges (all private chats, so positive), disjoint per purpose and implementation.
KNOWN_BASE = 1_000_000  # registered up front; settings rows (read only)
PER_IMPL_BASE = 2_000_000  # registered up front; download/music/toggle rows, 100k per impl
PER_IMPL_CHATS = 50
NEW_BASE = 10_000_000  # first updates of new chats, 1M per impl
THROUGHPUT_BASE = 100_000_000  # 10M per impl, 100k per round

_REGISTER_RANGE = (
    "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown) "
    "SELECT g, $3, 'en', NULL, false, 0, 0 FROM generate_series($1::bigint, $2::bigint) g "
    "ON CONFLICT (user_id) DO NOTHING"
)


@dataclass(frozen=True)
class Config:
    rounds: int = 7
    ops: int = 150  # per implementation per round
    warmup: int = 20  # untimed operations per implementation before a row
    chats: int = 200  # throughput: concurrent chats…
    updates: int = 20  # …each sending this many updates
    throughput_rounds: int = 3
    cache_entries: int = 100_000
    pool_size: int = 10
    #: Seconds one implementation may take per round of a row: a slow machine gets fewer
    #: samples rather than a run that never ends (at least ``min_ops`` are always taken).
    budget: float = 0.6
    min_ops: int = 20
    #: No new throughput round starts once this many seconds went into throughput rounds.
    throughput_budget: float = 45.0

    @classmethod
    def quick(cls) -> Config:
        return cls(
            rounds=2,
            ops=20,
            warmup=5,
            chats=20,
            updates=5,
            throughput_rounds=1,
            cache_entries=10_000,
            budget=0.2,
            min_ops=10,
        )

    @classmethod
    def tiny(cls) -> Config:
        """A few operations of everything: checks the machinery, measures nothing."""
        return cls(
            rounds=1,
            ops=3,
            warmup=1,
            chats=3,
            updates=2,
            throughput_rounds=1,
            cache_entries=200,
            pool_size=3,
            min_ops=1,
        )


class Sampled:
    """Per-implementation samples of one benchmark row, and their median and p90."""

    samples: dict[str, list[float]]

    def median(self, impl: str) -> float:
        return statistics.median(self.samples[impl])

    def p90(self, impl: str) -> float:
        values = sorted(self.samples[impl])
        return values[min(len(values) - 1, int(0.9 * len(values)))]


@dataclass
class Row(Sampled):
    key: str
    title: str
    #: ``op``: µs per operation (lower is better); ``throughput``: updates/s (higher is better).
    kind: str
    samples: dict[str, list[float]]

    def time_ratio(self, num: str, den: str) -> float:
        """How many times longer ``num`` takes than ``den`` (per op, or per update)."""
        if self.kind == "throughput":
            return self.median(den) / self.median(num)
        return self.median(num) / self.median(den)


@dataclass
class Report:
    config: Config
    machine: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    cache_bytes_per_chat: float = 0.0
    checks: list[str] = field(default_factory=list)
    #: 1-minute load averages at the start and the end: other processes skew every number.
    load: tuple[float, float] = (0.0, 0.0)

    def row(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)


async def _noop(event: Any, data: dict[str, Any]) -> None:
    return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or "?"


def _rotated(round_no: int) -> tuple[str, ...]:
    k = round_no % len(IMPLS)
    return IMPLS[k:] + IMPLS[:k]


#: Operations an implementation runs before the next one takes its turn.
CHUNK = 25

#: ``prepare(i)`` builds the i-th input (untimed), ``run(input)`` is timed.
Case = tuple[Callable[[int], Any], Callable[[Any], Awaitable[Any]]]


class Suite:
    def __init__(
        self, db_url: str, config: Config, progress: Callable[[str], None] | None = None
    ) -> None:
        self.url = db_url
        self.config = config
        self.progress = progress or (lambda _msg: None)
        self.bot = bots.offline_bot()
        self.pool: asyncpg.Pool | None = None
        self.middlewares: list[tt_storage.StorageMiddleware] = []
        self._updates: dict[tuple[int, str], Update] = {}
        self._update_id = 0
        self.known = config.warmup + config.rounds * config.ops

    # --- setup ---------------------------------------------------------------------------------

    async def open(self) -> None:
        dsn = asyncpg_dsn(self.url)
        self.pool = await raw.create_pool(dsn, self.config.pool_size)
        seed.initialize_database_components(dsn, pool_size=self.config.pool_size)
        await seed.init_db()  # the seed's startup; the tables exist, so it creates nothing
        now = int(time.time())
        await self.pool.execute(_REGISTER_RANGE, KNOWN_BASE, KNOWN_BASE + self.known, now)
        for i in range(len(IMPLS)):
            low = PER_IMPL_BASE + i * 100_000
            await self.pool.execute(_REGISTER_RANGE, low, low + PER_IMPL_CHATS - 1, now)

    async def close(self) -> None:
        for middleware in self.middlewares:
            await middleware.close()
        if self.pool is not None:
            await self.pool.close()
        await seed.dispose_database_components()
        await self.bot.session.close()

    async def machine(self) -> dict[str, str]:
        assert self.pool is not None
        version = await self.pool.fetchval("SHOW server_version")
        synchronous_commit = await self.pool.fetchval("SHOW synchronous_commit")
        packages = ("tortoise-orm", "asyncpg", "aiogram", "pydantic", "sqlalchemy", "greenlet")
        return {
            "cpus": str(len(os.sched_getaffinity(0))),
            "cpu": _cpu_model(),
            "os": platform.platform(),
            "python": sys.version.split()[0],
            "postgresql": str(version),
            "synchronous_commit": str(synchronous_commit),
            **{name: metadata.version(name) for name in packages},
        }

    def _update(self, chat_id: int, text: str, keep: bool) -> Update:
        key = (chat_id, text)
        update = self._updates.get(key)
        if update is None:
            self._update_id += 1
            update = bots.message_update(self.bot, self._update_id, chat_id, text)
            if keep:
                self._updates[key] = update
        return update

    def _event(
        self, chat_id: int, text: str = LINK, keep: bool = True
    ) -> tuple[Update, dict[str, Any]]:
        """An update of ``chat_id`` and the ``data`` aiogram gives an outer middleware with it;
        ``keep``: remember the update for the next time (chats that come back)."""
        update = self._update(chat_id, text, keep)
        return update, bots.middleware_data(self.bot, update)

    async def _live_middleware(self) -> tt_storage.StorageMiddleware:
        """A ``StorageMiddleware`` whose cache serves (its LISTEN connection is up)."""
        middleware = tt_storage.StorageMiddleware()
        self.middlewares.append(middleware)
        update, data = self._event(KNOWN_BASE)
        await middleware(_noop, update, data)  # starts the listener
        for _ in range(500):
            if middleware.cache.live:
                return middleware
            await asyncio.sleep(0.01)
        raise RuntimeError("the settings cache did not go live (no LISTEN connection)")

    # --- single operations ---------------------------------------------------------------------

    async def _measure(self, key: str, title: str, cases: dict[str, Case]) -> Row:
        self.progress(f"  {title}")
        config = self.config
        counters = dict.fromkeys(IMPLS, 0)
        samples: dict[str, list[float]] = {impl: [] for impl in IMPLS}
        for impl in IMPLS:
            prepare, run = cases[impl]
            for _ in range(config.warmup):
                await run(prepare(counters[impl]))
                counters[impl] += 1
        clock = time.perf_counter_ns
        budget = int(config.budget * 1e9)
        for round_no in range(config.rounds):
            gc.collect()
            # The implementations take turns every CHUNK operations (who goes first rotates),
            # so that a change in the machine's load hits all three alike.
            done = dict.fromkeys(IMPLS, 0)
            spent = dict.fromkeys(IMPLS, 0)
            active = set(IMPLS)
            turn = round_no
            while active:
                for impl in _rotated(turn):
                    if impl not in active:
                        continue
                    prepare, run = cases[impl]
                    out = samples[impl]
                    # The previous turn's garbage is collected now, not in this turn's timings.
                    gc.collect(1)
                    for _ in range(CHUNK):
                        arg = prepare(counters[impl])
                        counters[impl] += 1
                        start = clock()
                        await run(arg)
                        took = clock() - start
                        out.append(took / 1000)
                        done[impl] += 1
                        spent[impl] += took
                        if done[impl] >= config.ops or (
                            spent[impl] > budget and done[impl] >= config.min_ops
                        ):
                            active.discard(impl)
                            break
                turn += 1
        return Row(key, title, "op", samples)

    def _middleware_case(
        self, middleware: Any, chat: Callable[[int], int], text: str, keep: bool = True
    ) -> Case:
        def prepare(i: int) -> tuple[Update, dict[str, Any]]:
            return self._event(chat(i), text, keep)

        async def run(arg: tuple[Update, dict[str, Any]]) -> None:
            await middleware(_noop, *arg)

        return prepare, run

    async def settings_rows(self, report: Report) -> None:
        assert self.pool is not None
        raw_mw, seed_mw = raw.RawMiddleware(self.pool), flows.SeedMiddleware()
        known = self.known

        def any_known(i: int) -> int:
            return KNOWN_BASE + i % known

        # Cache miss: the cache is live, but every operation asks for a chat it has not seen.
        miss_mw = await self._live_middleware()
        hits_before = miss_mw.cache.hits
        row = await self._measure(
            "miss",
            "settings, known chat, cache miss (middleware)",
            {
                "raw": self._middleware_case(raw_mw, any_known, LINK),
                "seed": self._middleware_case(seed_mw, any_known, LINK),
                "tt": self._middleware_case(miss_mw, lambda i: KNOWN_BASE + 1 + i, LINK, False),
            },
        )
        report.rows.append(row)
        if miss_mw.cache.hits != hits_before or not miss_mw.cache.live:
            report.checks.append("FAILED: the cache-miss row hit the cache or was not live")

        # Cache hit: a warm cache over a few chats.
        hit_mw = await self._live_middleware()
        warm = min(100, known)
        for i in range(warm):
            await hit_mw(_noop, *self._event(KNOWN_BASE + i))
        misses_before = hit_mw.cache.misses
        row = await self._measure(
            "hit",
            "settings, known chat, cache hit (middleware)",
            {
                "raw": self._middleware_case(raw_mw, lambda i: KNOWN_BASE + i % warm, LINK),
                "seed": self._middleware_case(seed_mw, lambda i: KNOWN_BASE + i % warm, LINK),
                "tt": self._middleware_case(hit_mw, lambda i: KNOWN_BASE + i % warm, LINK),
            },
        )
        report.rows.append(row)
        if hit_mw.cache.misses != misses_before:
            report.checks.append("FAILED: the cache-hit row missed the cache")

        # First update of a new chat: SELECT finds nothing, then the chat is registered.
        new_mw = await self._live_middleware()

        def new_chat(impl: str) -> Callable[[int], int]:
            base = NEW_BASE + IMPLS.index(impl) * 1_000_000
            return lambda i: base + i

        row = await self._measure(
            "new",
            "first update of a new chat (middleware: SELECT + register)",
            {
                "raw": self._middleware_case(raw_mw, new_chat("raw"), START_TEXT, False),
                "seed": self._middleware_case(seed_mw, new_chat("seed"), START_TEXT, False),
                "tt": self._middleware_case(new_mw, new_chat("tt"), START_TEXT, False),
            },
        )
        report.rows.append(row)
        for impl in IMPLS:
            expected = self.config.warmup + len(row.samples[impl])
            low = new_chat(impl)(0)
            made = await self.pool.fetchval(
                "SELECT count(*) FROM users WHERE user_id BETWEEN $1 AND $2 AND link = 'bench'",
                low,
                low + 999_999,
            )
            if made != expected:
                report.checks.append(f"FAILED: {impl} registered {made} new chats, not {expected}")
        # A bot has one middleware, hence one LISTEN connection: close these three.
        for middleware in (miss_mw, hit_mw, new_mw):
            await middleware.close()
            self.middlewares.remove(middleware)

    async def download_rows(self, report: Report) -> None:
        pool = self.pool
        assert pool is not None

        def chat(impl: str) -> Callable[[int], int]:
            base = PER_IMPL_BASE + IMPLS.index(impl) * 100_000
            return lambda i: base + i % PER_IMPL_CHATS

        shows = dict.fromkeys(IMPLS, 0)

        def download(impl: str, fn: Callable[[int, str], Awaitable[bool]]) -> Case:
            async def run(chat_id: int) -> None:
                if await fn(chat_id, LINK):
                    shows[impl] += 1

            return chat(impl), run

        async def raw_download(chat_id: int, link: str) -> bool:
            return await raw.private_download(pool, chat_id, link)

        report.rows.append(
            await self._measure(
                "download",
                "private download (ad decision + tracking)",
                {
                    "raw": download("raw", raw_download),
                    "seed": download("seed", flows.seed_private_download),
                    "tt": download("tt", flows.tt_private_download),
                },
            )
        )
        # Every chat starts with ad_count 0 and no cooldown, so its downloads 1, 4, 7, … show
        # an ad (the 24 h cooldown cannot expire during a run).
        row = report.rows[-1]
        failed = len(report.checks)
        for impl in IMPLS:
            done = self.config.warmup + len(row.samples[impl])
            per_chat = [
                done // PER_IMPL_CHATS + (j < done % PER_IMPL_CHATS) for j in range(PER_IMPL_CHATS)
            ]
            expected = sum((k + 2) // 3 for k in per_chat)
            if shows[impl] != expected:
                report.checks.append(
                    f"FAILED: {impl} showed {shows[impl]} ads in {done} downloads, not {expected}"
                )
        if len(report.checks) == failed:
            report.checks.append("ok: all three follow the ad rule (downloads 1, 4, 7, …)")

        def music(impl: str, fn: Callable[[int, int], Awaitable[None]]) -> Case:
            pick = chat(impl)

            async def run(i: int) -> None:
                await fn(pick(i), TIKTOK_VIDEO_ID + i)

            return (lambda i: i), run

        async def raw_music(chat_id: int, video_id: int) -> None:
            await raw.add_music(pool, chat_id, video_id)

        report.rows.append(
            await self._measure(
                "music",
                "music download (add_music)",
                {
                    "raw": music("raw", raw_music),
                    "seed": music("seed", flows.seed_music),
                    "tt": music("tt", flows.tt_music),
                },
            )
        )

        async def raw_toggle(chat_id: int) -> None:
            await raw.toggle_mode(pool, chat_id)

        report.rows.append(
            await self._measure(
                "toggle",
                "/mode toggle",
                {
                    "raw": (chat("raw"), raw_toggle),
                    "seed": (chat("seed"), flows.seed_toggle_mode),
                    "tt": (chat("tt"), flows.tt_toggle_mode),
                },
            )
        )

    # --- throughput ----------------------------------------------------------------------------

    async def throughput_row(self, report: Report) -> None:
        config = self.config
        assert self.pool is not None
        title = (
            f"throughput: {config.chats} concurrent chats x {config.updates} updates "
            "(Dispatcher, updates/s)"
        )
        self.progress(f"  {title}")
        tt_mw = await self._live_middleware()
        dispatchers: dict[str, tuple[Dispatcher, Bot]] = {
            "raw": (bots.raw_dispatcher(self.pool), bots.offline_bot()),
            "seed": (bots.seed_dispatcher(), bots.offline_bot()),
            "tt": (bots.tt_dispatcher(tt_mw), bots.offline_bot()),
        }
        samples: dict[str, list[float]] = {impl: [] for impl in IMPLS}
        sent = dict.fromkeys(IMPLS, 0)
        try:
            # Round 0 warms up (fewer chats), rounds 1.. are measured.
            started = time.perf_counter()
            for round_no in range(config.throughput_rounds + 1):
                if round_no > 1 and time.perf_counter() - started > config.throughput_budget:
                    break
                if round_no == 1:
                    started = time.perf_counter()
                chats = max(2, config.chats // 10) if round_no == 0 else config.chats
                for impl in _rotated(round_no):
                    dp, bot = dispatchers[impl]
                    base = THROUGHPUT_BASE + IMPLS.index(impl) * 10_000_000 + round_no * 100_000
                    per_second = await self._feed(dp, bot, base, chats, config.updates)
                    if round_no > 0:
                        samples[impl].append(per_second)
                    stored = await self.pool.fetchval(
                        "SELECT count(*) FROM videos WHERE user_id BETWEEN $1 AND $2",
                        base,
                        base + 99_999,
                    )
                    if stored != chats * config.updates:
                        report.checks.append(
                            f"FAILED: {impl} stored {stored} downloads,"
                            f" not {chats * config.updates}"
                        )
                    sent[impl] += stored
            for impl, (_dp, bot) in dispatchers.items():
                assert isinstance(bot.session, bots.OfflineSession)
                # Bot API calls beyond one video per download are ads.
                sent[impl] = bot.session.requests - sent[impl]
        finally:
            for _dp, bot in dispatchers.values():
                await bot.session.close()
        report.rows.append(Row("throughput", title, "throughput", samples))
        ads = {impl: sent[impl] for impl in IMPLS}
        if len(set(ads.values())) != 1:
            report.checks.append(f"FAILED: throughput bots sent different numbers of ads: {ads}")
        else:
            report.checks.append(f"ok: the three throughput bots sent the same ads ({ads['tt']})")

    async def _feed(self, dp: Dispatcher, bot: Bot, base: int, chats: int, updates: int) -> float:
        batches = [
            [bots.message_update(bot, (c + 1) * 1000 + u, base + c, LINK) for u in range(updates)]
            for c in range(chats)
        ]

        async def chat(batch: list[Update]) -> None:
            for update in batch:
                await dp.feed_update(bot, update)

        gc.collect()
        start = time.perf_counter()
        await asyncio.gather(*(chat(batch) for batch in batches))
        return chats * updates / (time.perf_counter() - start)


def cache_bytes_per_chat(entries: int) -> float:
    """Memory the settings cache holds per cached chat, by tracemalloc over ``entries`` puts.

    The values are made as the database hands them over: a fresh ``str`` per row for the
    language (asyncpg does not intern), Telegram-sized chat ids.
    """
    langs = [code.encode() for code in ("en", "ru", "uk", "vi", "ar", "id", "hi", "so")]
    gc.collect()
    tracemalloc.start()
    try:
        cache = SettingsCache(max_entries=entries)
        cache.live = True
        before = tracemalloc.get_traced_memory()[0]
        for i in range(entries):
            cache.put(5_000_000_000 + i * 7, langs[i % 8].decode(), i % 5 == 0, cache.generation)
        after = tracemalloc.get_traced_memory()[0]
        assert len(cache) == entries
    finally:
        tracemalloc.stop()
    cache.close()
    return (after - before) / entries


async def run_suite(
    db_url: str, config: Config, progress: Callable[[str], None] | None = None
) -> Report:
    """Run every row on ``db_url``, which tt-storage must already be initialized with.

    The database needs tt-storage's schema (its migrations); the suite adds chats and
    downloads in id ranges of its own.
    """
    suite = Suite(db_url, config, progress)
    load = os.getloadavg()[0]
    try:
        await suite.open()
        report = Report(config, await suite.machine())
        await suite.settings_rows(report)
        await suite.download_rows(report)
        await suite.throughput_row(report)
    finally:
        await suite.close()
    (progress or (lambda _m: None))("  settings cache memory")
    report.cache_bytes_per_chat = cache_bytes_per_chat(config.cache_entries)
    report.load = (load, os.getloadavg()[0])
    return report


# --- the report ----------------------------------------------------------------------------------


def _cell(row: Row, impl: str) -> str:
    if row.kind == "throughput":
        return f"{row.median(impl):,.0f}/s"
    return f"{row.median(impl):,.1f} ({row.p90(impl):,.0f})"


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def targets(report: Report) -> list[tuple[bool, str]]:
    """Each target of the issue: (met, what was measured)."""
    single = [r for r in report.rows if r.kind == "op" and r.key != "hit"]
    worst = max(single, key=lambda r: r.time_ratio("tt", "raw"))
    slowest = min(report.rows, key=lambda r: r.time_ratio("seed", "tt"))
    hit = report.row("hit")
    hit_speedup = hit.median("raw") / hit.median("tt")
    tp = report.row("throughput")
    tp_ratio = tp.median("tt") / tp.median("raw")
    return [
        (
            worst.time_ratio("tt", "raw") <= MAX_TT_OVER_RAW,
            f"tt-storage <= {MAX_TT_OVER_RAW}x raw asyncpg on every single-op row (cold cache):"
            f" worst {worst.time_ratio('tt', 'raw'):.2f}x ({worst.title})",
        ),
        (
            slowest.time_ratio("seed", "tt") >= MIN_SEED_OVER_TT,
            f">= {MIN_SEED_OVER_TT:g}x faster than the seed on every row:"
            f" least {slowest.time_ratio('seed', 'tt'):.2f}x ({slowest.title})",
        ),
        (
            hit_speedup >= MIN_RAW_OVER_HIT,
            f"cache hit >= {MIN_RAW_OVER_HIT:g}x faster than one raw asyncpg round trip:"
            f" {hit_speedup:.1f}x",
        ),
        (
            tp_ratio >= MIN_THROUGHPUT_VS_RAW,
            f"throughput >= {MIN_THROUGHPUT_VS_RAW}x raw asyncpg's: {tp_ratio:.2f}x",
        ),
    ]


def render(report: Report) -> str:
    config, machine = report.config, report.machine
    op_rows = [r for r in report.rows if r.kind == "op"]
    fewest = min((len(r.samples[i]) for r in op_rows for i in IMPLS), default=0)
    tp_rounds = len(report.row("throughput").samples["tt"]) if report.rows else 0
    lines = [
        f"tt-storage benchmark: PostgreSQL {machine['postgresql']}"
        f" (synchronous_commit={machine['synchronous_commit']}), Python {machine['python']},"
        f" {machine['cpus']} CPUs, load average {report.load[0]:.1f} -> {report.load[1]:.1f};"
        f" pool {config.pool_size} per implementation; {config.rounds} interleaved rounds,"
        f" >= {fewest} samples per cell; {tp_rounds} throughput round(s)",
        "",
        "µs/op: median (p90); throughput: median updates/s. c/a = tt-storage's time / raw"
        " asyncpg's, b/c = the seed's time / tt-storage's (per update for throughput).",
        "",
        f"| row | {LABELS['raw']} | {LABELS['seed']} | {LABELS['tt']} | c/a | b/c |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in report.rows:
        lines.append(
            f"| {row.title} | {_cell(row, 'raw')} | {_cell(row, 'seed')} | {_cell(row, 'tt')}"
            f" | {row.time_ratio('tt', 'raw'):.2f}x | {row.time_ratio('seed', 'tt'):.1f}x |"
        )
    lines += [
        "",
        f"settings cache: {report.cache_bytes_per_chat:,.0f} bytes per cached chat"
        f" (tracemalloc, {config.cache_entries:,} entries)",
        "",
        "targets:",
        *(f"  [{_mark(ok)}] {text}" for ok, text in targets(report)),
    ]
    if report.checks:
        lines += ["", "checks:", *(f"  {check}" for check in report.checks)]
    versions = ", ".join(
        f"{name} {machine[name]}"
        for name in ("tortoise-orm", "asyncpg", "aiogram", "pydantic", "sqlalchemy", "greenlet")
    )
    lines += ["", f"machine: {machine['cpu']}; {machine['os']}; {versions}"]
    return "\n".join(lines)
