"""The example bot, offline: a scripted crowd of chats on a real (embedded) PostgreSQL.

No token and no database server needed::

    python examples/demo.py [--chats 300] [--concurrency 64] [--seed N]

The bot of ``examples/bot.py`` (its real ``Dispatcher``, middleware and handlers) is started
with ``emit_startup`` on the embedded PostgreSQL (``TT_STORAGE_DATA_DIR``, default
``./.tt_storage``; ``--db-url`` for another server, never ``DB_URL``), then fed a few thousand
updates — private users in many languages, referral deep links, groups, inline mode, music
buttons, /mode and /lang — many at a time through ``dp.feed_update``. Its Bot API calls go to
an offline session that records them.
At the end: what the bot answered in a few chats, and the numbers read back from the database.
Data persists between runs: each run adds new chats, and the totals grow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import itertools
import json
import logging
import os
import random
import string
import sys
import time
import warnings
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerInlineQuery,
    GetMe,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import TelegramObject, Update
from tortoise.functions import Count

# examples/ is not a package: import the bot next to this file, from wherever this is run.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bot as example
import demo_media
import downloader

import tt_storage as tt
from tt_storage.core.embedded import data_dir
from tt_storage.core.urls import DB_URL_ENV, redact_url
from tt_storage.services import ads

BOT_USERNAME = "tt_demo_bot"
#: Where this run's ids start when the database is empty (Telegram-looking ids).
FIRST_USER_ID = 7_000_000_000
FIRST_GROUP_ID = -1_001_700_000_000
#: The bot's owner, allowed to use /stats.
ADMIN_ID = 1_000

# --- the offline Bot API -------------------------------------------------------------------------

#: The exchange an update belongs to: the session appends the calls made while handling it.
_exchange: contextvars.ContextVar[list[TelegramMethod[Any]] | None] = contextvars.ContextVar(
    "exchange", default=None
)


def _json(value: Any) -> Any:
    if isinstance(value, TelegramObject):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    return value


class OfflineSession(BaseSession):
    """Records every Bot API call and answers it as Telegram would, without a network."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self._message_ids = itertools.count(10_000)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> Any:
        self.calls.append(method)
        exchange = _exchange.get()
        if exchange is not None:
            exchange.append(method)
        content = json.dumps({"ok": True, "result": self._result(bot, method)})
        return self.check_response(bot, method, 200, content).result

    def _result(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetMe):
            return {"id": bot.id, "is_bot": True, "first_name": "Demo", "username": BOT_USERNAME}
        if isinstance(method, AnswerCallbackQuery | AnswerInlineQuery):
            return True
        # A Message, as Telegram answers sendMessage, sendDocument, editMessageText, …
        raw_chat = getattr(method, "chat_id", None)
        chat_id = raw_chat if isinstance(raw_chat, int) else -1
        message: dict[str, Any] = {
            "message_id": getattr(method, "message_id", None) or next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": {"id": bot.id, "is_bot": True, "first_name": "Demo"},
        }
        for name in ("text", "caption", "reply_markup"):
            value = getattr(method, name, None)
            if value is not None:
                message[name] = _json(value)
        media = demo_media.media_result(method, message)
        return message if media is None else media

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        pass


# --- the crowd -----------------------------------------------------------------------------------

# Telegram's language_code as users' apps send it (None: the field is missing).
LANGUAGE_CODES: list[tuple[str | None, int]] = [
    ("en", 22),
    ("ru", 14),
    ("id", 8),
    ("ar", 7),
    ("hi", 6),
    ("uk", 6),
    ("vi", 5),
    ("so", 2),
    ("pt-br", 6),
    ("zh-hant-tw", 3),
    ("es", 5),
    ("de", 3),
    ("en-gb", 3),
    (None, 10),
]
#: Deep-link payloads; the last ones are not valid payloads and store no referral.
REFERRALS = ["ref_abc", "ref_abc", "ref_abc", "TikTokAds", "friend-7", "inline", "yt_promo"]
BAD_PAYLOADS = ["hello world", "x" * 65]


