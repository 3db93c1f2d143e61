"""examples/stats_bot.py (tt-bot's stats bot on tt-storage), end to end: its real Dispatcher, a
real Bot on the fake Bot API server and rows inserted at known times; every number the bot
answers is checked against what was inserted."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendDocument, SendPhoto
from aiogram.types import BufferedInputFile, Update

from tests.support.examples import EXAMPLES, load_example
from tt_storage.admin import QuickStats
from tt_storage.testing import FakeTelegram
from tt_storage.testing import updates as events

ADMIN = 777
HOUR, DAY = 3_600, 86_400


stats_bot = load_example("stats_bot.py", "tt_storage_example_stats_bot")


class StatsBot:
    def __init__(self, dp: Dispatcher, telegram: FakeTelegram) -> None:
        self.dp, self.telegram, self.bot = dp, telegram, telegram.bot()

    async def feed(self, update: Update) -> list[Any]:
        before = len(self.telegram)
        await self.dp.feed_update(self.bot, self.telegram.remember(update))
        return self.telegram.methods(since=before)

    async def press(self, data: str, user: int = ADMIN) -> list[Any]:
        return await self.feed(events.callback(user, data, from_id=user))

    async def edited(self, data: str) -> str:
        """The text the menu message was edited to by pressing ``data``."""
        edits = [c for c in await self.press(data) if isinstance(c, EditMessageText)]
        assert len(edits) == 1, edits
        return str(edits[0].text)

    async def say(self, text: str, user: int = ADMIN) -> list[str]:
        calls = await self.feed(events.message(user, text))
        return [c.text for c in calls if hasattr(c, "text") and c.text is not None]


@pytest.fixture
async def bot(db: asyncpg.Connection, telegram: FakeTelegram) -> AsyncIterator[StatsBot]:
    # The storage is already initialised by the session fixture: the dispatcher is not started.
    yield StatsBot(stats_bot.create_dispatcher(admin_ids={ADMIN}), telegram)


@pytest.fixture
async def rows(db: asyncpg.Connection) -> int:
    """Three users, one group and their downloads at known ages; returns "now"."""
    now = int(time.time())
    users = [
        (10, now - 100, "ru", "ref_a", True),
        (11, now - 3 * DAY, "en", "ref_a", False),
        (12, now - 100 * DAY, "uk", "ref_b", False),
        (-20, now - 100, "en", None, True),
    ]
    await db.executemany(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown)"
        " VALUES ($1, $2, $3, $4, $5, 0, 0)",
        users,
    )
    videos = [
        (10, now - 3 * DAY, "https://tiktok.com/v/1", False),
        (10, now - 60, "https://tiktok.com/p/2", True),
        (10, now - 50, "https://tiktok.com/v/3", False),
        (11, now - 20 * DAY, "https://tiktok.com/p/4", True),
        (12, None, "https://tiktok.com/v/5", False),  # an old row without a timestamp
        (-20, now - 70, "https://tiktok.com/v/6", False),
        (-20, now - 70, "https://tiktok.com/v/7", False),
    ]
    await db.executemany(
        "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, is_processed,"
        " is_inline) VALUES ($1, $2, $3, $4, false, false)",
        videos,
    )
    await db.executemany(
        "INSERT INTO music (user_id, downloaded_at, video_id) VALUES ($1, $2, $3)",
        [(10, now - 80, 1), (-20, now - 5 * DAY, 2)],
    )
    return now


def quick(*numbers: int) -> str:
    return str(stats_bot.quick_stats_text(QuickStats(*numbers)))


async def test_menu_for_admins_only(bot: StatsBot, rows: int) -> None:
    [menu] = await bot.feed(events.message(ADMIN, "/stats"))
    assert menu.reply_markup == stats_bot.MENU
    # Anybody else, commands and crafted button presses alike: nothing.
    assert await bot.feed(events.message(555, "/stats")) == []
    assert await bot.press("overall", user=555) == []
    # Not in a group either, even from an admin.
    assert await bot.feed(events.message(-30, "/stats", from_id=ADMIN)) == []


async def test_quick_stats_all_time_and_24h(bot: StatsBot, rows: int) -> None:
    text = await bot.edited("overall")
    overall, daily = text.split("\n\n<b>📊 Last 24 hours</b>\n")
    # new chats, videos, their chats, slideshows, their chats, music, its chats
    groups = "\n\n<b>Groups</b>\n"
    assert (
        overall
        == f"<b>📊 All time</b>\n{quick(3, 5, 3, 2, 2, 1, 1)}{groups}{quick(1, 2, 1, 0, 0, 1, 1)}"
    )
    assert daily == f"{quick(1, 2, 1, 1, 1, 1, 1)}{groups}{quick(1, 2, 1, 0, 0, 0, 0)}"


@pytest.mark.parametrize(
    ("chat_type", "period", "numbers"),
    [
        ("all", "week", (3, 5, 2, 1, 1, 2, 2)),
        ("all", "month", (3, 6, 3, 2, 2, 2, 2)),
        ("users", "all", (3, 5, 3, 2, 2, 1, 1)),
        ("groups", "24h", (1, 2, 1, 0, 0, 0, 0)),
    ],
)
async def test_detailed_view(
    bot: StatsBot, rows: int, chat_type: str, period: str, numbers: tuple[int, ...]
) -> None:
    assert "Chat type" in await bot.edited("detailed")
    assert "period" in await bot.edited(f"detailed:{chat_type}")
    data = stats_bot.StatsCallback(chat_type=chat_type, period=period).pack()
    text = await bot.edited(data)
    assert text.splitlines()[1:] == quick(*numbers).splitlines()


@pytest.mark.parametrize(
    ("kind", "period", "total"),
    [("videos", "week", 5), ("videos", "24h", 4), ("users", "all", 4), ("music", "month", 2)],
)
async def test_graph_is_a_png_of_the_counted_series(
    bot: StatsBot, rows: int, kind: str, period: str, total: int
) -> None:
    calls = await bot.press(stats_bot.GraphCallback(kind=kind, period=period).pack())
    [photo] = [c for c in calls if isinstance(c, SendPhoto)]
    assert photo.chat_id == ADMIN
    assert isinstance(photo.photo, BufferedInputFile) and photo.caption is not None
    assert photo.photo.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert photo.caption.endswith(f": <b>{total}</b> in all")


async def test_graph_of_an_empty_table_is_still_a_picture(bot: StatsBot) -> None:
    calls = await bot.press(stats_bot.GraphCallback(kind="music", period="all").pack())
    [photo] = [c for c in calls if isinstance(c, SendPhoto)]
    assert isinstance(photo.photo, BufferedInputFile) and photo.caption is not None
    assert photo.photo.data.startswith(b"\x89PNG") and photo.caption.endswith("<b>0</b> in all")


async def test_user_lookup_and_history_export(bot: StatsBot, rows: int) -> None:
    await bot.press("user")
    assert await bot.say("ten") == [
        "❌ Not a chat id: send digits, e.g. 123456789 or -1001234567890"
    ]
    [found] = await bot.say("10")  # still waiting for an id after a bad one
    lines = found.splitlines()
    assert lines[1:6] == [
        "ID: <code>10</code>",
        "Videos: <b>3</b>",
        "┗ Slideshows: <b>1</b>",
        "Language: <code>ru</code>",
        "File mode: on",
    ]
    assert "Referral: <code>ref_a</code>" in lines
    assert f"Registered: {stats_bot.utc(rows - 100)}" in lines
    # The lookup is over: a number is just a message again.
    assert await bot.say("11") == []

    calls = await bot.press(stats_bot.HistoryCallback(user_id=10).pack())
    [document] = [c for c in calls if isinstance(c, SendDocument)]
    assert isinstance(document.document, BufferedInputFile) and document.caption is not None
    assert document.document.filename == "history_10.csv"
    table = list(csv.reader(io.StringIO(document.document.data.decode())))
    assert table[0][:3] == ["downloaded_at", "downloaded_at_utc", "video_link"]
    assert [(int(r[0]), r[2], r[3]) for r in table[1:]] == [
        (rows - 3 * DAY, "https://tiktok.com/v/1", "false"),
        (rows - 60, "https://tiktok.com/p/2", "true"),
        (rows - 50, "https://tiktok.com/v/3", "false"),
    ]
    assert document.caption.endswith(": 3 downloads")


async def test_user_lookup_of_an_unknown_chat_and_an_empty_history(
    bot: StatsBot, rows: int
) -> None:
    await bot.press("user")
    [missing] = await bot.say("-1001234567890")
    assert missing == "❌ No chat <code>-1001234567890</code>"
    calls = await bot.press(stats_bot.HistoryCallback(user_id=-99).pack())
    assert [type(c) for c in calls] == [AnswerCallbackQuery]
    assert calls[0].text == "❌ No downloads"


async def test_referrals_and_other_stats(bot: StatsBot, rows: int) -> None:
    assert await bot.edited("referrals") == (
        "<b>🗣 Top referrals</b>\n┗ ref_a: <b>2</b>\n┗ ref_b: <b>1</b>"
    )
    other = (await bot.edited("other")).splitlines()
    # File mode: chats with it on, the group included (as tt-bot 5.4.5 counts).
    assert other[1] == "Chats in file mode: <b>2</b>"
    assert other[3:6] == ["┗ en: <b>2</b>", "┗ ru: <b>1</b>", "┗ uk: <b>1</b>"]
    assert other[7:] == [
        "┗ <code>10</code>: <b>3</b>",
        "┗ <code>-20</code>: <b>2</b>",
        "┗ <code>11</code>: <b>1</b>",
        "┗ <code>12</code>: <b>1</b>",
    ]


async def test_stats_messages_in_the_logs_chat(rows: int, telegram: FakeTelegram) -> None:
    for message_id in (1, 2):  # the bot posted both earlier
        telegram.add_message(-100_500, message_id=message_id, text="…")
    await stats_bot.refresh_stats_messages(telegram.bot(), -100_500, 1, 2)
    overall, daily = cast(list[EditMessageText], telegram.methods())
    assert (overall.chat_id, overall.message_id, daily.message_id) == (-100_500, 1, 2)
    assert overall.text is not None and daily.text is not None
    assert overall.text.startswith(await stats_bot.overall_text() + "\n\n<code>Updated ")
    assert daily.text.startswith(await stats_bot.daily_text() + "\n\n<code>Updated ")
    telegram.clear()
    await stats_bot.refresh_stats_messages(telegram.bot(), -100_500, None, 2)
    assert [c.message_id for c in cast(list[EditMessageText], telegram.methods())] == [2]


def test_main_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATS_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="STATS_TOKEN is not set"):
        stats_bot.main()


def test_admin_ids_as_tt_bot_writes_them() -> None:
    assert stats_bot.ids_from_env("STATS_IDS", "[1, 2]") == frozenset({1, 2})
    assert stats_bot.ids_from_env("STATS_IDS", "3,4") == frozenset({3, 4})
    with pytest.raises(ValueError, match="STATS_IDS"):
        stats_bot.ids_from_env("STATS_IDS", "1,x")


def test_the_porting_guides_shim_provides_tt_bots_data_functions() -> None:
    """docs/PORTING.md's `data/db_service.py` shim defines every function tt-bot 5.4.5's
    module had, and they are tt-storage's."""
    import tt_storage

    guide = (EXAMPLES.parent / "docs" / "PORTING.md").read_text(encoding="utf-8")
    shim = guide.split("```python\n", 1)[1].split("```", 1)[0]
    assert shim.startswith("# data/db_service.py")
    namespace: dict[str, Any] = {}
    exec(shim, namespace)
    tt_bot_functions = (
        "get_user create_user update_user_mode get_user_stats get_user_videos "
        "get_referral_stats get_other_stats get_stats_by_period get_user_settings add_video "
        "add_music update_user_lang get_user_ids record_ad_show increase_ad_count should_show_ad"
    ).split()
    for name in tt_bot_functions:
        assert namespace[name] is getattr(tt_storage, name)


