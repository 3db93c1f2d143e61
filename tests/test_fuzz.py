"""Bad input, generated: every public write and updates fed through the middleware.

Each input either gets a clear ``ValueError`` (before any SQL: the database is left as it was)
or is stored cleanly and reads back equal — except NUL characters, which PostgreSQL text cannot
hold and ``validate.text`` strips (documented). Nothing crashes the dispatcher. The counts of
inputs tried are printed at the end (``pytest -s``).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher, Router
from aiogram.types import Message, Update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tt_storage as tt
from tests.support import telegram as support_telegram
from tests.support.checks import table_counts
from tt_storage.bot.registration import normalize_tag
from tt_storage.core.validate import MAX_CHAT_ID, MAX_LANG_LENGTH, MIN_CHAT_ID
from tt_storage.testing import updates as events

pytestmark = pytest.mark.slow

TRIED: Counter[str] = Counter()

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,  # the same inputs every run: a failure is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SQL = [
    "'; DROP TABLE users; --",
    "1 OR 1=1",
    "$1",
    "%s %(x)s {0} {}",
    "\\x00\\'",
    "Robert'); DELETE FROM videos; --",
]
ODD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 40,
    "https://vm.tiktok.com/" + "x" * 10_000,
    "🎵" * 70,
    "ж" * 65,
    "\u202eevil",
    "e\u0301",
    "\ud800",
    "a\udfffb",
    *SQL,
]

ids = st.one_of(
    st.integers(min_value=-(2**63) - 10, max_value=2**63 + 10),
    st.sampled_from(
        [0, 1, -1, 2**52, -(2**52), MAX_CHAT_ID, MIN_CHAT_ID, 2**63, -(2**63), 2**64, -(2**70)]
    ),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.decimals(allow_nan=False, allow_infinity=False, places=0),
)
# Text with NUL, emoji, RTL marks and lone surrogates (the default alphabet has none).
texts = st.one_of(
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=80),
    st.sampled_from(ODD_TEXT),
    st.none(),
    st.integers(),
    st.binary(max_size=5),
)
flags = st.one_of(st.booleans(), st.none(), st.integers(0, 1), st.floats(), st.text(max_size=1))


def valid_id(value: Any) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and MIN_CHAT_ID <= value <= MAX_CHAT_ID
    )


def valid_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def stored(value: str) -> str:
    return value.replace("\x00", "")


def valid_lang(value: Any) -> bool:
    return valid_text(value) and 0 < len(stored(value).strip()) <= MAX_LANG_LENGTH


async def expect_value_error(db: asyncpg.Connection, call: Any) -> None:
    before = await table_counts(db)
    with pytest.raises(ValueError):
        await call
    assert await table_counts(db) == before


# --- the public functions -----------------------------------------------------------------------


@FUZZ
@given(chat=ids, link=texts, images=flags, processed=flags, inline=flags, ad=flags)
async def test_fuzz_track_download(
    db: asyncpg.Connection, chat: Any, link: Any, images: Any, processed: Any, inline: Any, ad: Any
) -> None:
    TRIED["track_download"] += 1
    call = tt.track_download(chat, link, images, processed, inline, ad=ad)
    if not (
        valid_id(chat)
        and valid_text(link)
        and all(isinstance(f, bool) for f in (images, processed, inline, ad))
    ):
        await expect_value_error(db, call)
        return
    show = await call
    assert isinstance(show, bool) and (show is False or ad is True)
    row = await db.fetchrow(
        "SELECT video_link, is_images, is_processed, is_inline FROM videos"
        " WHERE user_id = $1 ORDER BY pk_id DESC LIMIT 1",
        chat,
    )
    assert row is not None
    assert tuple(row) == (stored(link), images, processed, inline)


@FUZZ
@given(chat=ids, video_id=ids)
async def test_fuzz_add_music(db: asyncpg.Connection, chat: Any, video_id: Any) -> None:
    TRIED["add_music"] += 1
    call = tt.add_music(chat, video_id)
    if not (valid_id(chat) and valid_id(video_id)):
        await expect_value_error(db, call)
        return
    await call
    found = await db.fetchval(
        "SELECT video_id FROM music WHERE user_id = $1 ORDER BY pk_id DESC LIMIT 1", chat
    )
    assert found == video_id


@FUZZ
@given(chat=ids, lang=texts, link=texts)
async def test_fuzz_register_user(db: asyncpg.Connection, chat: Any, lang: Any, link: Any) -> None:
    TRIED["register_user"] += 1
    call = tt.register_user(chat, lang, link)
    if not (valid_id(chat) and valid_lang(lang) and (link is None or valid_text(link))):
        await expect_value_error(db, call)
        return
    await db.execute("DELETE FROM videos WHERE user_id = $1", chat)
    await db.execute("DELETE FROM music WHERE user_id = $1", chat)
    await db.execute("DELETE FROM users WHERE user_id = $1", chat)
    user, inserted = await call
    assert inserted
    row = await db.fetchrow("SELECT lang, link FROM users WHERE user_id = $1", chat)
    assert row is not None
    want = (stored(lang).strip(), None if link is None else stored(link))
    assert tuple(row) == want == (user.lang, user.link)


@FUZZ
@given(chat=ids, lang=texts, mode=flags)
async def test_fuzz_settings_updates(
    db: asyncpg.Connection, chat: Any, lang: Any, mode: Any
) -> None:
    TRIED["update_user_lang/mode"] += 1
    if valid_id(chat):
        await tt.create_user(chat, "en")
    lang_call = tt.update_user_lang(chat, lang)
    if not (valid_id(chat) and valid_lang(lang)):
        await expect_value_error(db, lang_call)
    else:
        assert await lang_call is True
        assert await db.fetchval("SELECT lang FROM users WHERE user_id = $1", chat) == (
            stored(lang).strip()
        )
    mode_call = tt.update_user_mode(chat, mode)
    if not (valid_id(chat) and isinstance(mode, bool)):
        await expect_value_error(db, mode_call)
    else:
        assert await mode_call is True
        assert await db.fetchval("SELECT file_mode FROM users WHERE user_id = $1", chat) is mode


@FUZZ
@given(chat=ids)
async def test_fuzz_reads_and_the_ad_rule(db: asyncpg.Connection, chat: Any) -> None:
    TRIED["reads/ad rule"] += 1
    calls = [
        tt.get_user_settings(chat),
        tt.should_show_ad(chat),
        tt.claim_ad_slot(chat),
        tt.toggle_file_mode(chat),
        tt.get_user(chat),
    ]
    if not valid_id(chat):
        for call in calls:
            await expect_value_error(db, call)
        return
    results = [await call for call in calls]
    assert results[0] is None or isinstance(results[0], tuple)


# --- updates through the middleware -------------------------------------------------------------

languages = st.one_of(
    st.none(),
    st.sampled_from(["en", "pt-br", "zh-hant-tw", "EN_us", "x" * 36, "", " ", "ru\x00", "🇺🇦"]),
    st.text(max_size=40),
)
start_texts = st.one_of(
    st.builds(lambda p: f"/start {p}", st.text(max_size=80)),
    st.sampled_from(
        [
            "/start",
            "/start promo code",
            "/start " + "a" * 64,
            "/start " + "a" * 65,
            "/start\x00promo",
            "/start pro\x00mo",
            "/start@tt_test_bot INLINE",
            "/start 🎵",
            *(f"/start {s}" for s in SQL),
        ]
    ),
)
download_texts = st.one_of(
    st.builds(lambda link: f"/v {link}", st.sampled_from(ODD_TEXT) | st.text(max_size=80)),
    st.builds(lambda n: f"/m {n}", st.integers(min_value=-(2**64), max_value=2**64)),
)
update_ids = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.sampled_from([MAX_CHAT_ID, MIN_CHAT_ID, 2**63, -(2**63), 2**64]),
)


class FuzzBot:
    """The middleware plus a download handler that reports what the library said."""

    def __init__(self) -> None:
        self.middleware = tt.StorageMiddleware(languages=None, cache_size=0)
        self.dp = Dispatcher()
        self.dp.update.outer_middleware.register(self.middleware)
        router = Router()
        router.message.register(self.handle)
        self.dp.include_router(router)
        self.telegram = support_telegram.server()
        self.bot = self.telegram.bot()
        self.outcomes: Counter[str] = Counter()
        self.last: tt.UserSettings | None = None

    async def handle(self, message: Message, user_settings: tt.UserSettings) -> None:
        self.last = user_settings
        kind, _, ref = (message.text or "").partition(" ")
        try:
            if kind == "/v":
                await tt.track_download(user_settings, ref, False, ad=True)
            elif kind == "/m":
                await tt.add_music(user_settings, int(ref))
            self.outcomes["stored"] += 1
        except ValueError:
            self.outcomes["ValueError"] += 1
        except tt.StorageError:
            self.outcomes["StorageError"] += 1
        await message.answer("ok")


@pytest.fixture(scope="module")
def fuzz_bot() -> FuzzBot:
    return FuzzBot()


def update(chat: int, text: str, lang: str | None) -> Update:
    return events.message(chat, text, lang=lang)


@settings(FUZZ, max_examples=500)
@given(chat=update_ids, text=st.one_of(start_texts, download_texts), lang=languages)
async def test_fuzz_updates_through_the_middleware(
    db: asyncpg.Connection, fuzz_bot: FuzzBot, chat: int, text: str, lang: str | None
) -> None:
    TRIED["updates"] += 1
    calls = len(fuzz_bot.telegram.methods())
    await fuzz_bot.dp.feed_update(fuzz_bot.bot, update(chat, text, lang))  # never raises
    assert len(fuzz_bot.telegram.methods()) == calls + 1  # the handler ran and answered
    settings = fuzz_bot.last
    assert settings is not None and settings.chat_id == chat
    if not valid_id(chat):
        assert settings.persisted is False
        return
    row = await db.fetchrow("SELECT lang, link FROM users WHERE user_id = $1", chat)
    assert row is not None  # registered by the middleware or by the download
    assert row["lang"] == "en" or normalize_tag(row["lang"]) == row["lang"]
    if settings.is_new:
        assert row["lang"] == (normalize_tag(lang) or "en")
    link = row["link"]
    assert link is None or (len(link) <= 64 and link.isascii() and "\x00" not in link)
    kind, _, ref = text.partition(" ")
    if kind == "/v" and valid_text(ref):
        last = await db.fetchval(
            "SELECT video_link FROM videos WHERE user_id = $1 ORDER BY pk_id DESC LIMIT 1", chat
        )
        assert last == stored(ref)


# --- service updates: group migrations and my_chat_member, with any ids ------------------------

#: Any integer id, a third of them outside BIGINT (Telegram never sends one; a fuzzer does).
service_ids = st.one_of(update_ids, st.integers(min_value=-(2**65), max_value=2**65))
member_status = st.sampled_from(["member", "kicked", "left"])
service_updates = st.one_of(
    st.tuples(st.just("migrate_to"), service_ids, service_ids),
    st.tuples(st.just("migrate_from"), service_ids, service_ids),
    st.tuples(st.just("member"), service_ids, member_status, member_status),
)


class ServiceBot:
    """``setup_storage`` (settings, migrations, block tracking) and the bot's own handlers."""

    def __init__(self) -> None:
        self.dp = Dispatcher()
        self.middleware = tt.setup_storage(self.dp, cache_size=0)
        self.seen: list[tt.UserSettings] = []
        router = Router(name="own")
        router.message.register(self.handle)
        router.my_chat_member.register(self.handle)
        self.dp.include_router(router)
        self.bot = support_telegram.bot()

    async def handle(self, event: Any, user_settings: tt.UserSettings) -> None:
        self.seen.append(user_settings)


