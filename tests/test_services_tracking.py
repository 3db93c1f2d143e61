"""Downloads: add_video, add_music, track_download. A download is never lost to an unknown chat."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest

import tt_storage as tt
from tests.support.checks import assert_rejected

UNICODE_LINK = "https://vm.tiktok.com/ZM🎵/?t=مرحبا&h=שלום"
LONG_LINK = "https://www.instagram.com/reel/" + "Ab_9-" * 300 + "?igsh=" + "ж" * 300


async def user_row(db: asyncpg.Connection, chat: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM users WHERE user_id = $1", chat)


async def videos(db: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT user_id, downloaded_at, video_link, is_images, is_processed, is_inline"
        " FROM videos ORDER BY pk_id"
    )
    return rows


def assert_default_row(row: asyncpg.Record | None, before: int, after: int) -> None:
    assert row is not None
    assert (row["lang"], row["link"], row["file_mode"], row["ad_count"], row["ad_cooldown"]) == (
        "en",
        None,
        False,
        0,
        0,
    )
    assert before <= row["registered_at"] <= after


# --- add_video ----------------------------------------------------------------------------------


async def test_add_video_registered_chat(db: asyncpg.Connection) -> None:
    await tt.create_user(1, "ru", "promo")
    before = int(time.time())
    await tt.add_video(1, "https://t/a", False)
    await tt.add_video(1, "https://t/b", True, True)
    await tt.add_video(1, "https://t/c", True, False, True)
    after = int(time.time())
    rows = await videos(db)
    assert [(r["video_link"], r["is_images"], r["is_processed"], r["is_inline"]) for r in rows] == [
        ("https://t/a", False, False, False),
        ("https://t/b", True, True, False),
        ("https://t/c", True, False, True),
    ]
    assert all(r["user_id"] == 1 and before <= r["downloaded_at"] <= after for r in rows)
    row = await user_row(db, 1)
    assert row is not None and (row["lang"], row["link"], row["ad_count"]) == ("ru", "promo", 0)


async def test_add_video_unknown_chat_registers_it_with_defaults(db: asyncpg.Connection) -> None:
    chats = [2, -2, -1_001_234_567_890, 2**52, -(2**52)]
    for chat in chats:
        before = int(time.time())
        # The seed's contract, checked at run time too: it returns nothing.
        assert await tt.add_video(chat, f"https://t/{chat}", False) is None  # type: ignore[func-returns-value]
        after = int(time.time())
        assert_default_row(await user_row(db, chat), before, after)
        # The registration it made is an ordinary one: create_user now leaves it alone.
        user, inserted = await tt.register_user(chat, "ru", "late")
        assert not inserted and (user.lang, user.link) == ("en", None)
    rows = await videos(db)
    assert [(r["user_id"], r["video_link"]) for r in rows] == [(c, f"https://t/{c}") for c in chats]


async def test_add_video_unicode_long_link_and_nul(db: asyncpg.Connection) -> None:
    assert len(LONG_LINK.encode()) > 2048
    await tt.add_video(3, UNICODE_LINK, False)
    await tt.add_video(3, LONG_LINK, True)
    await tt.add_video(3, "https://t/\x00nul\x00", False)
    assert [r["video_link"] for r in await videos(db)] == [
        UNICODE_LINK,
        LONG_LINK,
        "https://t/nul",
    ]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((None, False), {}),
        ((123, False), {}),
        ((b"https://t", False), {}),
        (("https://t", 1), {}),
        (("https://t", None), {}),
        (("https://t", False, "yes"), {}),
        (("https://t", False, False, 0), {}),
    ],
)
async def test_add_video_rejects_bad_values(
    raw: asyncpg.Connection, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    await assert_rejected(raw, lambda: tt.add_video(980_004, *args, **kwargs))


# --- add_music ----------------------------------------------------------------------------------


async def test_add_music_registered_and_unknown_chats(db: asyncpg.Connection) -> None:
    await tt.create_user(5, "uk")
    before = int(time.time())
    await tt.add_music(5, 7_312_345_678_901_234_567)  # a real-looking TikTok id (> 2**62)
    await tt.add_music(-6, 1)
    after = int(time.time())
    rows = await db.fetch("SELECT user_id, downloaded_at, video_id FROM music ORDER BY pk_id")
    assert [(r["user_id"], r["video_id"]) for r in rows] == [
        (5, 7_312_345_678_901_234_567),
        (-6, 1),
    ]
    assert all(before <= r["downloaded_at"] <= after for r in rows)
    assert (await user_row(db, 5))["lang"] == "uk"  # type: ignore[index]
    assert_default_row(await user_row(db, -6), before, after)
    assert await db.fetchval("SELECT count(*) FROM videos") == 0


@pytest.mark.parametrize("video_id", [None, "1", 1.0, True, 2**63, -(2**63) - 1])
async def test_add_music_rejects_bad_video_id(raw: asyncpg.Connection, video_id: Any) -> None:
    await assert_rejected(raw, lambda: tt.add_music(980_007, video_id))


# --- track_download -----------------------------------------------------------------------------


async def test_track_download_ad_matches_claim_ad_slot(db: asyncpg.Connection) -> None:
    await tt.create_user(10, "en")
    await tt.create_user(11, "en")
    tracked = [await tt.track_download(10, f"https://t/{i}", False, ad=True) for i in range(10)]
    claimed = [await tt.claim_ad_slot(11) for _ in range(10)]
    assert tracked == claimed == [i % 3 == 0 for i in range(10)]
    assert [r["video_link"] for r in await videos(db)] == [f"https://t/{i}" for i in range(10)]
    state = "SELECT ad_count, ad_cooldown FROM users WHERE user_id = $1"
    tracked_state, claimed_state = await db.fetchrow(state, 10), await db.fetchrow(state, 11)
    assert tracked_state is not None and claimed_state is not None
    assert tracked_state[0] == claimed_state[0] == 1
    assert abs(tracked_state[1] - claimed_state[1]) <= 1  # same rule, a second apart at most


async def test_track_download_ad_expired_cooldown(db: asyncpg.Connection) -> None:
    await tt.create_user(12, "en")
    assert await tt.track_download(12, "https://t/1", False, ad=True) is True
    assert await tt.track_download(12, "https://t/2", False, ad=True) is False
    await db.execute("UPDATE users SET ad_cooldown = $2 WHERE user_id = $1", 12, 1)
    before = int(time.time())
    assert await tt.track_download(12, "https://t/3", False, ad=True) is True
    row = await user_row(db, 12)
    assert row is not None and row["ad_count"] == 1
    assert row["ad_cooldown"] >= before + 86_400


async def test_track_download_without_ad_leaves_the_counter(db: asyncpg.Connection) -> None:
    await tt.create_user(13, "en")
    await db.execute("UPDATE users SET ad_count = 2, ad_cooldown = 0 WHERE user_id = 13")
    for i in range(3):
        assert await tt.track_download(13, f"https://t/{i}", True) is False
        assert await tt.track_download(13, f"https://t/{i}", True, ad=False) is False
    row = await user_row(db, 13)
    assert row is not None and (row["ad_count"], row["ad_cooldown"]) == (2, 0)
    assert await db.fetchval("SELECT count(*) FROM videos WHERE user_id = 13") == 6


async def test_track_download_new_chat_with_ad_shows_the_first(db: asyncpg.Connection) -> None:
    before = int(time.time())
    assert await tt.track_download(14, "https://t/first", False, ad=True) is True
    after = int(time.time())
    row = await user_row(db, 14)
    assert row is not None
    assert (row["lang"], row["link"], row["file_mode"], row["ad_count"]) == ("en", None, False, 1)
    assert before + 86_400 <= row["ad_cooldown"] <= after + 86_400
    assert before <= row["registered_at"] <= after
    assert [r["video_link"] for r in await videos(db)] == ["https://t/first"]
    # …and the rule continues from there: 2nd and 3rd no ad, 4th an ad.
    rest = [await tt.track_download(14, "https://t/n", False, ad=True) for _ in range(3)]
    assert rest == [False, False, True]


async def test_track_download_new_chat_without_ad(db: asyncpg.Connection) -> None:
    before = int(time.time())
    assert await tt.track_download(-15, "https://t/g", True, True, True) is False
    after = int(time.time())
    assert_default_row(await user_row(db, -15), before, after)
    rows = await videos(db)
    assert [(r["is_images"], r["is_processed"], r["is_inline"]) for r in rows] == [
        (True, True, True)
    ]


async def test_track_download_strips_nul(db: asyncpg.Connection) -> None:
    await tt.track_download(16, "\x00" + UNICODE_LINK + "\x00", False, ad=True)
    assert [r["video_link"] for r in await videos(db)] == [UNICODE_LINK]


@pytest.mark.parametrize("ad", [1, 0, "yes", None])
async def test_track_download_rejects_non_bool_ad(raw: asyncpg.Connection, ad: Any) -> None:
    await assert_rejected(raw, lambda: tt.track_download(980_017, "https://t", False, ad=ad))