async def test_active_chats_in_the_quick_stats_graph_and_lookup(
    bot: StatsBot, rows: int, db: asyncpg.Connection
) -> None:
    today = rows - rows % DAY
    # 10 (registered today) active today; 11 active yesterday and today; 12 yesterday only.
    await db.executemany(
        "INSERT INTO tt_storage_activity (day, chat_id, registered_at, previous_day)"
        " VALUES ($1, $2, $3, $4)",
        [
            (today, 10, today, None),  # registered today
            (today - DAY, 11, rows - 3 * DAY, None),
            (today, 11, rows - 3 * DAY, today - DAY),
            (today - DAY, 12, rows - 100 * DAY, None),
        ],
    )
    data = stats_bot.StatsCallback(chat_type="users", period="24h").pack()
    lines = (await bot.edited(data)).splitlines()
    assert "Active: <b>2</b> (new <b>1</b>, returning <b>1</b>)" in lines
    assert "┗ Back from the window before: <b>50%</b> (1 of 2)" in lines
    calls = await bot.press(stats_bot.GraphCallback(kind="active", period="week").pack())
    [photo] = [c for c in calls if isinstance(c, SendPhoto)]
    assert photo.caption is not None and photo.caption.endswith(": <b>4</b> in all")
    await bot.press("user")
    [found] = await bot.say("11")
    assert f"Last active: {stats_bot.utc(today)[:10]}" in found.splitlines()


