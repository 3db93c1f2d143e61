"""Adopting a database the seed's SQLAlchemy layer made: checked, migrated in place, rows intact.

The legacy schema is the DDL SQLAlchemy itself generates for the seed's three models (as
reproduced verbatim in benchmarks/seed_models.py), so users.user_id is BIGSERIAL with a redundant
UNIQUE and nothing has a server default. These tests do not use the ``db`` fixture: they bind
the library to their own databases and re-bind it to the session database afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

import tt_storage as tt
from benchmarks.seed_models import Base
from tests.support import database
from tt_storage.core.app import APP, migrations_location
from tt_storage.core.config import migration_config
from tt_storage.ops import adopt
from tt_storage.ops.adopt import shape
from tt_storage.services import ads

#: What ``Base.metadata.create_all`` sends to PostgreSQL, in dependency order.
SEED_DDL = [
    str(CreateTable(table).compile(dialect=postgresql.dialect()))
    for table in Base.metadata.sorted_tables
]


def written(table: str) -> tuple[str, ...]:
    """The seed's columns of ``table`` that tt-bot wrote (not the serial keys), in order."""
    return tuple(name for name, c in shape.SEED_COLUMNS[table].items() if not c.generated)


USER_COLUMNS = written("users")
VIDEO_COLUMNS = written("videos")
MUSIC_COLUMNS = written("music")

#: Row count and an md5 over the seed's columns only (adoption adds users.blocked_at), in the
#: order of the first (the key).
CHECKSUMS = {
    table: f"SELECT count(*), md5(coalesce(string_agg(ROW({', '.join(cols)})::text, '|'"
    f" ORDER BY {next(iter(cols))}), '')) FROM {table}"
    for table, cols in shape.SEED_COLUMNS.items()
}

INDEX_STATE = (
    "SELECT c.relname AS name, t.relname AS tbl, i.indisvalid AS valid,"
    " pg_get_indexdef(i.indexrelid) AS def FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
    " WHERE c.relname LIKE 'idx\\_%'"
)

SIX_INDEXES = {
    "idx_users_registered_at": ("users", "(registered_at)"),
    "idx_users_link": ("users", "(link)"),
    "idx_videos_user_time": ("videos", "(user_id, downloaded_at)"),
    "idx_videos_time": ("videos", "(downloaded_at)"),
    "idx_music_user_time": ("music", "(user_id, downloaded_at)"),
    "idx_music_time": ("music", "(downloaded_at)"),
}


#: The last progress line of a successful adoption.
DONE = f"done: {len(shape.expected_indexes())} indexes valid"


async def assert_indexes_valid(conn: asyncpg.Connection) -> None:
    """The seed-era six as migration 1 defines them, and every index the models declare, valid."""
    state = await index_state(conn)
    assert set(state) == set(shape.expected_indexes())
    assert all(valid for _, _, valid in state.values()), state
    assert {name: state[name] for name in SIX_INDEXES} == {
        name: (tbl, cols, True) for name, (tbl, cols) in SIX_INDEXES.items()
    }


def test_the_seeds_columns_are_the_models_less_tt_storages_additions() -> None:
    """The seed's own models name the columns adopt checks (tt_storage.ops.shape.SEED_COLUMNS,
    from tt-storage's models), in the same order: a model column the seed lacks must be one of
    shape.ADDED_COLUMNS."""
    seed = {t.name: [c.name for c in t.columns] for t in Base.metadata.sorted_tables}
    assert seed == {table: list(cols) for table, cols in shape.SEED_COLUMNS.items()}


