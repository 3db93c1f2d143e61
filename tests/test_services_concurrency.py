"""Concurrent callers (aiogram runs handlers side by side): no duplicate-key error, no lost update,
no lost download, and the ad rule's decisions stay exact. The pool has 20 connections."""

from __future__ import annotations

import asyncio

import asyncpg

import tt_storage as tt

#: Downloads 1, 4, 7, …, 100 of 100 show an ad.
ADS_IN_100 = len(range(1, 101, 3))


def test_ads_in_100() -> None:
    assert ADS_IN_100 == 34


async def test_concurrent_create_user_one_row_same_result(db: asyncpg.Connection) -> None:
    chat = 2**52 - 3
    langs = ["en", "ru", "uk", "ar", "hi"]
    users = await asyncio.gather(
        *(tt.create_user(chat, langs[i % 5], f"ref{i}") for i in range(50))
    )
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    stored = await db.fetchrow("SELECT * FROM users WHERE user_id = $1", chat)
    assert stored is not None
    as_tuples = {(u.user_id, u.registered_at, u.lang, u.link, u.file_mode) for u in users}
    assert as_tuples == {
        (chat, stored["registered_at"], stored["lang"], stored["link"], stored["file_mode"])
    }


async def test_concurrent_register_user_exactly_one_insert(db: asyncpg.Connection) -> None:
    results = await asyncio.gather(*(tt.register_user(-77, "en", f"r{i}") for i in range(50)))
    assert sum(inserted for _, inserted in results) == 1
    winner = next(user for user, inserted in results if inserted)
    assert {(u.link, u.registered_at) for u, _ in results} == {(winner.link, winner.registered_at)}
    assert await db.fetchval("SELECT link FROM users WHERE user_id = -77") == winner.link
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_concurrent_increase_ad_count_is_exact(db: asyncpg.Connection) -> None:
    await tt.create_user(5, "en")
    await db.execute("UPDATE users SET ad_count = 7 WHERE user_id = 5")
    await asyncio.gather(*(tt.increase_ad_count(5) for _ in range(500)))
    assert await db.fetchval("SELECT ad_count FROM users WHERE user_id = 5") == 507


async def test_concurrent_claim_ad_slot_is_exact(db: asyncpg.Connection) -> None:
    await tt.create_user(6, "en")
    results = await asyncio.gather(*(tt.claim_ad_slot(6) for _ in range(100)))
    assert sum(results) == ADS_IN_100
    # After download 100 (an ad), the counter restarted at 1.
    assert await db.fetchval("SELECT ad_count FROM users WHERE user_id = 6") == 1


async def test_concurrent_track_download_registered_chat(db: asyncpg.Connection) -> None:
    await tt.create_user(7, "ru")
    results = await asyncio.gather(
        *(tt.track_download(7, f"https://t/{i}", i % 2 == 0, ad=True) for i in range(100))
    )
    assert sum(results) == ADS_IN_100
    assert await db.fetchval("SELECT count(*) FROM videos WHERE user_id = 7") == 100
    assert await db.fetchval("SELECT count(DISTINCT video_link) FROM videos") == 100
    row = await db.fetchrow("SELECT lang, ad_count FROM users WHERE user_id = 7")
    assert row is not None and (row["lang"], row["ad_count"]) == ("ru", 1)


async def test_concurrent_track_download_new_chat(db: asyncpg.Connection) -> None:
    chat = 2**52 + 11
    results = await asyncio.gather(
        *(tt.track_download(chat, f"https://t/{i}", False, ad=True) for i in range(100))
    )
    assert sum(results) == ADS_IN_100
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    assert await db.fetchval("SELECT count(*) FROM videos WHERE user_id = $1", chat) == 100
    row = await db.fetchrow("SELECT lang, link, ad_count FROM users WHERE user_id = $1", chat)
    assert row is not None and (row["lang"], row["link"], row["ad_count"]) == ("en", None, 1)


async def test_concurrent_track_download_new_group_without_ad(db: asyncpg.Connection) -> None:
    results = await asyncio.gather(
        *(tt.track_download(-1_009_999, f"https://t/{i}", True) for i in range(60))
    )
    assert not any(results)
    assert await db.fetchval("SELECT count(*) FROM videos") == 60
    assert await db.fetchval("SELECT ad_count FROM users WHERE user_id = -1009999") == 0


async def test_concurrent_add_video_new_chat(db: asyncpg.Connection) -> None:
    await asyncio.gather(*(tt.add_video(-42, f"https://t/{i}", False) for i in range(50)))
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    assert await db.fetchval("SELECT count(*) FROM videos WHERE user_id = -42") == 50
    row = await db.fetchrow("SELECT lang, link, ad_count, ad_cooldown FROM users")
    assert row is not None and tuple(row) == ("en", None, 0, 0)


async def test_concurrent_add_music_and_video_new_chat(db: asyncpg.Connection) -> None:
    await asyncio.gather(
        *(tt.add_music(43, i) for i in range(25)),
        *(tt.add_video(43, f"https://t/{i}", True) for i in range(25)),
    )
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    assert await db.fetchval("SELECT count(*) FROM music") == 25
    assert await db.fetchval("SELECT count(*) FROM videos") == 25


async def test_concurrent_first_updates_register_and_download(db: asyncpg.Connection) -> None:
    # The seed's race: /start and a download of a never-seen chat arrive together.
    results = await asyncio.gather(
        *(tt.register_user(44, "uk", "start") for _ in range(20)),
        *(tt.track_download(44, f"https://t/{i}", False, ad=True) for i in range(30)),
    )
    registered = [r for r in results if isinstance(r, tuple)]
    shown = [r for r in results if isinstance(r, bool)]
    assert sum(inserted for _, inserted in registered) <= 1
    assert sum(shown) == len(range(1, 31, 3))
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    assert await db.fetchval("SELECT count(*) FROM videos") == 30


async def test_concurrent_toggle_file_mode_no_lost_update(db: asyncpg.Connection) -> None:
    await tt.create_user(8, "en")
    results = await asyncio.gather(*(tt.toggle_file_mode(8) for _ in range(101)))
    # Each toggle saw the previous one's result: 51 turned it on, 50 turned it off.
    assert results.count(True) == 51 and results.count(False) == 50
    assert await db.fetchval("SELECT file_mode FROM users WHERE user_id = 8") is True
    assert await tt.get_user_settings(8) == ("en", True)


async def test_concurrent_mixed_ad_calls_keep_count(db: asyncpg.Connection) -> None:
    await tt.create_user(9, "en")
    await db.execute("UPDATE users SET ad_count = 1, ad_cooldown = $1 WHERE user_id = 9", 2**40)
    # A cooldown far in the future: only the count decides. 1 + 100 increments = 101.
    await asyncio.gather(*(tt.increase_ad_count(9) for _ in range(100)))
    assert await db.fetchval("SELECT ad_count FROM users WHERE user_id = 9") == 101
    claims = await asyncio.gather(*(tt.claim_ad_slot(9) for _ in range(10)))
    # The first claim resets to 1 (ad), the rest follow the rule from there: 1,4,7,10.
    assert sum(claims) == 4
    assert await db.fetchval("SELECT ad_count FROM users WHERE user_id = 9") == 1