@dataclass(eq=False)
class Chat:
    id: int
    kind: str  # "private" or "group"
    language_code: str | None = None
    members: list[Chat] = field(default_factory=list)
    script: list[dict[str, Any]] = field(default_factory=list)
    referral: str | None = None
    #: (what was fed, the calls it caused) per update, filled while running.
    exchanges: list[tuple[str, list[TelegramMethod[Any]]]] = field(default_factory=list)

    def as_chat(self) -> dict[str, Any]:
        if self.kind == "private":
            return {"id": self.id, "type": "private", "first_name": f"User{self.id % 10_000}"}
        return {"id": self.id, "type": "supergroup", "title": f"Group {-self.id % 10_000}"}

    def as_user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": f"User{self.id}"}
        if self.language_code is not None:
            user["language_code"] = self.language_code
        return user


class Crowd:
    """Builds each chat's script: the updates it sends, in order."""

    def __init__(self, rng: random.Random, first_user: int, first_group: int) -> None:
        self.rng = rng
        self.first_user = first_user
        self.first_group = first_group
        self._update_ids = itertools.count(1)
        self._ids = itertools.count(1)
        # A crowd repeats popular links: the media cache sends those by file_id.
        self.popular = demo_media.PopularLinks(rng, self._fresh_link)

    def _id(self) -> str:
        return str(next(self._ids))

    def link(self) -> str:
        return self.popular.pick(self._fresh_link)

    def _fresh_link(self) -> str:
        rng = self.rng
        digits = "".join(rng.choices(string.digits, k=19))
        short = "".join(rng.choices(string.ascii_letters + string.digits, k=9))
        shortcode = "".join(rng.choices(string.ascii_letters + string.digits + "_-", k=11))
        return rng.choices(
            [
                f"https://www.tiktok.com/@creator{rng.randint(1, 999)}/video/7{digits[1:]}",
                f"https://www.tiktok.com/@creator{rng.randint(1, 999)}/photo/7{digits[1:]}",
                f"https://vm.tiktok.com/{short}/",
                f"https://www.instagram.com/reel/{shortcode}/",
                f"https://www.instagram.com/p/{shortcode}/",
            ],
            weights=[45, 15, 20, 12, 8],
        )[0]

    # Update builders ---------------------------------------------------------------------------

    def _update(self, **event: Any) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), **event}

    def message(self, chat: Chat, sender: Chat, text: str) -> dict[str, Any]:
        return self._update(
            message={
                "message_id": int(self._id()),
                "date": int(time.time()),
                "chat": chat.as_chat(),
                "from": sender.as_user(),
                "text": text,
            }
        )

    def button(self, chat: Chat | None, sender: Chat, data: str) -> dict[str, Any]:
        query: dict[str, Any] = {
            "id": self._id(),
            "from": sender.as_user(),
            "chat_instance": f"ci{sender.id}",
            "data": data,
        }
        if chat is None:  # the button of a message sent in inline mode
            query["inline_message_id"] = f"inl{self._id()}"
        else:
            query["message"] = {
                "message_id": int(self._id()),
                "date": int(time.time()),
                "chat": chat.as_chat(),
                "from": {"id": 42, "is_bot": True, "first_name": "Demo"},
                "text": "…",
            }
        return self._update(callback_query=query)

    def inline_query(self, sender: Chat, text: str) -> dict[str, Any]:
        return self._update(
            inline_query={"id": self._id(), "from": sender.as_user(), "query": text, "offset": ""}
        )

    def chosen(self, sender: Chat, text: str) -> dict[str, Any]:
        return self._update(
            chosen_inline_result={"result_id": "v1", "from": sender.as_user(), "query": text}
        )

    # Scripts -----------------------------------------------------------------------------------

    def music(self, link: str) -> str:
        return example.MusicCallback(video_id=downloader.video_id_of(link)).pack()

    def private_script(self, user: Chat) -> None:
        rng, script = self.rng, user.script
        opening = rng.random()
        if opening < 0.30:
            payload = rng.choice(BAD_PAYLOADS if rng.random() < 0.08 else REFERRALS)
            user.referral = None if payload in BAD_PAYLOADS else payload.lower()
            script.append(self.message(user, user, f"/start {payload}"))
        elif opening < 0.75:
            script.append(self.message(user, user, "/start"))
        elif opening < 0.92:
            script.append(self.message(user, user, self.link()))
        else:
            script.append(self.message(user, user, rng.choice(["hi", "hello?", "привет"])))
        links: list[str] = []
        for _ in range(rng.randint(3, 11)):
            roll = rng.random()
            if roll < 0.58 or not links:
                links.append(self.link())
                script.append(self.message(user, user, links[-1]))
            elif roll < 0.72:
                tiktok = [link for link in links if downloader.is_tiktok(link)] or [self.link()]
                script.append(self.button(user, user, self.music(rng.choice(tiktok))))
            elif roll < 0.77:
                script.append(self.message(user, user, "/mode"))
            elif roll < 0.82:
                code = rng.choice(example.LANGUAGES)
                script.append(self.message(user, user, "/lang"))
                script.append(self.button(user, user, example.LangCallback(code=code).pack()))
            elif roll < 0.94:
                link = self.link()
                script.append(self.inline_query(user, link))
                if rng.random() < 0.8:
                    script.append(self.chosen(user, link))
                    if downloader.is_tiktok(link) and rng.random() < 0.3:
                        script.append(self.button(None, user, self.music(link)))
            elif roll < 0.97:
                script.append(self.inline_query(user, ""))
            else:
                script.append(self.message(user, user, "/start"))

    def group_script(self, group: Chat) -> None:
        rng, script = self.rng, group.script
        first = group.members[0]  # the members are in random order
        opening = rng.random()
        if opening < 0.35:
            script.append(self.message(group, first, f"/start@{BOT_USERNAME}"))
        elif opening < 0.45:
            # A deep-link payload in a group is not a referral.
            script.append(self.message(group, first, f"/start@{BOT_USERNAME} ref_group"))
        else:
            script.append(self.message(group, first, self.link()))
        links: list[str] = []
        for _ in range(rng.randint(5, 13)):
            member, roll = rng.choice(group.members), rng.random()
            if roll < 0.65 or not links:
                links.append(self.link())
                script.append(self.message(group, member, links[-1]))
            elif roll < 0.85:
                tiktok = [link for link in links if downloader.is_tiktok(link)] or [self.link()]
                script.append(self.button(group, member, self.music(rng.choice(tiktok))))
            elif roll < 0.88:
                script.append(self.message(group, member, "/mode"))
            else:
                script.append(self.message(group, member, rng.choice(["lol", "😂", "nice"])))

    def build(self, n_chats: int) -> list[Chat]:
        rng = self.rng
        codes, weights = zip(*LANGUAGE_CODES, strict=True)
        n_groups = max(1, n_chats // 5)
        users = [
            Chat(self.first_user + i, "private", rng.choices(codes, weights)[0])
            for i in range(n_chats - n_groups)
        ]
        groups = [
            Chat(self.first_group - i, "group", members=rng.sample(users, rng.randint(3, 6)))
            for i in range(n_groups)
        ]
        for user in users:
            self.private_script(user)
        for group in groups:
            self.group_script(group)
        return users + groups


# --- running it ----------------------------------------------------------------------------------


def describe(update: dict[str, Any]) -> str:
    """One line for what a chat sent."""
    if "message" in update:
        return str(update["message"]["text"])
    if "callback_query" in update:
        where = "" if "message" in update["callback_query"] else " (inline message)"
        return f"[button {update['callback_query']['data']}]{where}"
    if "inline_query" in update:
        return f"@{BOT_USERNAME} {update['inline_query']['query']}".rstrip() + "  (inline query)"
    return f"[chose inline result for {update['chosen_inline_result']['query']}]"


def describe_call(call: TelegramMethod[Any]) -> str:
    name = call.__api_method__
    text = getattr(call, "text", None) or getattr(call, "caption", None) or ""
    if isinstance(call, AnswerInlineQuery):
        text = f"{len(call.results)} result(s)" + (" + start button" if call.button else "")
    if isinstance(call, SendDocument):
        name_of = getattr(call.document, "filename", None) or "by file_id"
        text = f"[{name_of}] {text}"
    if isinstance(call, SendMediaGroup):
        text = f"{len(call.media)} items: {call.media[0].caption or ''}"
    markup = getattr(call, "reply_markup", None)
    labels = [b.text for row in getattr(markup, "inline_keyboard", []) for b in row]
    buttons = f" [{' | '.join(labels)}]" if len(labels) <= 2 else f" [{len(labels)} buttons]"
    buttons = buttons if labels else ""
    if "\n" in text:
        return f"{name}:\n" + "\n".join("          " + line for line in text.splitlines())
    short = text if len(text) <= 80 else text[:77] + "…"
    return f"{name}: {short}{buttons}".rstrip(": ")


class Progress:
    """A plain progress bar on stderr: redrawn with ``\\r`` on a terminal, else every 25 %."""

    def __init__(self, total: int, width: int = 32) -> None:
        self.total, self.width, self.done = total, width, 0
        self.started = time.perf_counter()
        self.terminal = sys.stderr.isatty()
        self._quarter = -1

    def draw(self, final: bool = False) -> None:
        elapsed = time.perf_counter() - self.started
        filled = self.width * self.done // max(self.total, 1)
        bar = "█" * filled + "·" * (self.width - filled)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        line = f"  [{bar}] {self.done}/{self.total} updates  {elapsed:4.1f} s  {rate:5.0f}/s"
        if self.terminal:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
        else:
            quarter = 4 * self.done // max(self.total, 1)
            if quarter == self._quarter:
                return
            self._quarter = quarter
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    async def run(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.1)


async def feed_chat(
    dp: Any, bot: Bot, chat: Chat, gate: asyncio.Semaphore, progress: Progress
) -> None:
    """Feed one chat's updates in order (a chat's messages arrive in order)."""
    for raw in chat.script:
        update = Update.model_validate(raw, context={"bot": bot})
        calls: list[TelegramMethod[Any]] = []
        async with gate:
            token = _exchange.set(calls)
            try:
                await dp.feed_update(bot, update)
            finally:
                _exchange.reset(token)
        chat.exchanges.append((describe(raw), calls))
        progress.done += 1


async def next_ids() -> tuple[int, int]:
    """Fresh chat ids for this run: above every user and below every group already stored."""
    top = await tt.Users.filter(user_id__gt=0).order_by("-user_id").first()
    bottom = await tt.Users.filter(user_id__lt=0).order_by("user_id").first()
    return (
        max(FIRST_USER_ID, top.user_id + 1 if top else 0),
        min(FIRST_GROUP_ID, bottom.user_id - 1 if bottom else 0),
    )


# --- the summary ---------------------------------------------------------------------------------


@dataclass
class Numbers:
    users: int
    groups: int
    referred: int
    videos: int
    images: int
    inline: int
    music: int
    file_mode: int


async def numbers(user_range: tuple[int, int], group_range: tuple[int, int]) -> Numbers:
    """Counts over the chats whose ids are in the two (inclusive) ranges."""

    async def count(model: Any, **where: Any) -> tuple[int, int]:
        users = model.filter(user_id__gte=user_range[0], user_id__lte=user_range[1], **where)
        groups = model.filter(user_id__gte=group_range[0], user_id__lte=group_range[1], **where)
        return int(await users.count()), int(await groups.count())

    users, groups = await count(tt.Users)
    return Numbers(
        users=users,
        groups=groups,
        referred=sum(await count(tt.Users, link__isnull=False)),
        videos=sum(await count(tt.Video)),
        images=sum(await count(tt.Video, is_images=True)),
        inline=sum(await count(tt.Video, is_inline=True)),
        music=sum(await count(tt.Music)),
        file_mode=sum(await count(tt.Users, file_mode=True)),
    )


async def ads_implied(user_range: tuple[int, int]) -> tuple[int, int]:
    """Ads the DB-side rule implies for these private chats, and chats whose counter disagrees.

    Fresh chats, all within 24 h: an ad on downloads 1, 4, 7, …, so ceil(downloads / 3) ads,
    and the counter restarts at 1 with each ad: ``ad_count == (downloads - 1) % 3 + 1``.
    Inline downloads are outside the rule.
    """
    in_range = {"user_id__gte": user_range[0], "user_id__lte": user_range[1]}
    downloads = dict(
        await tt.Video.filter(is_inline=False, **in_range)
        .annotate(n=Count("pk_id"))
        .group_by("user_id")
        .values_list("user_id", "n")
    )
    counters = dict(await tt.Users.filter(**in_range).values_list("user_id", "ad_count"))
    every = ads.AD_EVERY
    implied = sum((n + every - 1) // every for n in downloads.values())
    off = sum(
        1
        for chat, ad_count in counters.items()
        if ad_count != ((downloads[chat] - 1) % every + 1 if chat in downloads else 0)
    )
    return implied, off


def expected_lang(code: str | None) -> str:
    """tt-bot's rule, as the middleware applies it: exact locale, else primary subtag, else en."""
    if not code:
        return example.DEFAULT_LANG
    tag = code.lower()
    for candidate in (tag, tag.split("-", 1)[0]):
        if candidate in example.LANGUAGES:
            return candidate
    return example.DEFAULT_LANG


async def checks(chats: list[Chat], session: OfflineSession, user_range: tuple[int, int]) -> bool:
    """What the bot sent and what the database holds must tell the same story."""
    stored = {row.user_id: row for row in await tt.Users.filter(user_id__in=[c.id for c in chats])}
    results: list[tuple[bool, str]] = []

    def sent(key: str) -> int:
        texts = {example.t(lang, key) for lang in example.LANGUAGES}
        return sum(1 for c in session.calls if isinstance(c, SendMessage) and c.text in texts)

    ads_sent = sent("ad")
    implied, off = await ads_implied(user_range)
    results.append(
        (
            ads_sent == implied and off == 0,
            f"ads: {ads_sent} sent by the bot = {implied} implied by the downloads stored "
            f"(ads on downloads 1, 4, 7, … of each chat); {off} ad counters off",
        )
    )
    opened = sum(1 for c in chats if c.script[0].get("message", {}).get("text", "")[:6] == "/start")
    welcomed = sent("welcome_new")
    results.append(
        (
            welcomed == opened,
            f"welcomes for new chats: {welcomed} = {opened} chats whose first update was /start",
        )
    )
    private = [c for c in chats if c.kind == "private"]
    referrals_ok = sum(1 for c in private if stored[c.id].link == c.referral)
    results.append(
        (
            referrals_ok == len(private),
            f"referrals as sent in a first /start <payload>: {referrals_ok}/{len(private)} "
            "private chats (groups: none)",
        )
    )
    unchanged = [c for c in chats if not any(f.startswith("[button lang:") for f, _ in c.exchanges)]
    langs_ok = sum(
        1
        for c in unchanged
        if stored[c.id].lang
        == expected_lang((c.members[0] if c.kind == "group" else c).language_code)
    )
    results.append(language_check(langs_ok, len(unchanged), len(chats)))
    for ok, text in results:
        print(f"  {'✓' if ok else '✗'} {text}")
    return all(ok for ok, _ in results)


def language_check(matching: int, kept: int, chats: int) -> tuple[bool, str]:
    """The languages line: of the ``chats``, the ``kept`` that never picked a language with
    /lang must all have their first sender's (``matching``); the others chose their own."""
    changed = chats - kept
    return (
        matching == kept,
        f"languages from the first sender's language_code: {matching}/{kept} chats that kept it"
        f" ({changed} of the {chats} chats picked another with /lang)",
    )


def show_chat(title: str, chat: Chat, limit: int = 9) -> None:
    print(f"\n  {title}")
    for fed, calls in chat.exchanges[:limit]:
        print(f"    » {fed}")
        for call in calls:
            print(f"        ← {describe_call(call)}")
        if not calls:
            print("        (no answer)")
    if len(chat.exchanges) > limit:
        print(f"    … {len(chat.exchanges) - limit} more updates")


async def pick_samples(chats: list[Chat]) -> list[tuple[str, Chat]]:
    """A referred user, a user with an unsupported language, one who changed settings, a group."""

    def fed(chat: Chat, prefix: str) -> bool:
        return any(f.startswith(prefix) for f, _ in chat.exchanges)

    private = [c for c in chats if c.kind == "private"]
    candidates = [
        next((c for c in private if c.referral and len(c.exchanges) >= 6), None),
        next((c for c in private if c.language_code in ("pt-br", "zh-hant-tw")), None),
        next((c for c in private if fed(c, "/mode") and fed(c, "[button lang:")), None),
        next((c for c in chats if c.kind == "group" and fed(c, "[button music")), None),
    ]
    samples = []
    for chat in dict.fromkeys(c for c in candidates if c is not None):
        row = await tt.get_user(chat.id)
        assert row is not None
        sender = chat.members[0] if chat.kind == "group" else chat
        stored = f"stored: lang {row.lang}, file_mode {'on' if row.file_mode else 'off'}"
        if chat.kind == "group":
            title = (
                f"group {chat.id}, {len(chat.members)} members, first sender's "
                f"language_code {sender.language_code}; {stored}"
            )
        else:
            title = (
                f"private {chat.id}, language_code {chat.language_code}; {stored}, "
                f"referral {row.link}"
            )
        samples.append((title, chat))
    return samples


def table(rows: list[tuple[str, Any, Any]]) -> None:
    print(f"  {'':36}{'this run':>10}{'all runs':>10}")
    for label, run, total in rows:
        print(f"  {label:36}{run!s:>10}{total!s:>10}")


# --- main ----------------------------------------------------------------------------------------


async def run(n_chats: int, concurrency: int, seed: int | None, url: str | None) -> int:
    where = redact_url(url) if url else f"the embedded PostgreSQL in {data_dir()}"
    print(f"tt-storage demo: the example bot, offline, on {where}", flush=True)
    started = time.perf_counter()
    session = OfflineSession()
    bot = Bot("42:TEST", session=session)
    admin = Chat(ADMIN_ID, "private", "en")
    extractor = downloader.Downloader(delay=0.02)
    dp = example.create_dispatcher(
        url, admin_ids={ADMIN_ID}, migrate=True, downloader=extractor, storage_chat_id=None
    )
    await dp.emit_startup(bot=bot)  # init_storage: the embedded server, migrations, the pool
    try:
        first_user, first_group = await next_ids()
        crowd = Crowd(random.Random(first_user if seed is None else seed), first_user, first_group)
        chats = crowd.build(n_chats)
        users = [c for c in chats if c.kind == "private"]
        groups = [c for c in chats if c.kind == "group"]
        user_range = (first_user, users[-1].id)
        group_range = (groups[-1].id, first_group)
        total = sum(len(c.script) for c in chats)
        print(
            f"  ready in {time.perf_counter() - started:.1f} s; {len(users)} private chats "
            f"(ids {user_range[0]}…) and {len(groups)} groups (ids {group_range[1]}…) send "
            f"{total} updates, up to {concurrency} in flight",
            flush=True,
        )
        progress = Progress(total)
        drawer = asyncio.create_task(progress.run())
        gate = asyncio.Semaphore(concurrency)
        fed_at = time.perf_counter()
        try:
            await asyncio.gather(*(feed_chat(dp, bot, c, gate, progress) for c in chats))
        finally:
            drawer.cancel()
            progress.draw(final=True)
        feeding = time.perf_counter() - fed_at
        # Last, the bot's owner asks for the numbers.
        admin.script.append(crowd.message(admin, admin, "/stats"))
        await feed_chat(dp, bot, admin, gate, Progress(1))

        print("\nWhat the bot answered (a few chats)")
        for title, chat in await pick_samples(chats):
            show_chat(title, chat)
        show_chat(f"the bot's owner {ADMIN_ID} (in ADMIN_IDS)", admin)

        print("\nRead back from the database\n")
        this_run = await numbers(user_range, group_range)
        everything = await numbers((1, 2**63 - 1), (-(2**63) + 1, -1))
        table(
            [
                ("private chats", this_run.users, everything.users),
                ("groups", this_run.groups, everything.groups),
                ("chats with a referral", this_run.referred, everything.referred),
                ("downloads (videos and slideshows)", this_run.videos, everything.videos),
                ("  slideshows", this_run.images, everything.images),
                ("  inline", this_run.inline, everything.inline),
                ("music", this_run.music, everything.music),
                ("chats in file mode", this_run.file_mode, everything.file_mode),
            ]
        )
        run_langs = Counter(
            await tt.Users.filter(
                user_id__gte=user_range[0], user_id__lte=user_range[1]
            ).values_list("lang", flat=True)
        )
        print(
            "\n  languages, this run's private chats: "
            + ", ".join(f"{lang} {n}" for lang, n in run_langs.most_common())
        )
        print(
            "  languages, all chats:                "
            + ", ".join(f"{lang} {n}" for lang, n in await tt.admin.get_language_stats())
        )
        print(
            "  top referrals, all chats:            "
            + ", ".join(f"{link} {n}" for link, n in await tt.get_referral_stats())
        )
        media_ok, media_lines = await demo_media.media_numbers(extractor, user_range, group_range)
        print("\n  " + "\n  ".join(media_lines))
        print("\nChecks")
        ok = await checks(chats, session, user_range)
        print(f"  {'✓' if media_ok else '✗'} media cache: produce calls = misses recorded")
        ok = ok and media_ok
        cache = dp["tt_storage"].cache
        print(
            f"\n  {total} updates in {feeding:.1f} s ({total / feeding:.0f}/s), "
            f"{len(session.calls)} Bot API calls; settings cache: {cache.hits} hits, "
            f"{cache.misses} misses; {time.perf_counter() - started:.1f} s in all"
        )
        return 0 if ok else 1
    finally:
        await dp.emit_shutdown(bot=bot)
        await bot.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chats", type=int, default=300, help="chats to simulate (300)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="updates in flight at most (64)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: per run)")
    parser.add_argument(
        "--db-url",
        default=None,
        help="a PostgreSQL database to fill with simulated chats instead of the embedded one",
    )
    args = parser.parse_args()
    if args.chats < 10 or args.concurrency < 1:
        parser.error("--chats must be >= 10 and --concurrency >= 1")
    # Only warnings from the libraries (a database problem shows up here).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # platformdirs, as root
    # DB_URL is a real bot's database: simulated chats go there only when asked (--db-url).
    os.environ.pop(DB_URL_ENV, None)
    sys.exit(asyncio.run(run(args.chats, args.concurrency, args.seed, args.db_url)))


if __name__ == "__main__":
    main()
