"""Chats and their settings: get_user, create_user, register_user, get_user_settings,
update_user_mode, update_user_lang, toggle_file_mode — plus the input checks of every
public service function that takes a chat id."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

import tt_storage as tt
from tests.support.checks import assert_rejected, table_counts
from tt_storage import UserSettings
from tt_storage.core.user_settings import DEFAULT_LANG

# Telegram ids use up to 52 bits; 2**53 + 1 is the first integer a float cannot hold, so a
# float conversion anywhere on the way would show. The last two are the BIGINT ends accepted.
EDGE_IDS = [
    2**52,
    2**52 - 1,
    -(2**52),
    -(2**52) + 1,
    2**53 + 1,
    -1_001_234_567_890,  # a supergroup
    2**63 - 1,
    -(2**63) + 1,
]

# Not chat ids: bools, other types, and ints outside BIGINT. -(2**63) is a valid BIGINT but is
# kept out by design (validate.MIN_CHAT_ID) so that "id > low - 1" bounds never overflow.
BAD_IDS: list[Any] = [
    True,
    False,
    "1",
    "-100123",
    None,
    1.0,
    float("nan"),
    b"1",
    2**63,
    2**64,
    -(2**63),
    -(2**63) - 1,
]

UNICODE = "🎵 تيك توك ✨ שלום"
LONG_LINK = "https://www.tiktok.com/@user/video/" + "7" * 1000 + "?q=" + "🎶" * 500  # > 2 kB


async def user_row(db: asyncpg.Connection, chat: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM users WHERE user_id = $1", chat)


async def _drain(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


# --- get_user -----------------------------------------------------------------------------------


async def test_get_user_unknown_is_none(db: asyncpg.Connection) -> None:
    assert await tt.get_user(123) is None
    assert await tt.get_user(-123) is None
    assert await table_counts(db) == (0, 0, 0)


async def test_get_user_returns_the_stored_row(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown)"
        " VALUES (42, 1700000000, 'ru', 'promo', true, 2, 1700086400)"
    )
    user = await tt.get_user(42)
    assert user is not None
    assert (
        user.user_id,
        user.registered_at,
        user.lang,
        user.link,
        user.file_mode,
        user.ad_count,
        user.ad_cooldown,
    ) == (42, 1700000000, "ru", "promo", True, 2, 1700086400)


async def test_get_user_reads_seed_rows_with_null_registered_at(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO users (user_id, registered_at, lang) VALUES (-5, NULL, 'uk')")
    user = await tt.get_user(-5)
    assert user is not None
    assert user.registered_at is None
    assert user.lang == "uk"


# --- create_user / register_user ----------------------------------------------------------------


async def test_create_user_registers_with_defaults(db: asyncpg.Connection) -> None:
    before = int(time.time())
    user = await tt.create_user(777, "ru")
    after = int(time.time())
    row = await user_row(db, 777)
    assert row is not None
    assert before <= row["registered_at"] <= after
    assert (row["lang"], row["link"], row["file_mode"], row["ad_count"], row["ad_cooldown"]) == (
        "ru",
        None,
        False,
        0,
        0,
    )
    assert (user.user_id, user.lang, user.link, user.registered_at) == (
        777,
        "ru",
        None,
        row["registered_at"],
    )


async def test_create_user_stores_the_referral_link(db: asyncpg.Connection) -> None:
    user = await tt.create_user(5, "en", "inline")
    assert user.link == "inline"
    row = await user_row(db, 5)
    assert row is not None and row["link"] == "inline"


async def test_create_user_existing_chat_returns_stored_row_unchanged(
    db: asyncpg.Connection,
) -> None:
    await db.execute(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown)"
        " VALUES (9, 1600000000, 'ar', 'first', true, 2, 55)"
    )
    stored = await user_row(db, 9)
    user = await tt.create_user(9, "en", "second")  # must not raise
    assert (
        user.user_id,
        user.registered_at,
        user.lang,
        user.link,
        user.file_mode,
        user.ad_count,
        user.ad_cooldown,
    ) == (9, 1600000000, "ar", "first", True, 2, 55)
    assert await user_row(db, 9) == stored
    assert await table_counts(db) == (1, 0, 0)


async def test_register_user_reports_whether_it_inserted(db: asyncpg.Connection) -> None:
    user, inserted = await tt.register_user(31, "vi", "ref")
    assert inserted is True
    assert (user.user_id, user.lang, user.link) == (31, "vi", "ref")
    again, inserted_again = await tt.register_user(31, "en", None)
    assert inserted_again is False
    assert (again.lang, again.link, again.registered_at) == ("vi", "ref", user.registered_at)
    assert await table_counts(db) == (1, 0, 0)


async def test_register_user_defaults(db: asyncpg.Connection) -> None:
    user, inserted = await tt.register_user(-100_500)
    assert inserted
    assert (user.lang, user.link) == (DEFAULT_LANG, None)
    row = await user_row(db, -100_500)
    assert row is not None and row["lang"] == "en"


async def test_create_user_group_chat(db: asyncpg.Connection) -> None:
    user = await tt.create_user(-1_001_234_567_890, "hi")
    assert user.user_id == -1_001_234_567_890
    assert await tt.get_user_settings(-1_001_234_567_890) == ("hi", False)


async def test_create_user_unicode_and_long_link(db: asyncpg.Connection) -> None:
    await tt.create_user(1, "en", UNICODE)
    await tt.create_user(2, "en", LONG_LINK)
    assert len(LONG_LINK.encode()) > 2048
    assert (await user_row(db, 1))["link"] == UNICODE  # type: ignore[index]
    assert (await user_row(db, 2))["link"] == LONG_LINK  # type: ignore[index]
    user = await tt.get_user(2)
    assert user is not None and user.link == LONG_LINK


async def test_create_user_strips_nul_bytes(db: asyncpg.Connection) -> None:
    user = await tt.create_user(3, "e\x00n", "\x00ab\x00c\x00")
    assert (user.lang, user.link) == ("en", "abc")
    row = await user_row(db, 3)
    assert row is not None and (row["lang"], row["link"]) == ("en", "abc")


@pytest.mark.parametrize("lang", [None, 5, b"en", "", "   ", "\x00", "x" * 36, True])
async def test_create_user_rejects_bad_lang(raw: asyncpg.Connection, lang: Any) -> None:
    await assert_rejected(raw, lambda: tt.create_user(990_001, lang))


@pytest.mark.parametrize("link", [5, b"x", ["x"], True])
async def test_create_user_rejects_bad_link(raw: asyncpg.Connection, link: Any) -> None:
    await assert_rejected(raw, lambda: tt.create_user(990_002, "en", link))


async def test_edge_ids_round_trip(db: asyncpg.Connection) -> None:
    for chat in EDGE_IDS:
        user, inserted = await tt.register_user(chat, "id")
        assert inserted and user.user_id == chat
        assert (await tt.get_user(chat)).user_id == chat  # type: ignore[union-attr]
        assert await tt.get_user_settings(chat) == ("id", False)
        assert await tt.toggle_file_mode(chat) is True
        assert await tt.update_user_lang(chat, "so") is True
        await tt.add_video(chat, f"https://t/{chat}", True)
        await tt.add_music(chat, 2**62)
        stats = await tt.get_user_stats(chat)
        assert stats[0] is not None and stats[0].user_id == chat
        assert stats[1:] == (1, 1)
        assert await tt.claim_ad_slot(chat) is True
        assert [link for _, link in await tt.get_user_videos(chat)] == [f"https://t/{chat}"]
        assert await db.fetchval("SELECT user_id FROM users WHERE user_id = $1", chat) == chat
        assert await db.fetchval("SELECT video_link FROM videos WHERE user_id = $1", chat) == (
            f"https://t/{chat}"
        )
        assert await db.fetchval("SELECT count(*) FROM music WHERE user_id = $1", chat) == 1
    assert await table_counts(db) == (len(EDGE_IDS),) * 3


# --- get_user_settings --------------------------------------------------------------------------


async def test_get_user_settings(db: asyncpg.Connection) -> None:
    assert await tt.get_user_settings(10) is None
    await tt.create_user(10, "uk")
    assert await tt.get_user_settings(10) == ("uk", False)
    await db.execute("UPDATE users SET file_mode = true, lang = 'عربي' WHERE user_id = 10")
    settings = await tt.get_user_settings(10)
    assert settings == ("عربي", True)
    assert settings is not None and type(settings[1]) is bool


# --- update_user_mode / update_user_lang ---------------------------------------------------------


async def test_update_user_mode(db: asyncpg.Connection) -> None:
    assert await tt.update_user_mode(11, True) is False
    assert await table_counts(db) == (0, 0, 0)
    await tt.create_user(11, "en")
    assert await tt.update_user_mode(11, True) is True
    assert (await user_row(db, 11))["file_mode"] is True  # type: ignore[index]
    assert await tt.update_user_mode(11, True) is True  # same value: still a known chat
    assert await tt.update_user_mode(11, False) is True
    assert (await user_row(db, 11))["file_mode"] is False  # type: ignore[index]


async def test_update_user_mode_group_and_settings_ref(db: asyncpg.Connection) -> None:
    await tt.create_user(-77, "en")
    assert await tt.update_user_mode(UserSettings(chat_id=-77), True) is True
    assert await tt.get_user_settings(-77) == ("en", True)


async def test_update_user_mode_rejects_non_bool(db: asyncpg.Connection) -> None:
    await tt.create_user(12, "en")
    value: Any  # wrong types on purpose
    for value in (1, 0, "yes", None, 1.0):
        with pytest.raises(ValueError):
            await tt.update_user_mode(12, value)
    assert (await user_row(db, 12))["file_mode"] is False  # type: ignore[index]


async def test_update_user_lang(db: asyncpg.Connection) -> None:
    assert await tt.update_user_lang(13, "ru") is False
    assert await table_counts(db) == (0, 0, 0)
    await tt.create_user(13, "en")
    assert await tt.update_user_lang(13, "pt-br") is True
    assert (await user_row(db, 13))["lang"] == "pt-br"  # type: ignore[index]
    assert await tt.update_user_lang(UserSettings(chat_id=13), "zh-hant-tw") is True
    assert await tt.get_user_settings(13) == ("zh-hant-tw", False)


async def test_update_user_lang_unicode_and_nul(db: asyncpg.Connection) -> None:
    await tt.create_user(-14, "en")
    assert await tt.update_user_lang(-14, "ع\x00ر🎵") is True
    assert (await user_row(db, -14))["lang"] == "عر🎵"  # type: ignore[index]


async def test_update_user_lang_rejects_bad_lang(db: asyncpg.Connection) -> None:
    await tt.create_user(15, "en")
    lang: Any  # wrong types on purpose
    for lang in (None, 1, "", "\x00\x00", "y" * 36, True):
        with pytest.raises(ValueError):
            await tt.update_user_lang(15, lang)
    assert (await user_row(db, 15))["lang"] == "en"  # type: ignore[index]


# --- toggle_file_mode ---------------------------------------------------------------------------


async def test_toggle_file_mode(db: asyncpg.Connection) -> None:
    assert await tt.toggle_file_mode(16) is None
    assert await table_counts(db) == (0, 0, 0)
    await tt.create_user(16, "en")
    assert await tt.toggle_file_mode(16) is True
    assert (await user_row(db, 16))["file_mode"] is True  # type: ignore[index]
    assert await tt.toggle_file_mode(16) is False
    assert (await user_row(db, 16))["file_mode"] is False  # type: ignore[index]
    await tt.create_user(-16, "en")
    assert await tt.toggle_file_mode(UserSettings(chat_id=-16)) is True
    assert (await user_row(db, 16))["file_mode"] is False  # type: ignore[index]


# --- every function that takes a chat id: bad ids are a ValueError, and nothing is written ------

ID_CALLS: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "get_user": lambda c: tt.get_user(c),
    "create_user": lambda c: tt.create_user(c, "en"),
    "register_user": lambda c: tt.register_user(c),
    "get_user_settings": lambda c: tt.get_user_settings(c),
    "update_user_mode": lambda c: tt.update_user_mode(c, True),
    "update_user_lang": lambda c: tt.update_user_lang(c, "ru"),
    "toggle_file_mode": lambda c: tt.toggle_file_mode(c),
    "add_video": lambda c: tt.add_video(c, "https://t/1", False),
    "add_music": lambda c: tt.add_music(c, 1),
    "track_download": lambda c: tt.track_download(c, "https://t/1", False, ad=True),
    "get_user_stats": lambda c: tt.get_user_stats(c),
    "should_show_ad": lambda c: tt.should_show_ad(c),
    "record_ad_show": lambda c: tt.record_ad_show(c),
    "increase_ad_count": lambda c: tt.increase_ad_count(c),
    "claim_ad_slot": lambda c: tt.claim_ad_slot(c),
    "get_user_videos": lambda c: tt.get_user_videos(c),
    "iter_user_videos": lambda c: _drain(tt.admin.iter_user_videos(c)),
}


@pytest.mark.parametrize("name", sorted(ID_CALLS))
async def test_bad_chat_ids_raise_value_error(raw: asyncpg.Connection, name: str) -> None:
    call = ID_CALLS[name]
    for bad in BAD_IDS:
        await assert_rejected(raw, lambda: call(bad))  # noqa: B023 (awaited at once)


async def test_every_id_function_accepts_a_group_id(db: asyncpg.Connection) -> None:
    # A negative id is an ordinary chat: no function rejects it.
    for name in sorted(ID_CALLS):
        await ID_CALLS[name](-1_009_876_543_210)
    assert await table_counts(db) == (1, 2, 1)  # add_video and track_download, add_music
