"""Outages against real servers: time limits, the outbox, and a bot under a steady stream of
updates while its database is killed (pg_terminate_backend) or stopped and started again.

Destructive faults run on the test's own embedded server (``tests.support.faults``), never on
the shared one; each test binds the library to its own database and rebinds the session's
database afterwards. Figures are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

import tt_storage as tt
from tests.support.database import database_name
from tests.support.download_bot import DownloadBot, check, music, video
from tests.support.faults import FreezableProxy, OwnServer, own_server, rebound
from tests.support.waiting import until
from tt_storage import default_storage, media
from tt_storage.core import db as db_module
from tt_storage.core.outbox import OutboxStats
from tt_storage.core.replay import OutboxEvent
from tt_storage.testing import updates as events

#: The default storage's outbox (the same object across close and init).
outbox = default_storage().outbox

pytestmark = pytest.mark.slow

#: Quick limits for tests: every wait below is bounded by one of them.
FAST = {
    "connect_timeout": 1.0,
    "acquire_timeout": 1.0,
    "command_timeout": 1.0,
    "outbox_retry_delay": 0.05,
    "outbox_max_retry_delay": 0.3,
    "outbox_close_timeout": 3.0,
}


@pytest.fixture
def own() -> OwnServer:
    return own_server()


@pytest.fixture
async def own_db(own: OwnServer) -> AsyncIterator[str]:
    """A fresh migrated database on the own server, the library bound to it for the test."""
    if not (own.pgdata / "postmaster.pid").exists():
        await own.start()  # a previous test failed while it was stopped
    url = await own.create_database()
    async with rebound(url, max_size=10, **FAST):
        yield url


async def connect(own: OwnServer, url: str) -> asyncpg.Connection:
    return await own.connect(database_name(url))


def delta(before: OutboxStats, after: OutboxStats) -> dict[str, int]:
    return {
        name: getattr(after, name) - getattr(before, name)
        for name in ("queued", "flushed", "duplicates", "dropped", "failed", "abandoned")
    } | {"pending": after.pending}


async def elapsed(call: Awaitable[Any]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        await call
    except BaseException as exc:  # the test inspects it
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


# --- every wait is bounded ----------------------------------------------------------------------


async def test_dead_server_fails_fast(own: OwnServer, own_db: str) -> None:
    await tt.create_user(1, "en")
    await own.stop()
    try:
        for call in (
            tt.get_user_settings(1),
            tt.update_user_lang(1, "ru"),
            tt.claim_ad_slot(1),
            tt.get_other_stats(),
        ):
            exc, seconds = await elapsed(call)
            assert isinstance(exc, tt.StorageUnavailable), exc
            assert seconds < 1.0, seconds
    finally:
        await own.start()
    assert await tt.get_user_settings(1) == ("en", False)


async def test_black_holed_connect_is_bounded_by_connect_timeout(db_url: str) -> None:
    async with FreezableProxy(db_url) as proxy:
        url = proxy.url(database_name(db_url))
        options = {**FAST, "connect_timeout": 0.5, "acquire_timeout": 5.0}
        async with rebound(url, min_size=0, max_size=2, **options):
            release = asyncio.Event()

            async def hold() -> None:
                async with db_module.connection():
                    await release.wait()

            holder = asyncio.create_task(hold())
            await asyncio.sleep(0.1)
            proxy.freeze()  # a new connection now hangs in the TCP handshake's aftermath
            exc, seconds = await elapsed(tt.get_user_settings(1))
            release.set()
            proxy.thaw()
            await holder
    assert isinstance(exc, tt.StorageTimeout), exc
    assert 0.4 < seconds < 1.5, seconds


async def test_full_pool_waits_acquire_timeout_then_raises(db_url: str) -> None:
    async with rebound(db_url, max_size=2, **{**FAST, "acquire_timeout": 0.3}):
        release = asyncio.Event()

        async def hold() -> None:
            async with db_module.connection():
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await asyncio.sleep(0.1)
        exc, seconds = await elapsed(tt.get_user_settings(1))
        release.set()
        await asyncio.gather(*holders)
        assert await tt.get_user_settings(1) is None  # the pool works again
    assert isinstance(exc, tt.StorageTimeout), exc
    assert "0.3 s" in str(exc)
    assert 0.25 < seconds < 1.0, seconds


async def test_hung_statement_is_cancelled_at_command_timeout(
    db_url: str, raw: asyncpg.Connection
) -> None:
    await raw.execute("TRUNCATE users, videos, music RESTART IDENTITY CASCADE")
    async with rebound(db_url, max_size=2, **{**FAST, "command_timeout": 0.5}):
        await tt.create_user(7, "en")
        async with raw.transaction():
            await raw.execute("SELECT 1 FROM users WHERE user_id = 7 FOR UPDATE")
            exc, seconds = await elapsed(tt.update_user_lang(7, "ru"))
            # The server side was cancelled, not left waiting on the lock.
            waiting = await raw.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        assert await tt.update_user_lang(7, "uk") is True
    assert isinstance(exc, tt.StorageTimeout), exc
    assert 0.45 < seconds < 1.5, seconds
    assert waiting == 0
    assert await raw.fetchval("SELECT lang FROM users WHERE user_id = 7") == "uk"


async def test_black_holed_statement_is_bounded(db_url: str) -> None:
    """A network that swallows everything after connecting: the statement times out, and
    releasing the connection (asyncpg cancels, then resets it) is bounded too: in all, at
    most about twice ``command_timeout``."""
    async with FreezableProxy(db_url) as proxy:
        url = proxy.url(database_name(db_url))
        async with rebound(url, max_size=2, **{**FAST, "command_timeout": 0.5}):
            assert await tt.get_user_settings(1) is None
            proxy.freeze()
            exc, seconds = await elapsed(tt.get_user_settings(1))
            proxy.thaw()
    assert isinstance(exc, tt.StorageTimeout), exc
    assert seconds < 1.5, seconds


# --- the outbox ---------------------------------------------------------------------------------


async def test_outage_writes_are_queued_then_written_in_order(own: OwnServer, own_db: str) -> None:
    await tt.create_user(5, "en")
    cached = await media.store_media("k", 42, "video", (media.MediaFile("video", "f"),))
    before = tt.ops.outbox_stats()
    await own.stop()
    try:
        started = int(time.time())
        assert await tt.track_download(5, "https://t/1", False, ad=True) is False
        await tt.add_music(5, 77, media_id=cached.media_id, cache_hit=True)
        await tt.add_video(6, "https://t/2", True, True)
        assert await tt.track_download(5, "https://t/3", False, ad=True) is False
        queued = outbox.pending()
        assert [(e.kind, e.chat, e.maybe_written) for e in queued] == [
            ("video", 5, False),
            ("music", 5, False),
            ("video", 6, False),
            ("video", 5, False),
        ]
        assert all(started <= e.downloaded_at <= started + 1 for e in queued)
        with pytest.raises(tt.StorageUnavailable):
            await tt.ops.flush_outbox()
    finally:
        await own.start()
    await tt.ops.flush_outbox()  # or the background flusher did already
    assert outbox.stats().pending == 0
    conn = await connect(own, own_db)
    try:
        videos = await conn.fetch(
            "SELECT user_id, downloaded_at, video_link, is_images, is_processed"
            " FROM videos ORDER BY pk_id"
        )
        assert [tuple(r) for r in videos] == [
            (5, queued[0].downloaded_at, "https://t/1", False, False),
            (6, queued[2].downloaded_at, "https://t/2", True, True),
            (5, queued[3].downloaded_at, "https://t/3", False, False),
        ]
        assert await conn.fetchval("SELECT count(*) FROM music WHERE user_id = 5") == 1
        # The media cache link rides along, and the entry counts the replayed use.
        music = await conn.fetchrow("SELECT media_id, cache_hit FROM music")
        assert tuple(music) == (cached.media_id, True)
        assert await conn.fetchval("SELECT use_count FROM tt_storage_media") == 1
        # Two downloads without an ad; chat 6 was registered by the replay, at its download.
        user5 = await conn.fetchrow("SELECT ad_count, ad_cooldown FROM users WHERE user_id = 5")
        assert tuple(user5) == (2, 0)
        user6 = await conn.fetchrow("SELECT * FROM users WHERE user_id = 6")
        assert (user6["lang"], user6["registered_at"], user6["ad_count"]) == (
            "en",
            queued[2].downloaded_at,
            0,
        )
    finally:
        await conn.close()
    # The rule continues from there: download 3 since the last ad (count 2) -> cooldown 0: ad.
    assert await tt.track_download(5, "https://t/4", False, ad=True) is True
    figures = delta(before, tt.ops.outbox_stats())
    assert figures == {
        "queued": 4,
        "flushed": 4,
        "duplicates": 0,
        "dropped": 0,
        "failed": 0,
        "abandoned": 0,
        "pending": 0,
    }


async def test_unknown_outcome_that_was_written_is_not_written_twice(
    db_url: str, raw: asyncpg.Connection
) -> None:
    """The statement reaches the server and commits; its answer is lost (the network stops
    delivering to the client): the call times out, the download is queued as maybe written,
    and the replay finds its row instead of writing it again."""
    await raw.execute("TRUNCATE users, videos, music RESTART IDENTITY CASCADE")
    before = tt.ops.outbox_stats()
    async with FreezableProxy(db_url) as proxy:
        url = proxy.url(database_name(db_url))
        # One connection, its statements already prepared: otherwise the prepare round trip
        # is what hangs, and the statement is never executed.
        async with rebound(url, min_size=1, max_size=1, **{**FAST, "command_timeout": 0.5}):
            await tt.create_user(8, "en")
            assert await tt.track_download(8, "https://t/warm", False, ad=True) is True
            proxy.freeze(up=False, down=True)
            assert await tt.track_download(8, "https://t/once", False, ad=True) is False
            [event] = outbox.pending()
            assert event.maybe_written
            # Committed on the server all along.
            assert await raw.fetchval("SELECT count(*) FROM videos WHERE user_id = 8") == 2
            proxy.thaw()
            await until(lambda: outbox.stats().pending == 0, within=15)
            assert event.outcome == "duplicate"
    assert await raw.fetchval("SELECT count(*) FROM videos WHERE user_id = 8") == 2
    # The server's decision stands: download 2 showed no ad (count 2). Had it decided on an ad,
    # that would stand too, though the caller was told False (documented).
    assert await raw.fetchval("SELECT ad_count FROM users WHERE user_id = 8") == 2
    figures = delta(before, tt.ops.outbox_stats())
    assert (figures["queued"], figures["duplicates"], figures["flushed"]) == (1, 1, 0)


async def test_unknown_outcome_of_a_killed_statement_is_written(
    own: OwnServer, own_db: str
) -> None:
    """The statement is sent and its backend killed before it finishes: maybe written, not
    found on replay, written once."""
    await tt.create_user(9, "en")
    conn = await connect(own, own_db)
    try:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM users WHERE user_id = 9 FOR UPDATE")
            call = asyncio.create_task(tt.track_download(9, "https://t/k", False, ad=True))
            await asyncio.sleep(0.2)  # waiting on the lock
            killed = await conn.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock') t"
            )
            assert killed == 1
            assert await call is False
            # The replay waits for this transaction's lock on the chat.
            [event] = outbox.pending()
            assert event.maybe_written
        await tt.ops.flush_outbox()
        assert event.outcome == "written"
        assert await conn.fetchval("SELECT count(*) FROM videos WHERE user_id = 9") == 1
        assert await conn.fetchval("SELECT ad_count FROM users WHERE user_id = 9") == 1
    finally:
        await conn.close()


async def test_an_event_the_database_refuses_does_not_block_the_queue(
    db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """One queued download whose replay fails for another reason than an outage (here its
    chat's ad counter would overflow INT): logged, counted as failed; the rest is written."""
    caplog.set_level(logging.INFO, logger="tt_storage")
    await tt.create_user(30, "en")
    await tt.create_user(31, "en")
    await db.execute("UPDATE users SET ad_count = 2147483647 WHERE user_id = 31")
    before = tt.ops.outbox_stats()
    events_ = [
        OutboxEvent("video", 30, 1_700_000_000, True, "https://t/1"),
        OutboxEvent("video", 31, 1_700_000_001, True, "https://t/2"),
        OutboxEvent("music", 30, 1_700_000_002, False, video_id=3),
    ]
    async with outbox._lock:  # all three in one batch
        assert all(outbox.add(event) for event in events_)
    await tt.ops.flush_outbox()
    assert [e.outcome for e in events_] == ["written", "failed", "written"]
    figures = delta(before, tt.ops.outbox_stats())
    assert (figures["queued"], figures["flushed"], figures["failed"]) == (3, 2, 1)
    assert [r[0] for r in await db.fetch("SELECT video_link FROM videos")] == ["https://t/1"]
    assert await db.fetchval("SELECT count(*) FROM music") == 1
    assert await db.fetchval("SELECT ad_count FROM users WHERE user_id = 30") == 1
    refused = [r for r in caplog.records if "refused a queued write" in r.getMessage()]
    assert len(refused) == 1 and "chat=31" in refused[0].getMessage()


async def test_a_chat_with_queued_writes_queues_new_ones_behind_them(
    own: OwnServer, own_db: str
) -> None:
    await tt.create_user(10, "en")
    await tt.create_user(11, "en")
    await own.stop()
    try:
        assert await tt.track_download(10, "https://t/a", False, ad=True) is False
        await outbox._lock.acquire()  # keeps the flusher from writing it before the next calls
    finally:
        await own.start()
    try:
        # The database is back, but chat 10 has a queued download: its next one queues too,
        # so the increments land before any later decision. Chat 11 goes straight through.
        assert outbox.holds(10) and not outbox.holds(11)
        assert await tt.track_download(10, "https://t/b", False, ad=True) is False
        assert await tt.track_download(11, "https://t/c", False, ad=True) is True
        assert [e.video_link for e in outbox.pending()] == ["https://t/a", "https://t/b"]
    finally:
        outbox._lock.release()
    await tt.ops.flush_outbox()
    conn = await connect(own, own_db)
    try:
        assert await conn.fetchval("SELECT ad_count FROM users WHERE user_id = 10") == 2
        links = [r[0] for r in await conn.fetch("SELECT video_link FROM videos ORDER BY pk_id")]
        assert links == ["https://t/c", "https://t/a", "https://t/b"]
    finally:
        await conn.close()
    # Downloads 1 and 2 had no ad, so the next one (cooldown never started) shows one.
    assert await tt.track_download(10, "https://t/d", False, ad=True) is True


async def test_overflow_is_counted_and_logged_once_per_burst(
    own: OwnServer, own_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tt_storage")
    before = tt.ops.outbox_stats()
    outbox.size = 3
    await own.stop()
    try:
        for n in range(7):
            await tt.add_video(12, f"https://t/{n}", False)
    finally:
        await own.start()
    await tt.ops.flush_outbox()
    figures = delta(before, tt.ops.outbox_stats())
    assert (figures["queued"], figures["flushed"], figures["dropped"]) == (3, 3, 4)
    full = [r for r in caplog.records if "outbox full" in r.getMessage()]
    assert len(full) == 1 and full[0].levelno == logging.WARNING
    summary = [r for r in caplog.records if "were dropped while it was full" in r.getMessage()]
    assert len(summary) == 1 and "4 tracking writes" in summary[0].getMessage()
    conn = await connect(own, own_db)
    try:
        links = [r[0] for r in await conn.fetch("SELECT video_link FROM videos ORDER BY pk_id")]
    finally:
        await conn.close()
    assert links == ["https://t/0", "https://t/1", "https://t/2"]


async def test_close_storage_writes_the_queue(own: OwnServer, db_url: str) -> None:
    url = await own.create_database()
    async with rebound(url, max_size=2, **FAST):
        await own.stop()
        try:
            await tt.add_video(13, "https://t/x", False)
            await tt.add_music(13, 5)
            await outbox._stop_flusher()  # leave the writing to close_storage
        finally:
            await own.start()
        assert outbox.stats().pending == 2
        assert await tt.close_storage() == []
        conn = await connect(own, url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM videos") == 1
            assert await conn.fetchval("SELECT count(*) FROM music") == 1
        finally:
            await conn.close()


async def test_close_storage_reports_what_it_could_not_write(
    own: OwnServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = await own.create_database()
    before = tt.ops.outbox_stats()
    caplog.set_level(logging.INFO, logger="tt_storage")
    async with rebound(url, max_size=2, **{**FAST, "outbox_close_timeout": 1.0}):
        await own.stop()
        try:
            await tt.add_video(14, "https://t/lost", True)
            await tt.add_music(14, 6)
            started = time.monotonic()
            lost = await tt.close_storage()
            assert time.monotonic() - started < 3
        finally:
            await own.start()
    assert [(e.kind, e.chat, e.outcome) for e in lost] == [
        ("video", 14, "abandoned"),
        ("music", 14, "abandoned"),
    ]
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name.startswith("tt_storage")
    ]
    assert "2 queued tracking writes could not be written" in errors[0]
    assert "link='https://t/lost'" in errors[1] and "video_id=6" in errors[2]
    assert delta(before, tt.ops.outbox_stats())["abandoned"] == 2


async def test_a_chat_first_seen_in_an_outage_keeps_its_language_and_referral(
    own: OwnServer, own_db: str
) -> None:
    bot = DownloadBot(languages=["en", "uk"])
    try:
        await bot.feed(events.message(15, "hi"))  # the cache of a known chat is irrelevant here
        await own.stop()
        try:
            await bot.feed(events.message(16, "/start promo", lang="uk"))
            await bot.feed(video(16, 1, lang="uk"))
        finally:
            await own.start()
        await tt.ops.flush_outbox()
    finally:
        await bot.close()
    conn = await connect(own, own_db)
    try:
        row = await conn.fetchrow("SELECT lang, link FROM users WHERE user_id = 16")
    finally:
        await conn.close()
    assert tuple(row) == ("uk", "promo")
    assert [d.settings.persisted for d in bot.answered.values() if d.settings] == [
        True,
        False,
        False,
    ]


@asynccontextmanager
async def dry_pool(db_url: str, raw: asyncpg.Connection) -> AsyncIterator[None]:
    """While inside: both connections of a two-connection pool are stuck behind a row lock, so
    every call waits ``acquire_timeout`` (0.3 s) and gets ``StorageTimeout``. After it, the
    pool answers again; the library stays bound to it (and its outbox keeps its memory) until
    the enclosing ``rebound`` ends."""
    await tt.create_user(1, "en")
    async with raw.transaction():
        await raw.execute("SELECT 1 FROM users WHERE user_id = 1 FOR UPDATE")
        stuck = [asyncio.create_task(tt.update_user_lang(1, "ru")) for _ in range(2)]
        await asyncio.sleep(0.2)
        yield
    assert await asyncio.gather(*stuck) == [True, True]


POOL_OUTAGE = {**FAST, "acquire_timeout": 0.3, "command_timeout": 10.0}


def starts(text: str) -> Callable[[Any, dict[str, Any]], bool]:
    """A register predicate: only updates whose message text starts with ``text``."""

    def predicate(update: Any, data: dict[str, Any]) -> bool:
        message = getattr(update, "message", None)
        return bool(message is not None and (message.text or "").startswith(text))

    return predicate


async def test_a_referral_comes_only_from_the_first_update_seen_in_an_outage(
    db_url: str, db: asyncpg.Connection
) -> None:
    """'hi', then '/start promo', then a download, all in an outage: the chat's first update
    carried no referral, so it gets none (and the first update's language)."""
    async with rebound(db_url, max_size=2, **POOL_OUTAGE):
        bot = DownloadBot(languages=["en", "uk"], cache_size=0)
        try:
            async with dry_pool(db_url, db):
                await bot.feed(events.message(18, "hi", lang="uk"))
                await bot.feed(events.message(18, "/start promo", lang="en"))
                await bot.feed(video(18, 1, lang="en"))
            await tt.ops.flush_outbox()
        finally:
            await bot.close()
    assert tuple(await db.fetchrow("SELECT lang, link FROM users WHERE user_id = 18")) == (
        "uk",
        None,
    )


@pytest.mark.parametrize("registers", ["middleware", "download"])
async def test_a_chat_first_seen_in_an_outage_is_registered_as_its_first_update_said(
    db_url: str, db: asyncpg.Connection, registers: str
) -> None:
    """'/start promo' in an outage (fallback settings); the chat's next update, once the
    database answers, registers it -- through the middleware, or (the bot registers on /start
    only) through its download: with the first update's referral and language, and no update
    is ever new."""
    options: dict[str, Any] = {"languages": ["en", "uk"], "cache_size": 0}
    if registers == "download":
        options["register"] = starts("/start")
    async with rebound(db_url, max_size=2, **POOL_OUTAGE):
        bot = DownloadBot(**options)
        try:
            async with dry_pool(db_url, db):
                await bot.feed(events.message(19, "/start promo", lang="uk"))
            await bot.feed(video(19, 1, lang="en"))
        finally:
            await bot.close()
    assert tuple(await db.fetchrow("SELECT lang, link FROM users WHERE user_id = 19")) == (
        "uk",
        "promo",
    )
    assert await db.fetchval("SELECT count(*) FROM videos WHERE user_id = 19") == 1
    settings = [d.settings for d in bot.answered.values()]
    assert [s is not None and s.is_new for s in settings] == [False, False]


SLOW_WRITES = (
    "CREATE FUNCTION test_slow_write() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_sleep(0.02); RETURN NULL; END $$",
    "CREATE TRIGGER test_slow_write BEFORE INSERT ON videos"
    " FOR EACH STATEMENT EXECUTE FUNCTION test_slow_write()",
    "CREATE TRIGGER test_slow_write BEFORE INSERT ON users"
    " FOR EACH STATEMENT EXECUTE FUNCTION test_slow_write()",
)


async def test_referrals_on_an_exhausted_pool(db_url: str, db: asyncpg.Connection) -> None:
    """100 new private chats, each '/start <its ref>' then a download, on a two-connection pool
    whose writes take 20 ms (many updates and downloads time out and fall back or queue): every
    chat ends with its own referral and language, and no download update is ever new."""
    chats = [9_000_000 + n for n in range(100)]
    for statement in SLOW_WRITES:
        await db.execute(statement)
    try:
        async with rebound(db_url, max_size=2, **{**POOL_OUTAGE, "acquire_timeout": 0.5}):
            bot = DownloadBot(languages=["en", "uk"], cache_size=0)

            async def one_chat(chat: int) -> None:
                await bot.feed(events.message(chat, f"/start ref{chat}", lang="uk"))
                await bot.feed(video(chat, 1, lang="en"))

            try:
                await asyncio.gather(*(one_chat(chat) for chat in chats))
                async with asyncio.timeout(30):
                    while outbox.stats().pending:  # noqa: ASYNC110 - polling a counter
                        await asyncio.sleep(0.05)
            finally:
                await bot.close()
    finally:
        await db.execute("DROP TRIGGER IF EXISTS test_slow_write ON videos")
        await db.execute("DROP TRIGGER IF EXISTS test_slow_write ON users")
        await db.execute("DROP FUNCTION IF EXISTS test_slow_write()")
    rows = {r[0]: (r[1], r[2]) for r in await db.fetch("SELECT user_id, lang, link FROM users")}
    no_referral = [chat for chat in chats if rows[chat][1] != f"ref{chat}"]
    wrong_lang = [chat for chat in chats if rows[chat][0] != "uk"]
    settings = [(d.kind, d.settings) for d in bot.answered.values() if d.settings is not None]
    new_downloads = [s.chat_id for kind, s in settings if kind == "video" and s.is_new]
    fell_back = sum(not s.persisted for _, s in settings)
    print(
        f"\n100 chats on a dry pool: {fell_back} of 200 updates fell back; without their"
        f" referral {len(no_referral)}, another language {len(wrong_lang)}, new on a download"
        f" update {len(new_downloads)}"
    )
    assert fell_back > 0  # the pool really was exhausted
    assert (no_referral, wrong_lang, new_downloads) == ([], [], [])
    assert await db.fetchval("SELECT count(*) FROM videos") == 100


# --- the middleware in an outage -----------------------------------------------------------------


async def test_middleware_logs_one_warning_per_outage(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Concurrent failures log one warning; a slow load that began before the outage and
    succeeds during it does not end the outage; the next real success does, once."""
    caplog.set_level(logging.INFO, logger="tt_storage")
    real = db_module.connection
    state = {"down": False, "hold": False}
    gate = asyncio.Event()

    @asynccontextmanager
    async def flaky(*args: Any, **kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
        if state["hold"]:
            state["hold"] = False
            await gate.wait()
        elif state["down"]:
            raise tt.StorageUnavailable("test: database down")
        async with real(*args, **kwargs) as conn:
            yield conn

    def lines() -> tuple[int, int]:
        messages = [r.getMessage() for r in caplog.records if r.name == "tt_storage"]
        return (
            sum("handlers get fallback settings" in m for m in messages),
            sum("database reachable again" in m for m in messages),
        )

    monkeypatch.setattr(db_module, "connection", flaky)
    bot = DownloadBot(cache_size=0)
    try:
        state["hold"] = True
        slow = asyncio.create_task(bot.feed(events.message(40, "hi")))
        await asyncio.sleep(0.05)
        state["down"] = True
        await asyncio.gather(*(bot.feed(events.message(41 + n, "hi")) for n in range(20)))
        assert lines() == (1, 0)
        gate.set()
        await slow  # began before the outage: its success says nothing about now
        assert lines() == (1, 0)
        await bot.feed(events.message(41, "hi"))
        assert lines() == (1, 0)
        state["down"] = False
        await asyncio.gather(*(bot.feed(events.message(41 + n, "hi")) for n in range(5)))
        assert lines() == (1, 1)
        state["down"] = True
        await asyncio.gather(*(bot.feed(events.message(41 + n, "hi")) for n in range(5)))
        assert lines() == (2, 1)
    finally:
        await bot.close()
    assert len(bot.answered) == 32


# --- a bot under a steady stream of updates -----------------------------------------------------

PRIVATE = [20_000 + n for n in range(40)]
GROUPS = [-4_000 - n for n in range(10)]
PER_CHAT = 30
INTERVAL = 0.1  # seconds between a chat's updates: ~500 updates/s in all, for ~3.5 s


async def stream(
    bot: DownloadBot, fault: Callable[[], Awaitable[None]]
) -> tuple[dict[int, list[int]], list[BaseException]]:
    """Every chat sends its updates one after the other while ``fault`` runs; per chat, the
    message ids in sending order, and what feeding raised (nothing, if all is well)."""
    order: dict[int, list[int]] = {chat: [] for chat in PRIVATE + GROUPS}
    errors: list[BaseException] = []

    async def chat_loop(chat: int) -> None:
        for n in range(PER_CHAT):
            update = music(chat) if n % 5 == 4 else video(chat, n)
            assert update.message is not None
            order[chat].append(update.message.message_id)
            try:
                await bot.feed(update)
            except Exception as exc:  # collected, asserted empty
                errors.append(exc)
            await asyncio.sleep(INTERVAL)

    await asyncio.gather(fault(), *(chat_loop(chat) for chat in order))
    return order, errors


async def run_scenario(
    own: OwnServer, url: str, fault: Callable[[], Awaitable[None]], caplog: Any
) -> tuple[Any, dict[str, int], list[str], DownloadBot]:
    # Half the private chats are known with another language than their updates carry, so the
    # fallback settings show whether cached values were used.
    for chat in PRIVATE[::2]:
        await tt.create_user(chat, "uk")
    queued: dict[str, OutboxEvent] = {}
    real_add = outbox.add

    def recording_add(event: OutboxEvent) -> bool:
        if event.kind == "video":
            assert event.video_link is not None
            queued[event.video_link] = event
        return real_add(event)

    before = tt.ops.outbox_stats()
    bot = DownloadBot(languages=["en", "uk"])
    outbox.add = recording_add  # type: ignore[method-assign]
    try:
        order, errors = await stream(bot, fault)
        await until(lambda: outbox.stats().pending == 0, within=15)
        assert await tt.ops.flush_outbox() == 0
    finally:
        del outbox.add
        await bot.close()
    assert errors == []
    figures = delta(before, tt.ops.outbox_stats())
    conn = await connect(own, url)
    try:
        result = await check(conn, bot, order, queued)
    finally:
        await conn.close()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "tt_storage" and "handlers get fallback settings" in r.getMessage()
    ]
    unknown = sum(e.maybe_written for e in queued.values())
    print(
        f"\n{result.figures()}; outbox {figures} ({unknown} videos with an unknown first"
        f" outcome); middleware outage warnings {len(warnings)}"
    )
    assert result.ok, (result, result.ad_mismatches[:10])
    assert figures["queued"] == figures["flushed"] + figures["duplicates"]
    assert figures["dropped"] == figures["failed"] == figures["abandoned"] == 0
    return result, figures, warnings, bot


async def test_stream_survives_killed_backends(
    own: OwnServer, own_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tt_storage")
    kills: list[int] = []

    async def fault() -> None:
        for _ in range(3):
            await asyncio.sleep(0.8)
            kills.append(await own.terminate_backends(database_name(own_db)))

    _, _, warnings, _ = await run_scenario(own, own_db, fault, caplog)
    print(f"backends killed per round: {kills}")
    assert sum(kills) > 0
    assert len(warnings) <= len(kills)  # at most one per outage


async def test_stream_survives_a_server_restart(
    own: OwnServer, own_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tt_storage")
    down: list[float] = []

    async def fault() -> None:
        await asyncio.sleep(1.0)
        started = time.monotonic()
        await own.stop("immediate")
        try:
            await asyncio.sleep(1.0)
        finally:
            await own.start()
            down.append(time.monotonic() - started)

    _, figures, warnings, bot = await run_scenario(own, own_db, fault, caplog)
    print(f"server down for {down[0]:.2f} s")
    assert figures["queued"] > 0  # the outage really hit downloads
    assert len(warnings) == 1  # one warning for the whole outage
    # Fallback settings used what was cached: the known chats' stored language, not the
    # one their updates carried.
    fallback = [
        d.settings
        for d in bot.answered.values()
        if d.settings is not None and not d.settings.persisted
    ]
    assert fallback
    known = set(PRIVATE[::2])
    assert all(s.lang == "uk" for s in fallback if s.chat_id in known)