def migrations_on_disk() -> list[str]:
    files = (Path(migrations_location()) / APP).glob("[0-9]*_*.py")
    return sorted((f.name for f in files), key=lambda name: int(name.split("_", 1)[0]))


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
async def new_db(admin_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A factory of fresh empty databases, all dropped afterwards."""
    made: list[str] = []

    async def make() -> str:
        url = await database.create_database(admin_url, prefix="tt_storage_adopt")
        made.append(url)
        return url

    yield make
    for url in made:
        await database.drop_database(admin_url, url)


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await database.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def library_on(url: str, session_url: str) -> AsyncIterator[None]:
    """Bind tt_storage to ``url``; afterwards re-bind it to the session database."""
    await tt.close_storage()
    try:
        await tt.init_storage(url, max_size=5)
        yield
    finally:
        await tt.close_storage()
        await tt.init_storage(session_url, max_size=20)


async def create_seed_schema(conn: asyncpg.Connection) -> None:
    for statement in SEED_DDL:
        await conn.execute(statement)


async def checksums(conn: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    result = {}
    for table, query in CHECKSUMS.items():
        row = await conn.fetchrow(query)
        assert row is not None
        result[table] = (row[0], row[1])
    return result


async def index_state(conn: asyncpg.Connection) -> dict[str, tuple[str, str, bool]]:
    return {
        r["name"]: (r["tbl"], r["def"].split(" USING btree ")[1], r["valid"])
        for r in await conn.fetch(INDEX_STATE)
    }


async def aerich_versions(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT version FROM aerich WHERE app = $1 ORDER BY id", APP)
    return [r[0] for r in rows]


# --- the legacy data -----------------------------------------------------------------------------

LANG_COUNTS = {
    "en": 1200,
    "ru": 700,
    "uk": 300,
    "ar": 250,
    "hi": 200,
    "id": 150,
    "so": 120,
    "vi": 80,
}
# Distinct counts: the top 10 needs no tie-break. The rest are one-off payloads.
LINK_COUNTS = {
    "inline": 300,
    "tiktok": 170,
    "ref1": 130,
    "yt": 95,
    "promo": 60,
    "ch1": 44,
    "ch2": 31,
    "ads7": 20,
    "friend": 12,
    "blog": 7,
    "tg": 5,
    "x": 3,
}
N_USERS = sum(LANG_COUNTS.values())
N_GROUPS = 600
N_VIDEOS = 9000
N_MUSIC = 2000
HOUR = 3600
DAY = 86400


def legacy_rows(now: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]:
    """Users (groups too), videos and music as tt-bot wrote them over the years."""
    rng = random.Random(20261126)
    chosen: dict[int, None] = {2**52 - 1: None}
    while len(chosen) < N_USERS - N_GROUPS:
        chosen[rng.choice([rng.randint(1, 10**6), rng.randint(10**8, 8 * 10**9)])] = None
    ids = list(chosen)
    for k in range(N_GROUPS):
        ids.append(-1_001_000_000_000 - k * 7 if k % 2 else -(k * 1000 + 17))
    langs = [lang for lang, n in LANG_COUNTS.items() for _ in range(n)]
    links: list[str | None] = [link for link, n in LINK_COUNTS.items() for _ in range(n)]
    links += [f"u{k}" for k in range(40)]
    links += [None] * (len(ids) - len(links))
    rng.shuffle(langs)
    rng.shuffle(links)
    users = []
    for k, (chat, lang, link) in enumerate(zip(ids, langs, links, strict=True)):
        registered = None if k % 37 == 5 else now - rng.randint(3 * DAY, 400 * DAY)
        cooldown = rng.choice([0, now + rng.randint(HOUR, DAY), now - rng.randint(HOUR, DAY)])
        users.append((chat, registered, lang, link, k % 7 == 3, rng.randint(0, 5), cooldown))
    # A few heavy downloaders, a long tail, and some chats that never downloaded.
    weights = [1 / (1 + k) ** 0.7 if k % 13 else 0 for k in range(len(ids))]
    video_chats = rng.choices(ids, weights, k=N_VIDEOS)
    music_chats = rng.choices(ids, weights, k=N_MUSIC)
    videos = []
    for k, chat in enumerate(video_chats):
        r = rng.random()
        when = (
            None
            if r < 0.05
            else now - rng.randint(60, 20 * HOUR)
            if r < 0.3
            else (now - rng.randint(2 * DAY, 300 * DAY))
        )
        images = rng.random() < 0.2
        site = "https://www.tiktok.com/@user/video/" if k % 5 else "https://www.instagram.com/p/"
        videos.append(
            (chat, when, f"{site}{7 * 10**18 + k}", images, images and k % 3 == 0, k % 11 == 0)
        )
    music = []
    for k, chat in enumerate(music_chats):
        when = None if k % 29 == 0 else now - rng.randint(60, 200 * DAY)
        music.append((chat, when, 7_300_000_000_000_000_000 + k))
    return users, videos, music


async def fill_legacy(conn: asyncpg.Connection, now: int) -> None:
    users, videos, music = legacy_rows(now)
    await conn.copy_records_to_table("users", records=users, columns=USER_COLUMNS)
    await conn.copy_records_to_table("videos", records=videos, columns=VIDEO_COLUMNS)
    await conn.copy_records_to_table("music", records=music, columns=MUSIC_COLUMNS)


async def make_legacy(url: str, now: int | None = None) -> None:
    async with connected(url) as conn:
        await create_seed_schema(conn)
        await fill_legacy(conn, now or int(time.time()))


# --- the main scenario ----------------------------------------------------------------------------


def video_order(v: asyncpg.Record) -> tuple[int, int, int]:
    when = v["downloaded_at"]
    return (0 if when is None else 1, when or 0, v["pk_id"])


async def test_seed_database_is_adopted_with_rows_intact(
    new_db: Callable[[], Awaitable[str]], db_url: str
) -> None:
    url = await new_db()
    now = int(time.time())
    async with connected(url) as conn:
        await create_seed_schema(conn)
        # What the seed's create_all made: BIGSERIAL ids, the redundant UNIQUE, no defaults.
        assert await conn.fetchval("SELECT pg_get_serial_sequence('users', 'user_id')")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
                " AND column_default IS NOT NULL"
            )
            == 3
        )  # the three serial keys
        await fill_legacy(conn, now)
        before = await checksums(conn)
        users = {r["user_id"]: r for r in await conn.fetch("SELECT * FROM users")}
        videos = await conn.fetch("SELECT * FROM videos ORDER BY pk_id")
        music_count = await conn.fetchval("SELECT count(*) FROM music")

    lines: list[str] = []
    applied = await tt.ops.adopt_database(url, progress=lines.append)

    assert applied == migrations_on_disk()
    assert len(applied) >= 2
    assert any("seed-shaped" in line for line in lines)
    assert lines[-1] == DONE
    async with connected(url) as conn:
        assert await checksums(conn) == before
        assert before["users"][0] == N_USERS and before["videos"][0] == N_VIDEOS
        assert await aerich_versions(conn) == applied
        await assert_indexes_valid(conn)

    async with library_on(url, db_url):
        await check_reads(users, videos, music_count, now)
        await check_writes(url, users, videos)
    async with connected(url) as conn:
        # The writes touched only their own rows.
        untouched = await checksums(conn)
    assert untouched["music"][0] == before["music"][0] + 1


async def check_reads(
    users: dict[int, asyncpg.Record], videos: list[asyncpg.Record], music_count: int, now: int
) -> None:
    by_user: dict[int, list[asyncpg.Record]] = {}
    for v in videos:
        by_user.setdefault(v["user_id"], []).append(v)
    top = sorted(by_user, key=lambda chat: (-len(by_user[chat]), chat))
    sample = [*top[:20], *list(users)[:150], *[c for c in users if c < 0][:30], 2**52 - 1]
    sample += [c for c in users if users[c]["registered_at"] is None][:5]
    sample += [c for c in users if c not in by_user][:5]

    for chat in dict.fromkeys(sample):
        row = users[chat]
        user = await tt.get_user(chat)
        assert user is not None
        assert {c: getattr(user, c) for c in USER_COLUMNS} == dict(row)
        assert user.blocked_at is None
        assert await tt.get_user_settings(chat) == (row["lang"], row["file_mode"])
        stat_user, n_videos, n_images = await tt.get_user_stats(chat)
        assert stat_user is not None and stat_user.user_id == chat
        own = by_user.get(chat, [])
        assert (n_videos, n_images) == (len(own), sum(v["is_images"] for v in own))
        expected_videos = [
            (v["downloaded_at"], v["video_link"]) for v in sorted(own, key=video_order)
        ]
        assert await tt.get_user_videos(chat) == expected_videos
        due = row["ad_count"] >= ads.AD_EVERY or row["ad_cooldown"] < int(time.time())
        assert await tt.should_show_ad(chat) is due
    assert await tt.get_user(424242) is None
    assert await tt.get_user_settings(424242) is None
    assert await tt.get_user_stats(424242) == (None, 0, 0)

    for period, since in ((0, None), (DAY, now - DAY)):
        for chat_type, keep in (
            ("all", lambda c: True),
            ("users", lambda c: c > 0),
            ("groups", lambda c: c < 0),
        ):
            expected = [
                (v["downloaded_at"], v["video_link"])
                for v in videos
                if keep(v["user_id"])
                and (
                    since is None
                    or (v["downloaded_at"] is not None and v["downloaded_at"] >= since)
                )
            ]
            assert await tt.get_stats_by_period(period, chat_type) == expected, (period, chat_type)

    links = Counter(r["link"] for r in users.values() if r["link"] is not None)
    assert (
        await tt.get_referral_stats() == sorted(links.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    )
    assert (await tt.get_referral_stats())[0] == ("inline", LINK_COUNTS["inline"])

    file_mode, languages, top_users = await tt.get_other_stats()
    assert file_mode == sum(r["file_mode"] for r in users.values())
    assert languages == sorted(LANG_COUNTS.items(), key=lambda kv: -kv[1])
    assert top_users == [(chat, len(by_user[chat])) for chat in top[:10]]

    assert await tt.get_user_ids() == sorted(c for c in users if c > 0)
    assert await tt.get_user_ids(only_positive=False) == sorted(users)
    assert music_count == N_MUSIC


async def check_writes(
    url: str, users: dict[int, asyncpg.Record], videos: list[asyncpg.Record]
) -> None:
    async with connected(url) as conn:
        # A new chat: every column written, though the table has no defaults.
        fresh = 5_555_555_555
        user = await tt.create_user(fresh, "ru", "newref")
        assert (user.user_id, user.lang, user.link, user.file_mode) == (
            fresh,
            "ru",
            "newref",
            False,
        )
        row = await conn.fetchrow("SELECT * FROM users WHERE user_id = $1", fresh)
        assert row is not None
        assert (row["ad_count"], row["ad_cooldown"], row["blocked_at"]) == (0, 0, None)

        # An existing legacy chat is returned unchanged, not re-registered.
        old_chat = next(c for c in users if users[c]["registered_at"] is None)
        old = await tt.create_user(old_chat, "vi", "other")
        assert {c: getattr(old, c) for c in USER_COLUMNS} == dict(users[old_chat])

        # A download of a chat tt-bot never registered: registered with defaults, no FK error,
        # and pk_id continues the legacy BIGSERIAL sequence.
        stranger = -1_009_999_999_999
        await tt.add_video(stranger, "https://vm.tiktok.com/ZM1/", False)
        row = await conn.fetchrow("SELECT * FROM videos WHERE user_id = $1", stranger)
        assert row is not None and row["pk_id"] == max(v["pk_id"] for v in videos) + 1
        assert await tt.get_user_settings(stranger) == ("en", False)
        await tt.add_music(-1_008_888_888_888, 7_400_000_000_000_000_000)
        assert await tt.get_user_settings(-1_008_888_888_888) == ("en", False)

        # The ad rule on legacy counters: a due chat gets an ad and restarts at 1 …
        due = next(
            c
            for c, r in users.items()
            if c > 0 and c != old_chat and r["ad_count"] >= 3 and r["ad_cooldown"] > time.time()
        )
        assert await tt.track_download(due, "https://www.tiktok.com/@a/video/1", False, ad=True)
        row = await conn.fetchrow("SELECT ad_count, ad_cooldown FROM users WHERE user_id = $1", due)
        assert row is not None and row["ad_count"] == 1
        assert row["ad_cooldown"] >= int(time.time()) + ads.AD_COOLDOWN - 5
        # … a chat that is not due counts one more download.
        calm = next(
            c
            for c, r in users.items()
            if c > 0
            and c not in (old_chat, due)
            and r["ad_count"] == 0
            and r["ad_cooldown"] > time.time() + 60
        )
        assert not await tt.track_download(calm, "https://www.tiktok.com/@a/video/2", True, ad=True)
        assert await conn.fetchval("SELECT ad_count FROM users WHERE user_id = $1", calm) == 1
        assert not await tt.claim_ad_slot(calm)
        await tt.increase_ad_count(calm)
        assert await tt.claim_ad_slot(calm)  # the 4th download since the last ad

        # Settings writes on legacy rows.
        chat = next(
            c
            for c, r in users.items()
            if c > 0 and not r["file_mode"] and c not in (due, calm, old_chat)
        )
        assert await tt.update_user_mode(chat, True)
        assert await tt.update_user_lang(chat, "uk")
        assert await tt.toggle_file_mode(chat) is False
        assert await tt.get_user_settings(chat) == ("uk", False)
        await tt.record_ad_show(chat)
        assert await conn.fetchval("SELECT ad_count FROM users WHERE user_id = $1", chat) == 1

        # Nothing else changed: the legacy rows outside the touched chats are as they were.
        touched = [fresh, stranger, -1_008_888_888_888, due, calm, chat]
        rest = await conn.fetch(
            "SELECT " + ", ".join(USER_COLUMNS) + " FROM users WHERE user_id <> ALL($1::bigint[])",
            touched,
        )
        assert {r["user_id"]: dict(r) for r in rest} == {
            c: dict(r) for c, r in users.items() if c not in touched
        }
        assert await conn.fetchval("SELECT count(*) FROM videos") == len(videos) + 3


# --- idempotence, interrupted builds, refusals ----------------------------------------------------


async def test_adoption_is_idempotent(new_db: Callable[[], Awaitable[str]]) -> None:
    url = await new_db()
    await make_legacy(url)
    first = await tt.ops.adopt_database(url)
    assert first == migrations_on_disk()
    async with connected(url) as conn:
        before = await checksums(conn)
    lines: list[str] = []
    assert await tt.ops.adopt_database(url, progress=lines.append) == []
    assert "nothing to apply" in lines
    assert any("already under aerich" in line for line in lines)
    async with connected(url) as conn:
        assert await checksums(conn) == before
        assert await aerich_versions(conn) == first


async def interrupt_index_build(url: str, name: str, table: str, columns: str) -> None:
    """Leave ``name`` INVALID the way a killed CREATE INDEX CONCURRENTLY does."""
    async with connected(url) as holder, connected(url) as builder:
        # An open write transaction: the concurrent build waits for it and is cancelled.
        transaction = holder.transaction()
        await transaction.start()
        try:
            await holder.execute(
                "INSERT INTO videos (user_id, downloaded_at, video_link, is_images,"
                " is_processed, is_inline) SELECT user_id, 1, 'x', false, false, false"
                " FROM users LIMIT 1"
            )
            await builder.execute("SET statement_timeout = '300ms'")
            with pytest.raises(asyncpg.QueryCanceledError):
                await builder.execute(f'CREATE INDEX CONCURRENTLY "{name}" ON "{table}" {columns}')
        finally:
            await transaction.rollback()
    async with connected(url) as conn:
        valid = await conn.fetchval(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", name
        )
    assert valid is False


async def leave_invalid_index(url: str) -> None:
    async with connected(url) as conn:
        await conn.execute('DROP INDEX CONCURRENTLY "idx_videos_time"')
    await interrupt_index_build(url, "idx_videos_time", "videos", "(downloaded_at)")


async def test_interrupted_index_build_is_rebuilt(new_db: Callable[[], Awaitable[str]]) -> None:
    url = await new_db()
    await make_legacy(url)
    applied = await tt.ops.adopt_database(url)
    index_migration = next(name for name in applied if name.startswith("1_"))
    await leave_invalid_index(url)
    async with connected(url) as conn:
        before = await checksums(conn)

    # The index migration is recorded: aerich would never look again. Adoption says so.
    with pytest.raises(tt.StorageError, match="idx_videos_time is INVALID"):
        await tt.ops.adopt_database(url)

    # As the message says: forget the index migration, and it drops and rebuilds the index.
    async with connected(url) as conn:
        await conn.execute("DELETE FROM aerich WHERE version = $1", index_migration)
    assert await tt.ops.adopt_database(url) == [index_migration]
    async with connected(url) as conn:
        await assert_indexes_valid(conn)
        assert await checksums(conn) == before


async def test_invalid_index_on_a_never_adopted_database_is_rebuilt(
    new_db: Callable[[], Awaitable[str]],
) -> None:
    # Someone tried to build one by hand on the live bot and gave up.
    url = await new_db()
    await make_legacy(url)
    # (on a different column list even: an INVALID index is dropped, whatever it was)
    await interrupt_index_build(url, "idx_videos_user_time", "videos", "(user_id)")
    assert await tt.ops.adopt_database(url) == migrations_on_disk()
    async with connected(url) as conn:
        state = await index_state(conn)
    assert state["idx_videos_user_time"] == ("videos", "(user_id, downloaded_at)", True)


WRONG_SHAPES = [
    ("ALTER TABLE videos DROP COLUMN is_inline", "videos.is_inline is missing"),
    ("ALTER TABLE users ALTER COLUMN ad_cooldown TYPE integer", "users.ad_cooldown is integer"),
    ("ALTER TABLE users ALTER COLUMN lang DROP NOT NULL", "users.lang allows NULL"),
    ("ALTER TABLE users ALTER COLUMN link TYPE varchar(16)", "users.link is limited to 16"),
    ("ALTER TABLE videos ALTER COLUMN pk_id DROP DEFAULT", "videos.pk_id has no default"),
    (
        "ALTER TABLE music ALTER COLUMN downloaded_at SET NOT NULL",
        "music.downloaded_at is NOT NULL",
    ),
    ("ALTER TABLE videos ADD COLUMN source varchar NOT NULL", "videos.source is an extra NOT NULL"),
    ("DROP TABLE music", r"table\(s\) music missing"),
    (
        "DROP TABLE videos; CREATE TABLE videos (pk_id BIGSERIAL PRIMARY KEY,"
        " user_id BIGINT NOT NULL REFERENCES users, downloaded_at BIGINT,"
        " video_link VARCHAR NOT NULL, is_images BOOLEAN NOT NULL,"
        " is_processed BOOLEAN NOT NULL, is_inline BOOLEAN NOT NULL) PARTITION BY RANGE (pk_id)",
        "videos is partitioned",
    ),
    ("CREATE INDEX idx_videos_time ON videos (user_id)", "index idx_videos_time already exists"),
    (
        "CREATE UNIQUE INDEX idx_users_link ON users (link)",
        "idx_users_link already exists as unique",
    ),
]


@pytest.mark.parametrize(("ddl", "message"), WRONG_SHAPES, ids=[m for _, m in WRONG_SHAPES])
async def test_wrong_shape_is_refused_untouched(
    new_db: Callable[[], Awaitable[str]], ddl: str, message: str
) -> None:
    url = await new_db()
    async with connected(url) as conn:
        await create_seed_schema(conn)
        await conn.execute(ddl)
    with pytest.raises(tt.StorageError, match=message) as caught:
        await tt.ops.adopt_database(url)
    assert "nothing was changed" in str(caught.value)
    async with connected(url) as conn:
        assert await conn.fetchval("SELECT to_regclass('aerich')") is None
        names = set(await index_state(conn))
        assert names <= {"idx_videos_time", "idx_users_link"}  # only the test's own


async def test_several_differences_are_all_named(new_db: Callable[[], Awaitable[str]]) -> None:
    url = await new_db()
    async with connected(url) as conn:
        await create_seed_schema(conn)
        await conn.execute("ALTER TABLE users DROP COLUMN ad_count")
        await conn.execute("ALTER TABLE videos ALTER COLUMN video_link TYPE bytea USING 'x'")
    with pytest.raises(tt.StorageError) as caught:
        await tt.ops.adopt_database(url)
    assert "users.ad_count is missing" in str(caught.value)
    assert "videos.video_link is bytea, expected character varying or text" in str(caught.value)


async def test_empty_database_just_gets_the_schema(new_db: Callable[[], Awaitable[str]]) -> None:
    url = await new_db()

    def broken_progress(line: str) -> None:
        raise RuntimeError("a UI glitch must not stop a migration")

    assert await tt.ops.adopt_database(url, progress=broken_progress) == migrations_on_disk()
    async with connected(url) as conn:
        assert await checksums(conn) == {
            t: (0, "d41d8cd98f00b204e9800998ecf8427e") for t in CHECKSUMS
        }
        await assert_indexes_valid(conn)
    assert await tt.ops.adopt_database(url) == []


async def test_without_a_url_or_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_URL", raising=False)
    with pytest.raises(tt.StorageError, match="needs the existing database's URL"):
        await tt.ops.adopt_database()
    with pytest.raises(tt.StorageUnavailable, match="cannot connect"):
        await tt.ops.adopt_database("postgresql://postgres:secret@127.0.0.1:1/nothing")


def test_migrations_run_without_a_statement_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # A concurrent index build on tens of millions of rows runs for minutes: a command_timeout
    # would cancel it, fail the migration and leave an INVALID index.
    url = "postgresql://postgres@127.0.0.1:5432/x"
    assert migration_config(url)["connections"]["default"]["credentials"]["command_timeout"] is None
    monkeypatch.setenv("DB_URL", url)
    from tt_storage.core import config

    assert config.TORTOISE_ORM["connections"]["default"]["credentials"]["command_timeout"] is None


async def test_command_line(
    new_db: Callable[[], Awaitable[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url = await new_db()
    await make_legacy(url)
    assert await asyncio.to_thread(adopt.main, [url]) == 0
    out, err = capsys.readouterr()
    assert out.split() == migrations_on_disk()
    assert "seed-shaped" in err and DONE in err
    async with connected(url) as conn:
        await conn.execute("ALTER TABLE users ALTER COLUMN lang DROP NOT NULL")
    assert await asyncio.to_thread(adopt.main, [url]) == 1
    assert "users.lang allows NULL" in capsys.readouterr().err


# --- the bot keeps writing while the indexes are built --------------------------------------------

BIG_VIDEOS = 1_000_000
WRITER_INSERT = (
    "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed, is_inline)"
    " VALUES ($1, $2, $3, false, false, false)"
)
WRITER_UPDATE = "UPDATE users SET ad_count = ad_count + 1 WHERE user_id = $1"
BUILDING_ON_VIDEOS = (
    "SELECT count(*) FROM pg_stat_progress_create_index"
    " WHERE datname = current_database() AND relid = to_regclass('videos')"
)


async def test_writes_are_not_blocked_while_indexes_build(
    new_db: Callable[[], Awaitable[str]],
) -> None:
    url = await new_db()
    started = time.perf_counter()
    async with connected(url) as conn:
        await create_seed_schema(conn)
        await conn.execute(
            "INSERT INTO users SELECT g, 1600000000, 'en', NULL, false, 0, 0"
            " FROM generate_series(1, 1000) g"
        )
        # The foreign key check per row is most of the fill time; the data is known good.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
            " is_inline) SELECT 1 + (g * 7919::bigint) % 1000,"
            " 1600000000 + (g * 104729::bigint) % 100000000,"
            " 'https://www.tiktok.com/@u/video/' || g, g % 5 = 0, false, false"
            " FROM generate_series(1, $1::int) g",
            BIG_VIDEOS,
        )
        await conn.execute("ANALYZE")
    filled = time.perf_counter() - started

    stop = asyncio.Event()
    inserted = 0
    failures: list[BaseException] = []
    slowest = 0.0  # reported, not asserted: a loaded machine is slow without any lock
    # (when, a build on videos in progress, rows inserted so far)
    samples: list[tuple[float, bool, int]] = []

    async def writer() -> None:
        nonlocal inserted, slowest
        async with connected(url) as conn:
            await conn.execute("SET lock_timeout = '500ms'")
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    await conn.execute(WRITER_INSERT, 1 + inserted % 1000, int(time.time()), "w")
                    await conn.execute(WRITER_UPDATE, 1 + inserted % 1000)
                except asyncpg.PostgresError as exc:  # a lock timeout, above all
                    failures.append(exc)
                    continue
                inserted += 1
                slowest = max(slowest, time.perf_counter() - t0)

    async def monitor() -> None:
        async with connected(url) as conn:
            while not stop.is_set():
                building = bool(await conn.fetchval(BUILDING_ON_VIDEOS))
                samples.append((time.perf_counter(), building, inserted))
                await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(writer()), asyncio.create_task(monitor())]
    try:
        await asyncio.sleep(0.3)  # the writer is up to speed before the adoption starts
        lines: list[str] = []
        t0 = time.perf_counter()
        applied = await tt.ops.adopt_database(url, progress=lines.append)
        adopted = time.perf_counter() - t0
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    assert applied == migrations_on_disk()
    assert failures == []
    # Rows inserted between two looks that both saw a build on videos in progress.
    building = [(a, b) for a, b in itertools.pairwise(samples) if a[1] and b[1]]
    during = sum(b[2] - a[2] for a, b in building)
    build_time = sum(b[0] - a[0] for a, b in building)
    assert during > 0, (samples, lines)
    assert any(line.startswith("building idx_videos_") for line in lines), lines
    async with connected(url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM videos") == BIG_VIDEOS + inserted
        assert all(valid for _, _, valid in (await index_state(conn)).values())
    print(
        f"\nfill {filled:.1f} s; adoption {adopted:.1f} s of which ~{build_time:.1f} s building on"
        f" videos; writer: {inserted} inserts+updates in all, {during} during the builds,"
        f" slowest {slowest * 1000:.0f} ms; progress:\n  " + "\n  ".join(lines)
    )