async def test_media_cache_in_quick_stats_and_its_own_view(bot: StatsBot) -> None:
    import tt_storage as tt
    from tt_storage import media

    # Not a word about the cache while nothing went through it.
    assert "Media cache:" not in await bot.edited("overall")
    popular = await media.store_media(
        ("tiktok", "1"), 42, "video", (media.MediaFile("video", "a"),)
    )
    other = await media.store_media(("tiktok", "2"), 42, "video", (media.MediaFile("video", "b"),))
    for hit in (False, True, True):
        await tt.add_video(10, "https://t/1", False, media_id=popular.media_id, cache_hit=hit)
    await tt.add_video(-20, "https://t/2", False, media_id=other.media_id, cache_hit=False)
    text = await bot.edited("overall")
    assert (
        "Media cache: <b>2</b> hits, <b>1</b> misses (<b>67%</b>), <b>2</b> produce calls saved"
        in text.split("<b>Groups</b>")[0]
    )
    view = await bot.edited("media")
    assert "Entries: <b>2</b>, file sets: <b>2</b>" in view
    assert "hit rate <b>50%</b>, <b>2</b> produce calls saved" in view
    assert view.endswith("┗ <code>tiktok:1</code>: <b>3</b>\n┗ <code>tiktok:2</code>: <b>1</b>")
    calls = await bot.press(stats_bot.GraphCallback(kind="cache_hits", period="24h").pack())
    [photo] = [c for c in calls if isinstance(c, SendPhoto)]
    assert photo.caption is not None and photo.caption.endswith(": <b>2</b> in all")
