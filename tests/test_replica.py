"""``replica_url`` against a real streaming replica: a primary and a hot standby (pg_basebackup
-R, Unix sockets) started for this test. Admin reads go to the standby, writes and the
per-update reads stay on the primary; paused replay makes the difference visible."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import asyncpg
import pytest
from tortoise.transactions import in_transaction

import tt_storage as tt
from tests.support import servers
from tests.support.checks import middleware_settings
from tt_storage.core import db
from tt_storage.core.models import Users, Video

DATABASE = "tt_replica"


@pytest.fixture(scope="module")
async def replicated(db_url: str) -> AsyncIterator[servers.ReplicatedPair]:
    """The library on a fresh primary + standby; afterwards back on the session database."""
    with servers.replicated_pair() as pair:
        conn = await pair.primary.connect()
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        await conn.close()
        await tt.ops.apply_migrations(pair.primary.url(DATABASE))
        await pair.wait_for_replay()
        await tt.close_storage()
        try:
            await tt.init_storage(
                pair.primary.url(DATABASE), replica_url=pair.standby.url(DATABASE), max_size=4
            )
            yield pair
        finally:
            await tt.close_storage()
            await tt.init_storage(db_url, max_size=20)


@pytest.fixture
async def pair(replicated: servers.ReplicatedPair) -> servers.ReplicatedPair:
    """Empty tables on both servers."""
    await db.execute("TRUNCATE users, videos, music CASCADE")
    await replicated.wait_for_replay()
    return replicated


async def test_no_replica_means_the_primary(db_url: str, db: asyncpg.Connection) -> None:
    # Before the module's replica is up the library is on the session database, which has no
    # replica: every read helper uses the primary.
    current = tt.core.db.current()
    assert current.read_client() is current.client()
    assert await tt.core.db.read_fetchval("SELECT pg_is_in_recovery()") is False


async def _replay(pair: servers.ReplicatedPair, action: str) -> None:
    conn = await pair.standby.connect(DATABASE)
    try:
        await conn.execute(f"SELECT pg_wal_replay_{action}()")
        if action == "pause":
            while await conn.fetchval("SELECT pg_get_wal_replay_pause_state()") != "paused":
                pass
    finally:
        await conn.close()


async def test_admin_reads_come_from_the_standby(pair: servers.ReplicatedPair) -> None:
    async with db.read_connection() as conn:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
    assert await db.read_fetchval("SELECT pg_is_in_recovery()") is True

    # Written through the library (primary), read back through the replica once replayed.
    for chat in (11, 12, -13):
        await tt.register_user(chat, "uk", "ref" if chat > 0 else None)
        for n in range(3):
            await tt.track_download(chat, f"https://t/{chat}/{n}", n == 2, ad=chat > 0)
    assert await tt.toggle_file_mode(12) is True
    await pair.wait_for_replay()

    assert len(await tt.get_stats_by_period(0)) == 9
    assert len(await tt.get_stats_by_period(0, "groups")) == 3
    assert await tt.get_user_ids() == [11, 12]
    assert [c async for c in tt.admin.iter_user_ids(False, batch_size=1)] == [-13, 11, 12]
    user, videos, images = await tt.get_user_stats(11)
    assert user is not None and (user.lang, videos, images) == ("uk", 3, 1)
    assert [link for _, link in await tt.get_user_videos(11)] == [
        f"https://t/11/{n}" for n in range(3)
    ]
    assert await tt.get_referral_stats() == [("ref", 2)]
    assert await tt.get_other_stats() == (1, [("uk", 3)], [(-13, 3), (11, 3), (12, 3)])
    # Through the ORM: the router sends reads of the models to the replica too.
    assert await Users.all().count() == 3
    assert await Video.filter(user_id=11).count() == 3


async def test_lagging_replica_shows_in_stats_not_in_updates(
    pair: servers.ReplicatedPair,
) -> None:
    await tt.register_user(21, "en")
    await tt.track_download(21, "https://t/21/0", False, ad=True)
    await pair.wait_for_replay()
    await _replay(pair, "pause")
    try:
        # New primary writes the paused standby has not replayed.
        await tt.register_user(22, "ru", "late")
        assert await tt.track_download(22, "https://t/22/0", False, ad=True) is True
        await tt.track_download(21, "https://t/21/1", False)
        assert await tt.update_user_lang(21, "ar")
        created = await Users.create(user_id=23, lang="hi")  # ORM write: to the primary

        # The per-update path reads the primary: it sees everything at once.
        assert await tt.get_user_settings(22) == ("ru", False)
        assert await tt.get_user_settings(21) == ("ar", False)
        assert await tt.get_user_settings(23) == ("hi", False)
        settings = await middleware_settings(tt.StorageMiddleware(cache_size=0), 22)
        assert (settings.lang, settings.is_new, settings.persisted) == ("ru", False, True)
        # The ad rule decides on the primary too: download 2 of chat 21 shows no ad.
        assert await tt.track_download(21, "https://t/21/2", False, ad=True) is False

        # The admin reads come from the standby: still the old state.
        assert [link for _, link in await tt.get_stats_by_period(0)] == ["https://t/21/0"]
        assert await tt.get_user_ids() == [21]
        assert await tt.get_user_stats(22) == (None, 0, 0)
        user, videos, _ = await tt.get_user_stats(21)
        assert user is not None and (user.lang, videos) == ("en", 1)
        assert await tt.get_referral_stats() == []
        assert await Users.filter(user_id__in=[22, 23]).count() == 0
        assert await Users.get_or_none(user_id=created.user_id) is None
        # ... except inside a transaction, which must see its own writes.
        async with in_transaction(tt.core.app.CONNECTION):
            assert await Users.filter(user_id__in=[22, 23]).count() == 2
        # A standby refuses writes: nothing above was routed to it by mistake.
        async with db.read_connection() as conn:
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await conn.execute("DELETE FROM users")
    finally:
        await _replay(pair, "resume")

    await pair.wait_for_replay()
    assert len(await tt.get_stats_by_period(0)) == 4
    assert await tt.get_user_ids() == [21, 22, 23]
    assert await tt.get_referral_stats() == [("late", 1)]
    assert await Users.filter(user_id__in=[22, 23]).count() == 2


async def test_analytics_reads_come_from_the_standby(pair: servers.ReplicatedPair) -> None:
    analytics = pytest.importorskip("tt_storage.services.analytics")
    await tt.track_download(31, "https://t/31/0", False)
    await pair.wait_for_replay()
    await _replay(pair, "pause")
    try:
        await tt.track_download(31, "https://t/31/1", True)
        await tt.track_download(32, "https://t/32/0", False)
        assert (await analytics.get_quick_stats()).videos == 1
        series = await analytics.get_time_series("videos", 0, "day")
        assert sum(n for _, n in series) == 1
        assert sum(n for _, n in await analytics.get_time_series("users", 0, "day")) == 1
        assert await analytics.export_user_history(31, io.StringIO()) == 1
        assert await analytics.export_users(io.StringIO()) == 1
    finally:
        await _replay(pair, "resume")
    await pair.wait_for_replay()
    assert (await analytics.get_quick_stats()).videos == 3
    assert await analytics.export_user_history(31, io.StringIO()) == 2
    assert await analytics.export_users(io.StringIO()) == 2
