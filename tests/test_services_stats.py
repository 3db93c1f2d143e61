"""Admin reads: get_user_stats, get_stats_by_period, get_referral_stats, get_other_stats,
get_file_mode_count, get_language_stats, get_top_users, get_user_ids, iter_user_ids,
get_user_videos, iter_user_videos."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

import asyncpg
import pytest

import tt_storage as tt

DAY = 86_400


async def add_users(db: asyncpg.Connection, *chats: int, lang: str = "en") -> None:
    await db.executemany(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown)"
        " VALUES ($1, 0, $2, NULL, false, 0, 0)",
        [(c, lang) for c in chats],
    )


async def add_videos(
    db: asyncpg.Connection, chat: int, n: int, at: int | None = 0, images: bool = False
) -> None:
    await db.execute(
        "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
        " is_inline) SELECT $1, $2, 'https://t/' || g, $4, false, false"
        " FROM generate_series(1, $3) g",
        chat,
        at,
        n,
        images,
    )


# --- get_user_stats -----------------------------------------------------------------------------


async def test_get_user_stats(db: asyncpg.Connection) -> None:
    assert await tt.get_user_stats(1) == (None, 0, 0)
    await tt.create_user(1, "ru", "ref")
    user, videos, images = await tt.get_user_stats(1)
    assert user is not None and (user.user_id, user.lang, user.link) == (1, "ru", "ref")
    assert (videos, images) == (0, 0)
    await tt.add_video(1, "https://t/v", False)
    await tt.add_video(1, "https://t/i", True)
    await tt.add_video(1, "https://t/i2", True, True)
    await tt.add_video(2, "https://t/other", True)  # another chat's rows are not counted
    await tt.add_music(1, 5)  # music is not a video
    user, videos, images = await tt.get_user_stats(1)
    assert user is not None and user.user_id == 1
    assert (videos, images) == (3, 2)


async def test_get_user_stats_group_chat(db: asyncpg.Connection) -> None:
    await tt.add_video(-100, "https://t/g", True)
    user, videos, images = await tt.get_user_stats(-100)
    assert user is not None and user.user_id == -100 and user.lang == "en"
    assert (videos, images) == (1, 1)
    assert await tt.get_user_stats(100) == (None, 0, 0)


async def test_get_user_stats_is_one_query(db: asyncpg.Connection, monkeypatch: Any) -> None:
    await tt.create_user(3, "en")
    await tt.add_video(3, "https://t/1", True)
    statements: list[str] = []
    for method in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "cursor"):
        original = getattr(asyncpg.Connection, method)

        def counting(
            self: Any, query: str, *args: Any, _original: Any = original, **kw: Any
        ) -> Any:
            statements.append(query)
            return _original(self, query, *args, **kw)

        monkeypatch.setattr(asyncpg.Connection, method, counting)
    user, videos, images = await tt.get_user_stats(3)
    assert user is not None and (videos, images) == (1, 1)
    # (asyncpg's pool resets a released connection with one more statement: not a query.)
    queries = [q for q in statements if not q.startswith("SELECT pg_advisory_unlock_all()")]
    assert len(queries) == 1, queries


# --- get_stats_by_period ------------------------------------------------------------------------


async def _period_fixture(db: asyncpg.Connection) -> int:
    now = int(time.time())
    await add_users(db, 1, 2, -1, -2)
    await db.executemany(
        "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
        " is_inline) VALUES ($1, $2, $3, false, false, false)",
        [
            (1, now - 60, "u-recent"),
            (-1, now - 120, "g-recent"),
            (2, now - 3 * DAY, "u-3days"),
            (-2, now - 10 * DAY, "g-10days"),
            (1, None, "u-null"),  # old tt-bot rows have no timestamp
            (-2, None, "g-null"),
            (2, now - 40 * DAY, "u-40days"),
        ],
    )
    return now


async def test_get_stats_by_period_all_time_includes_null_timestamps(
    db: asyncpg.Connection,
) -> None:
    now = await _period_fixture(db)
    rows = await tt.get_stats_by_period()
    assert rows == await tt.get_stats_by_period(0, "all")
    assert [link for _, link in rows] == [
        "u-recent",
        "g-recent",
        "u-3days",
        "g-10days",
        "u-null",
        "g-null",
        "u-40days",
    ]
    assert dict((link, at) for at, link in rows)["u-null"] is None
    assert dict((link, at) for at, link in rows)["u-recent"] == now - 60


async def test_get_stats_by_period_windows(db: asyncpg.Connection) -> None:
    await _period_fixture(db)

    def links(rows: list[tuple[int, str]]) -> list[str]:
        return sorted(link for _, link in rows)

    assert links(await tt.get_stats_by_period(DAY)) == ["g-recent", "u-recent"]
    assert links(await tt.get_stats_by_period(604_800)) == ["g-recent", "u-3days", "u-recent"]
    assert links(await tt.get_stats_by_period(2_678_400)) == [
        "g-10days",
        "g-recent",
        "u-3days",
        "u-recent",
    ]
    assert links(await tt.get_stats_by_period(30)) == []


async def test_get_stats_by_period_users_and_groups(db: asyncpg.Connection) -> None:
    await _period_fixture(db)
    users = [link for _, link in await tt.get_stats_by_period(0, "users")]
    groups = [link for _, link in await tt.get_stats_by_period(0, "groups")]
    assert users == ["u-recent", "u-3days", "u-null", "u-40days"]
    assert groups == ["g-recent", "g-10days", "g-null"]
    assert [link for _, link in await tt.get_stats_by_period(DAY, "users")] == ["u-recent"]
    assert [link for _, link in await tt.get_stats_by_period(DAY, "groups")] == ["g-recent"]


async def test_get_stats_by_period_extreme_ids(db: asyncpg.Connection) -> None:
    await tt.add_video(2**63 - 1, "max", False)
    await tt.add_video(-(2**63) + 1, "min", False)
    assert [link for _, link in await tt.get_stats_by_period(0, "users")] == ["max"]
    assert [link for _, link in await tt.get_stats_by_period(0, "groups")] == ["min"]
    assert len(await tt.get_stats_by_period(0, "all")) == 2


async def test_get_stats_by_period_empty(db: asyncpg.Connection) -> None:
    assert await tt.get_stats_by_period() == []
    assert await tt.get_stats_by_period(DAY, "groups") == []


@pytest.mark.parametrize("chat_type", ["user", "group", "ALL", "", None, 1, ["all"], "private"])
async def test_get_stats_by_period_rejects_chat_type(
    raw: asyncpg.Connection, chat_type: Any
) -> None:
    with pytest.raises(ValueError):
        await tt.get_stats_by_period(0, chat_type)


@pytest.mark.parametrize("period", [-1, 1.5, "86400", None, True])
async def test_get_stats_by_period_rejects_period(raw: asyncpg.Connection, period: Any) -> None:
    with pytest.raises(ValueError):
        await tt.get_stats_by_period(period)


# --- get_referral_stats -------------------------------------------------------------------------


async def test_get_referral_stats(db: asyncpg.Connection) -> None:
    assert await tt.get_referral_stats() == []
    # link_k used by k chats (k = 1..12), plus chats without a link, which never count.
    links = [f"link_{k}" for k in range(1, 13) for _ in range(k)] + [None] * 20
    await db.executemany(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown)"
        " VALUES ($1, 0, 'en', $2, false, 0, 0)",
        list(enumerate(links, start=1)),
    )
    stats = await tt.get_referral_stats()
    assert stats == [(f"link_{k}", k) for k in range(12, 2, -1)]
    assert all(link is not None for link, _ in stats)


async def test_get_referral_stats_unicode_and_ties(db: asyncpg.Connection) -> None:
    await tt.create_user(1, "en", "инвайт🎵")
    await tt.create_user(2, "en", "инвайт🎵")
    await tt.create_user(-3, "en", "b")
    await tt.create_user(-4, "en", "a")
    assert await tt.get_referral_stats() == [("инвайт🎵", 2), ("a", 1), ("b", 1)]


# --- get_file_mode_count / get_language_stats / get_top_users / get_other_stats ------------------


async def test_get_file_mode_count(db: asyncpg.Connection) -> None:
    assert await tt.admin.get_file_mode_count() == 0
    await add_users(db, 1, 2, 3, -4, -5)
    assert (
        await tt.admin.get_file_mode_count() == 0
    )  # file mode on only (tt-bot 5.4.5 counts it so too)
    await tt.update_user_mode(1, True)
    await tt.update_user_mode(-4, True)
    assert await tt.admin.get_file_mode_count() == 2
    await tt.toggle_file_mode(1)
    assert await tt.admin.get_file_mode_count() == 1


async def test_get_language_stats(db: asyncpg.Connection) -> None:
    assert await tt.admin.get_language_stats() == []
    langs = ["ar", "en", "hi", "id", "ru", "so", "uk", "vi", "pt-br", "zh-hans", "de", "عربي"]
    chat = 1
    expected = []
    for n, lang in enumerate(langs, start=1):
        await add_users(db, *range(chat, chat + n), lang=lang)
        chat += n
        expected.append((lang, n))
    stats = await tt.admin.get_language_stats()
    assert stats == expected[::-1]  # all of them, most used first
    assert len(stats) == 12


async def test_get_top_users(db: asyncpg.Connection) -> None:
    assert await tt.admin.get_top_users() == []
    # chat k has k downloads; chat -13 ties with chat 12 (ties: lower id first).
    await add_users(db, *range(1, 13), -13, 99)
    for k in range(1, 13):
        await add_videos(db, k, k, images=k % 2 == 0)
    await add_videos(db, -13, 12, at=None)
    top = await tt.admin.get_top_users()
    assert top == [(-13, 12), (12, 12)] + [(k, k) for k in range(11, 3, -1)]
    assert await tt.admin.get_top_users(3) == [(-13, 12), (12, 12), (11, 11)]
    assert await tt.admin.get_top_users(0) == []
    assert len(await tt.admin.get_top_users(100)) == 13  # chat 99 has no downloads: not listed


@pytest.mark.parametrize("limit", [-1, None, "10", 2.0, True])
async def test_get_top_users_rejects_limit(raw: asyncpg.Connection, limit: Any) -> None:
    with pytest.raises(ValueError):
        await tt.admin.get_top_users(limit)


async def test_get_other_stats(db: asyncpg.Connection) -> None:
    assert await tt.get_other_stats() == (0, [], [])
    chats = list(range(1, 16))
    await add_users(db, *chats[:9], lang="ru")
    await add_users(db, *chats[9:], lang="en")
    await add_users(db, -1, lang="uk")
    for chat in (2, 5, -1):
        await tt.update_user_mode(chat, True)
    for chat in chats:
        await add_videos(db, chat, chat)
    file_mode, languages, top = await tt.get_other_stats()
    assert file_mode == 3
    assert languages == [("ru", 9), ("en", 6), ("uk", 1)]
    assert top == [(k, k) for k in range(15, 5, -1)]
    assert (file_mode, languages, top) == (
        await tt.admin.get_file_mode_count(),
        await tt.admin.get_language_stats(),
        await tt.admin.get_top_users(),
    )


# --- get_user_ids / iter_user_ids ---------------------------------------------------------------


async def test_get_user_ids(db: asyncpg.Connection) -> None:
    assert await tt.get_user_ids() == []
    assert await tt.get_user_ids(only_positive=False) == []
    ids = [5, 3, -7, 2**52, -(2**52), 1, -1_001_234_567_890, 2**63 - 1, -(2**63) + 1]
    await add_users(db, *ids)
    assert await tt.get_user_ids() == sorted(i for i in ids if i > 0)
    assert await tt.get_user_ids(only_positive=True) == [1, 3, 5, 2**52, 2**63 - 1]
    assert await tt.get_user_ids(only_positive=False) == sorted(ids)


async def test_get_user_ids_only_groups_registered(db: asyncpg.Connection) -> None:
    await add_users(db, -1, -2)
    assert await tt.get_user_ids() == []
    assert await tt.get_user_ids(False) == [-2, -1]


async def test_iter_user_ids_pages(db: asyncpg.Connection) -> None:
    positives = [1, 2, 3, 10, 11, 500, 2**31, 2**32 + 7, 2**52 - 1, 2**52, 2**53 + 1, 2**63 - 1]
    negatives = [-1, -2, -100, -(2**52), -1_001_234_567_890, -(2**63) + 1]
    # 25 rows in all (with 7 more in between), so 24/25/26 straddle the last page boundary.
    extra = [20, 21, 22, 23, 24, 25, 26]
    await add_users(db, *positives, *negatives, *extra)
    assert len(positives + negatives + extra) == 25
    for batch_size in (1, 2, 3, 7, 18, 19, 20, 24, 25, 26, 1000):
        every = [
            c async for c in tt.admin.iter_user_ids(only_positive=False, batch_size=batch_size)
        ]
        assert every == sorted(positives + negatives + extra), batch_size
        only = [c async for c in tt.admin.iter_user_ids(batch_size=batch_size)]
        assert only == sorted(positives + extra), batch_size  # 19 of them


async def test_iter_user_ids_empty_table(db: asyncpg.Connection) -> None:
    assert [c async for c in tt.admin.iter_user_ids()] == []
    assert [c async for c in tt.admin.iter_user_ids(False, batch_size=1)] == []


async def test_iter_user_ids_sees_rows_added_while_paging(db: asyncpg.Connection) -> None:
    # No long transaction: a chat registered ahead of the cursor is still delivered.
    await add_users(db, 1, 2, 3)
    seen = []
    async for chat in tt.admin.iter_user_ids(batch_size=2):
        seen.append(chat)
        if chat == 1:
            await tt.create_user(10, "en")
    assert seen == [1, 2, 3, 10]


@pytest.mark.parametrize("batch_size", [0, -1, None, 1.5, "10", True])
async def test_iter_user_ids_rejects_batch_size(raw: asyncpg.Connection, batch_size: Any) -> None:
    with pytest.raises(ValueError):
        _ = [c async for c in tt.admin.iter_user_ids(batch_size=batch_size)]


# --- get_user_videos / iter_user_videos ---------------------------------------------------------


async def _history(db: asyncpg.Connection) -> list[tuple[int | None, str]]:
    await add_users(db, 1, 2)
    rows: list[tuple[int, int | None, str]] = [
        (1, 300, "c"),
        (1, 100, "a1"),
        (1, None, "null1"),
        (2, 50, "other chat"),
        (1, 100, "a2"),  # same second as a1: insertion order
        (1, 200, "b"),
        (1, None, "null2"),
        (1, 100, "a3"),
    ]
    await db.executemany(
        "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
        " is_inline) VALUES ($1, $2, $3, false, false, false)",
        rows,
    )
    expected: list[tuple[int | None, str]] = [(None, "null1"), (None, "null2")]
    expected += [(100, "a1"), (100, "a2"), (100, "a3"), (200, "b"), (300, "c")]
    return expected


async def test_get_user_videos_order(db: asyncpg.Connection) -> None:
    expected = await _history(db)
    assert await tt.get_user_videos(1) == expected
    assert await tt.get_user_videos(2) == [(50, "other chat")]


async def test_get_user_videos_unknown_chat(db: asyncpg.Connection) -> None:
    assert await tt.get_user_videos(12345) == []
    assert await tt.get_user_videos(-12345) == []
    await tt.create_user(7, "en")
    assert await tt.get_user_videos(7) == []


async def test_get_user_videos_unicode_and_long_links(db: asyncpg.Connection) -> None:
    long_link = "https://t/" + "🎵" * 600  # 2.4 kB
    await tt.add_video(-9, "https://t/\u202eRTL\u202c/שלום", False)
    await tt.add_video(-9, long_link, True)
    links = [link for _, link in await tt.get_user_videos(-9)]
    assert links == ["https://t/\u202eRTL\u202c/שלום", long_link]


async def test_iter_user_videos_streams(db: asyncpg.Connection) -> None:
    expected = await _history(db)
    for prefetch in (1, 2, 3, 1000):
        stream = tt.admin.iter_user_videos(1, prefetch=prefetch)
        assert hasattr(stream, "__anext__")
        assert [item async for item in stream] == expected, prefetch


async def test_iter_user_videos_large_history(db: asyncpg.Connection) -> None:
    await add_users(db, 5)
    await add_videos(db, 5, 2500, at=1000)
    count = 0
    async for at, link in tt.admin.iter_user_videos(5, prefetch=100):
        count += 1
        assert at == 1000 and link == f"https://t/{count}"  # ties: insertion order
    assert count == 2500


async def test_iter_user_videos_early_exit_returns_the_connection(db: asyncpg.Connection) -> None:
    await _history(db)
    # More abandoned streams than the pool has connections (20): each must give its back.
    for _ in range(30):
        # An async generator, which the AsyncIterator it is declared as does not say.
        videos = cast(
            AsyncGenerator[tuple[int | None, str], None], tt.admin.iter_user_videos(1, prefetch=1)
        )
        async with aclosing(videos) as stream:
            async for first in stream:
                assert first == (None, "null1")
                break
    assert len(await tt.get_user_videos(1)) == 7
