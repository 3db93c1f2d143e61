"""The media cache's database side (tt_storage.media): lookup, store, compare-and-swap
invalidation, metadata freshness, downloads linked to an entry, prune, bad input."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import asyncpg
import pytest

import tt_storage as tt
from tests.support import database
from tt_storage import media
from tt_storage.core import sql_media
from tt_storage.media import CachedMedia, MediaFile

BOT = 42
VIDEO = (MediaFile("video", "BAAC-file-1", "AgAD-u1"),)
ALBUM = tuple(MediaFile("photo", f"AgAC-photo-{i}", f"AQAD-{i}") for i in range(11))


@pytest.fixture
async def mdb(db: asyncpg.Connection) -> asyncpg.Connection:
    """Empty media tables (the db fixture empties them) and history for this test."""
    return db


async def counts(db: asyncpg.Connection) -> tuple[int, int]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM tt_storage_media),"
        " (SELECT count(*) FROM tt_storage_media_files)"
    )
    assert row is not None
    return row[0], row[1]


# --- lookup and store ----------------------------------------------------------------------------


async def test_store_then_lookup_round_trips(mdb: asyncpg.Connection) -> None:
    assert await media.lookup_media(("tiktok", "7321"), BOT, "video") is None
    stored = await media.store_media(("tiktok", "7321"), BOT, "video", VIDEO, metadata={"a": 1})
    assert (stored.version, stored.files, stored.metadata) == (1, VIDEO, {"a": 1})
    found = await media.lookup_media(("tiktok", "7321"), BOT, "video")
    assert found == CachedMedia(stored.media_id, BOT, "video", 1, VIDEO, {"a": 1}, False)
    album = await media.store_media(("tiktok", "7321"), BOT, "images", ALBUM)
    assert album.media_id == stored.media_id and album.metadata == {"a": 1}
    looked = await media.lookup_media(("tiktok", "7321"), BOT, "images")
    assert looked is not None and looked.files == ALBUM  # order kept
    row = await mdb.fetchrow("SELECT key, use_count, first_used_at FROM tt_storage_media")
    assert row is not None and (row["key"], row["use_count"]) == ("tiktok:7321", 0)


async def test_sets_are_per_bot_and_variant(mdb: asyncpg.Connection) -> None:
    await media.store_media("k", BOT, "video", VIDEO)
    other = (MediaFile("video", "other-bot-file"),)
    await media.store_media("k", 43, "video", other)
    assert (await media.lookup_media("k", 43, "video")).files == other  # type: ignore[union-attr]
    assert (await media.lookup_media("k", BOT, "video")).files == VIDEO  # type: ignore[union-attr]
    assert await media.lookup_media("k", BOT, "audio") is None
    assert await counts(mdb) == (1, 2)


async def test_store_replaces_and_counts_versions(mdb: asyncpg.Connection) -> None:
    first = await media.store_media("k", BOT, "video", VIDEO)
    new = (MediaFile("document", "BQAC-doc"),)
    second = await media.store_media("k", BOT, "video", new, metadata={"v": 2})
    assert (first.version, second.version) == (1, 2)
    found = await media.lookup_media("k", BOT, "video")
    assert found is not None and (found.version, found.files, found.metadata) == (2, new, {"v": 2})
    # metadata=None keeps the entry's.
    third = await media.store_media("k", BOT, "video", VIDEO)
    assert (third.version, third.metadata) == (3, {"v": 2})


def test_keys_are_joined_unambiguously() -> None:
    assert media.media_key(("tiktok", "7321")) == "tiktok:7321"
    assert media.media_key("tiktok:7321") != media.media_key(("tiktok", "7321"))
    assert media.media_key(("a:b", "c")) != media.media_key(("a", "b:c"))
    assert media.media_key(("a\\", ":b")) != media.media_key(("a\\:", "b"))
    assert media.media_key("https://x/y") == media.media_key(("https://x/y",))


# --- compare-and-swap invalidation ---------------------------------------------------------------


async def test_invalidate_holding_an_old_version_keeps_the_newer_set(
    mdb: asyncpg.Connection,
) -> None:
    old = await media.store_media("k", BOT, "video", VIDEO)
    newer = await media.store_media("k", BOT, "video", ALBUM[:2])
    assert await media.invalidate_media(old) is False
    kept = await media.lookup_media("k", BOT, "video")
    assert kept is not None and (kept.version, kept.files) == (newer.version, ALBUM[:2])
    assert await media.invalidate_media(newer) is True
    assert await media.lookup_media("k", BOT, "video") is None
    assert await media.invalidate_media(newer) is False  # already gone
    # A store after an invalidation goes on counting: a stale holder of version 2 never
    # matches the set stored after it (no ABA).
    again = await media.store_media("k", BOT, "video", VIDEO)
    assert again.version == 4
    assert await media.invalidate_media(newer) is False
    assert await media.lookup_media("k", BOT, "video") is not None


async def test_invalidate_waiting_on_a_concurrent_store_rechecks_the_version(
    mdb: asyncpg.Connection, db_url: str
) -> None:
    """Deterministic interleaving: a store holds the set's row (uncommitted) while an
    invalidation of the version it replaces starts; the invalidation waits, then sees the new
    version and leaves the new set alone."""
    old = await media.store_media("k", BOT, "video", VIDEO)
    other = await database.connect(db_url)
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute(
            "UPDATE tt_storage_media_files SET version = version + 1,"
            ' files = \'[{"kind": "photo", "file_id": "new", "file_unique_id": null}]\''
            " WHERE media_id = $1",
            old.media_id,
        )
        invalidation = asyncio.create_task(media.invalidate_media(old))
        await waiting_on_a_lock(mdb)
        assert not invalidation.done()
        await tx.commit()
        assert await asyncio.wait_for(invalidation, 10) is False
    finally:
        await other.close()
    kept = await media.lookup_media("k", BOT, "video")
    assert kept is not None and kept.files == (MediaFile("photo", "new"),)


async def waiting_on_a_lock(db: asyncpg.Connection) -> None:
    for _ in range(200):
        if await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the invalidation never waited on the store's lock")


ROUNDS = 150


async def test_concurrent_invalidations_never_erase_a_newer_set(mdb: asyncpg.Connection) -> None:
    """Many rounds: each round, a store of a new set races three invalidations holding the
    version before it (separate pooled connections). Whoever wins, the new set survives, and an
    invalidation succeeds only when it ran before the store."""
    current = await media.store_media("k", BOT, "video", VIDEO)
    outcomes: Counter[str] = Counter()
    for n in range(ROUNDS):
        files = (MediaFile("video", f"round-{n}"),)
        storing = asyncio.ensure_future(media.store_media("k", BOT, "video", files))
        invalidations = await asyncio.gather(*(media.invalidate_media(current) for _ in range(3)))
        store = await storing
        won = sum(invalidations)
        assert won <= 1  # one version, one successful swap
        found = await media.lookup_media("k", BOT, "video")
        assert found is not None and found.files == files, f"round {n}: the new set was erased"
        # The store saw the invalidation (version + 2) exactly when one succeeded.
        assert store.version == current.version + 1 + won
        assert found.version == store.version
        outcomes["invalidation first" if won else "store first"] += 1
        current = store
    assert sum(outcomes.values()) == ROUNDS
    print(f"CAS rounds: {dict(outcomes)}")


# --- metadata freshness --------------------------------------------------------------------------


async def test_stale_metadata_is_flagged_and_files_still_served(mdb: asyncpg.Connection) -> None:
    await media.store_media("k", BOT, "video", VIDEO, metadata={"likes": 1})
    await mdb.execute("UPDATE tt_storage_media SET metadata_at = metadata_at - 7200")
    hit = await media.lookup_media("k", BOT, "video", metadata_ttl=3600)
    assert hit is not None and hit.metadata_stale and hit.files == VIDEO
    fresh = await media.lookup_media("k", BOT, "video", metadata_ttl=86400)
    assert fresh is not None and not fresh.metadata_stale
    # The storage's own TTL, when the call gives none.
    storage = tt.default_storage()
    storage.media_metadata_ttl = 60
    try:
        looked = await media.lookup_media("k", BOT, "video")
        assert looked is not None and looked.metadata_stale
    finally:
        del storage.media_metadata_ttl
    assert await media.refresh_media_metadata("k", {"likes": 2}) is True
    after = await media.lookup_media("k", BOT, "video", metadata_ttl=3600)
    assert after is not None and (after.metadata, after.metadata_stale) == ({"likes": 2}, False)
    assert (after.files, after.version) == (VIDEO, 1)  # the file_ids and version kept
    assert await media.refresh_media_metadata("missing", {"x": 1}) is False


async def test_a_refresh_in_progress_never_blocks_a_hit(
    mdb: asyncpg.Connection, db_url: str
) -> None:
    """A refresh (or a store) holding the entry's row: the lookup reads the committed version
    at once (no row lock is taken by a read), still flagged stale, with the same files."""
    await media.store_media("k", BOT, "video", VIDEO, metadata={"likes": 1})
    await mdb.execute("UPDATE tt_storage_media SET metadata_at = metadata_at - 7200")
    other = await database.connect(db_url)
    try:
        async with other.transaction():
            await other.execute(
                "UPDATE tt_storage_media SET metadata = '{\"likes\": 2}', metadata_at = 0"
            )
            await other.execute("UPDATE tt_storage_media_files SET version = version + 1")
            hit = await asyncio.wait_for(
                media.lookup_media("k", BOT, "video", metadata_ttl=3600), 5
            )
    finally:
        await other.close()
    assert hit is not None and (hit.metadata, hit.metadata_stale, hit.files, hit.version) == (
        {"likes": 1},
        True,
        VIDEO,
        1,
    )


async def test_no_metadata_is_stale(mdb: asyncpg.Connection) -> None:
    await media.store_media("k", BOT, "video", VIDEO)
    found = await media.lookup_media("k", BOT, "video")
    assert found is not None and found.metadata is None and found.metadata_stale


# --- downloads linked to an entry ----------------------------------------------------------------


async def test_downloads_link_to_the_entry_and_count_its_use(mdb: asyncpg.Connection) -> None:
    stored = await media.store_media("k", BOT, "video", VIDEO)
    await tt.add_video(1, "https://t/k", False, media_id=stored.media_id, cache_hit=False)
    assert await tt.track_download(1, "https://t/k", False, ad=True, media_id=stored.media_id,
                                   cache_hit=True) is True  # fmt: skip
    await tt.add_music(1, 77, media_id=stored.media_id, cache_hit=True)
    await tt.add_video(1, "https://t/plain", False)
    await tt.add_video(1, "https://t/unkeyed", False, cache_hit=False)  # no entry: not linked
    rows = await mdb.fetch("SELECT media_id, cache_hit FROM videos ORDER BY pk_id")
    assert [tuple(r) for r in rows] == [
        (stored.media_id, False),
        (stored.media_id, True),
        (None, None),
        (None, False),
    ]
    music = await mdb.fetchrow("SELECT media_id, cache_hit FROM music")
    assert music is not None and tuple(music) == (stored.media_id, True)
    assert await mdb.fetchval("SELECT use_count FROM tt_storage_media") == 3
    # The ad rule is unchanged: the first download of a new chat with the rule on shows one,
    # the next two do not.
    user = await mdb.fetchrow("SELECT ad_count FROM users WHERE user_id = 1")
    assert user is not None and user["ad_count"] == 1


async def test_last_used_at_moves_on_once_an_hour(mdb: asyncpg.Connection) -> None:
    stored = await media.store_media("k", BOT, "video", VIDEO)
    await mdb.execute("UPDATE tt_storage_media SET last_used_at = last_used_at - 600")
    before = await mdb.fetchval("SELECT last_used_at FROM tt_storage_media")
    await tt.add_video(1, "https://t/k", False, media_id=stored.media_id, cache_hit=True)
    assert await mdb.fetchval("SELECT last_used_at FROM tt_storage_media") == before
    await mdb.execute("UPDATE tt_storage_media SET last_used_at = last_used_at - 3600")
    start = int(time.time())
    await tt.add_video(1, "https://t/k", False, media_id=stored.media_id, cache_hit=True)
    assert await mdb.fetchval("SELECT last_used_at FROM tt_storage_media") >= start


async def test_a_download_of_a_pruned_entry_is_linked_as_null(mdb: asyncpg.Connection) -> None:
    stored = await media.store_media("k", BOT, "video", VIDEO)
    await mdb.execute("DELETE FROM tt_storage_media")
    await tt.add_video(1, "https://t/k", False, media_id=stored.media_id, cache_hit=True)
    row = await mdb.fetchrow("SELECT media_id, cache_hit FROM videos")
    assert row is not None and tuple(row) == (None, True)


@pytest.mark.parametrize(
    ("media_id", "cache_hit"), [(0, None), (-1, True), ("1", True), (True, None), (1, 1), (1, "y")]
)
async def test_bad_links_are_refused_before_any_sql(
    mdb: asyncpg.Connection, media_id: Any, cache_hit: Any
) -> None:
    with pytest.raises(ValueError):
        await tt.add_video(1, "https://t/k", False, media_id=media_id, cache_hit=cache_hit)
    with pytest.raises(ValueError):
        await tt.add_music(1, 5, media_id=media_id, cache_hit=cache_hit)
    assert await mdb.fetchval("SELECT count(*) FROM users") == 0


# --- prune ---------------------------------------------------------------------------------------


async def test_prune_deletes_unused_entries_in_batches(mdb: asyncpg.Connection) -> None:
    for i in range(7):
        stored = await media.store_media(("k", str(i)), BOT, "video", VIDEO)
        await tt.add_video(1, f"https://t/{i}", False, media_id=stored.media_id, cache_hit=False)
    await media.store_media("recent", BOT, "video", VIDEO)
    await mdb.execute(
        "UPDATE tt_storage_media SET last_used_at = last_used_at - 100 * 86400"
        " WHERE key <> 'recent'"
    )
    seen: list[int] = []
    assert await media.prune_media(90 * 86400, batch=3, progress=seen.append) == 7
    assert seen == [3, 6, 7]
    assert await counts(mdb) == (1, 1)
    assert await mdb.fetchval("SELECT key FROM tt_storage_media") == "recent"
    # History keeps its links (to ids never handed out again).
    assert await mdb.fetchval("SELECT count(media_id) FROM videos") == 7
    assert await media.prune_media(90 * 86400) == 0


async def test_prune_reads_the_index(mdb: asyncpg.Connection) -> None:
    await mdb.execute("SET enable_seqscan = off")
    try:
        plan = "\n".join(r[0] for r in await mdb.fetch("EXPLAIN " + sql_media.MEDIA_PRUNE, 0, 10))
    finally:
        await mdb.execute("RESET enable_seqscan")
    assert "idx_tt_storage_media_last_used" in plan


# --- bad input: a clear ValueError before any SQL, nothing stored -------------------------------

BAD_KEYS: list[Any] = [None, 1, b"k", ["a"], (), ("a", 1), ("",), "", "a\x00", "x" * 2001,
                       ("é" * 1001,), tuple("abcdefghijklmnopq"), "\ud800"]  # fmt: skip
BAD_VARIANTS: list[Any] = [None, 1, "", "v" * 65, "a\x00b", b"video"]
BAD_FILES: list[Any] = [
    [],
    (),
    "BAAC",
    VIDEO[0],
    [None],
    [{"kind": "video", "file_id": "x"}],
    [MediaFile("sticker", "x")],
    [MediaFile("video", "")],
    [MediaFile("video", 5)],  # type: ignore[arg-type]
    [MediaFile("video", "ok"), MediaFile("video", "x" * 513)],
    [MediaFile("video", "ok", 7)],  # type: ignore[arg-type]
    [MediaFile("video", "a\x00")],
    [MediaFile("video", "ok")] * 101,
]
BAD_METADATA: list[Any] = [[1], "x", {"x": float("nan")}, {"x": object()}, {"x": "a\x00"},
                           {"x": "y" * 70_000}]  # fmt: skip


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
async def test_bad_keys(mdb: asyncpg.Connection, key: Any) -> None:
    with pytest.raises(ValueError):
        await media.store_media(key, BOT, "video", VIDEO)
    with pytest.raises(ValueError):
        await media.lookup_media(key, BOT, "video")
    assert await counts(mdb) == (0, 0)


@pytest.mark.parametrize("variant", BAD_VARIANTS, ids=repr)
async def test_bad_variants(mdb: asyncpg.Connection, variant: Any) -> None:
    with pytest.raises(ValueError):
        await media.store_media("k", BOT, variant, VIDEO)
    assert await counts(mdb) == (0, 0)


@pytest.mark.parametrize("bot_id", [0, -5, "42", None, True, 2**63])
async def test_bad_bot_ids(mdb: asyncpg.Connection, bot_id: Any) -> None:
    with pytest.raises(ValueError):
        await media.store_media("k", bot_id, "video", VIDEO)
    assert await counts(mdb) == (0, 0)


@pytest.mark.parametrize("files", BAD_FILES, ids=lambda f: repr(f)[:40])
async def test_bad_file_lists_store_nothing(mdb: asyncpg.Connection, files: Any) -> None:
    await media.store_media("k", BOT, "video", VIDEO)
    with pytest.raises(ValueError):
        await media.store_media("k", BOT, "video", files)
    found = await media.lookup_media("k", BOT, "video")
    assert found is not None and (found.version, found.files) == (1, VIDEO)


@pytest.mark.parametrize("metadata", BAD_METADATA, ids=lambda m: repr(m)[:30])
async def test_bad_metadata_stores_nothing(mdb: asyncpg.Connection, metadata: Any) -> None:
    with pytest.raises(ValueError):
        await media.store_media("k", BOT, "video", VIDEO, metadata=metadata)
    with pytest.raises(ValueError):
        await media.refresh_media_metadata("k", metadata)
    assert await counts(mdb) == (0, 0)


@pytest.mark.parametrize("value", [-1, float("inf"), float("nan"), "1", None, True])
async def test_bad_durations(mdb: asyncpg.Connection, value: Any) -> None:
    with pytest.raises(ValueError):
        await media.prune_media(value)
    if value is not None:
        with pytest.raises(ValueError):
            await media.lookup_media("k", BOT, "video", metadata_ttl=value)


async def test_bad_invalidations(mdb: asyncpg.Connection) -> None:
    with pytest.raises(ValueError):
        await media.invalidate_media("k")  # type: ignore[arg-type]
    stored = await media.store_media("k", BOT, "video", VIDEO)
    forged = CachedMedia(stored.media_id, BOT, "video", "1", VIDEO, None, False)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await media.invalidate_media(forged)
    assert await media.lookup_media("k", BOT, "video") is not None


BAD_ROWS = [
    "[]",
    '{"kind": "video", "file_id": "x", "file_unique_id": null}',
    '[{"kind": "video", "file_id": "x"}]',
    '[{"kind": "gif", "file_id": "x", "file_unique_id": null}]',
    '[{"kind": "video", "file_id": "", "file_unique_id": null}]',
    '[{"kind": "video", "file_id": "x", "file_unique_id": 3}]',
    '[{"kind": "video", "file_id": "x", "file_unique_id": null, "extra": 1}]',
    '[[{"kind": "video", "file_id": "x", "file_unique_id": null}]]',
    json.dumps([{"kind": "video", "file_id": "x", "file_unique_id": None}] * 101),
]


@pytest.mark.parametrize("files", BAD_ROWS, ids=lambda f: f[:40])
async def test_the_database_refuses_malformed_sets(mdb: asyncpg.Connection, files: str) -> None:
    """The CHECK of migration 9 holds a set written by other code to the shape too."""
    media_id = await mdb.fetchval(
        "INSERT INTO tt_storage_media (key, first_used_at, last_used_at) VALUES ('k', 0, 0)"
        " RETURNING id"
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await mdb.execute(
            "INSERT INTO tt_storage_media_files (media_id, bot_id, variant, files, stored_at)"
            " VALUES ($1, 1, 'v', $2::jsonb, 0)",
            media_id,
            files,
        )