@pytest.fixture(scope="module")
def service_bot() -> ServiceBot:
    return ServiceBot()


def service_update(kind: str, chat: int, other: Any, new_status: str = "") -> Update:
    if kind == "migrate_to":
        return events.message(chat, None, migrate_to_chat_id=other)
    if kind == "migrate_from":
        return events.message(chat, None, migrate_from_chat_id=other)
    return events.my_chat_member(chat, other, new_status)


@settings(FUZZ, max_examples=300)
@given(spec=service_updates)
async def test_fuzz_service_updates(
    db: asyncpg.Connection, service_bot: ServiceBot, spec: tuple[Any, ...]
) -> None:
    TRIED["service updates"] += 1
    kind, chat, *rest = spec
    ids = [chat, rest[0]] if kind != "member" else [chat]
    if not all(valid_id(i) for i in ids):
        TRIED["service updates with an id outside BIGINT"] += 1
    before = await table_counts(db)
    seen = len(service_bot.seen)
    await service_bot.dp.feed_update(service_bot.bot, service_update(kind, chat, *rest))
    assert len(service_bot.seen) == seen + 1  # never raises, and the handler ran
    got = service_bot.seen[-1]
    if not all(valid_id(i) for i in ids):
        assert got.persisted is False and got.chat_id == chat and not got.is_new
        assert await table_counts(db) == before  # nothing stored, nothing moved
        return
    if kind == "member":
        assert got.chat_id == chat
        return
    old, new = (chat, rest[0]) if kind == "migrate_to" else (rest[0], chat)
    assert got.chat_id == new  # both service messages get the new id's settings
    if old != new:
        assert await db.fetchval("SELECT count(*) FROM users WHERE user_id = $1", old) == 0


async def test_fuzz_figures(fuzz_bot: FuzzBot) -> None:
    """Not a check: prints how many inputs each fuzz test tried, and the handler's outcomes."""
    print(f"\nfuzz inputs tried: {dict(TRIED)}, total {sum(TRIED.values())}")
    print(f"middleware updates, handler outcomes: {dict(fuzz_bot.outcomes)}")
    await fuzz_bot.middleware.close()
    assert sum(TRIED.values()) > 0 and not math.isnan(sum(TRIED.values()))
