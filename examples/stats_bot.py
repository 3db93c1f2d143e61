"""tt-bot's stats bot on tt-storage: the admins' numbers, graphs and lookups, with no ORM queries.

What tt-bot's ``stats/`` package (5.4.5) did with its own SQLAlchemy queries, through tt-storage's
API only — every number is counted in PostgreSQL, nothing proportional to the tables is loaded:

- quick stats: all time and the last 24 h, private chats and groups (``get_quick_stats``);
- a detailed view per chat type (users, groups, all) and period (24 h, week, month, all);
- graphs of new chats, videos or music per hour (24 h, week) or day (month, all) as PNG
  (``get_time_series``; matplotlib: ``pip install 'tt-storage[plot]'``);
- user lookup (``get_user_stats``) with the download history as a CSV document
  (``export_user_history``);
- the top referrals (``get_referral_stats``) and "other" stats: chats in file mode, every
  language, the top 10 chats by downloads (``get_other_stats``);
- the two stats messages tt-bot keeps up to date in a logs chat (``refresh_stats_messages``);
- the media cache: hits, misses, the hit rate and the produce calls saved in every quick stats
  text, a graph of hits, and the top media with the cache's size (``get_top_media``,
  ``get_cache_size``).

The stats bot never registers anyone: it has no settings middleware, only ``init_storage`` on
startup and ``close_storage`` on shutdown. Every handler is for the admins in ``STATS_IDS``.

Run it::

    STATS_TOKEN=123:ABC STATS_IDS=11111 DB_URL=postgresql://… python examples/stats_bot.py

Optional: ``STATS_CHAT`` with ``STATS_MESSAGE_ID`` and ``DAILY_STATS_MESSAGE_ID`` (two messages
of the bot in that chat, edited every hour and every 5 minutes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import io
import logging
import os
from collections.abc import Sequence
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, Filter, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    User,
)

import tt_storage as tt

log = logging.getLogger("tt_stats_example")

#: tt-bot's periods, in seconds (0: all time).
PERIODS = {"24h": 86_400, "week": 604_800, "month": 2_678_400, "all": 0}
PERIOD_NAMES = {"24h": "⏰ 24 h", "week": "📅 Week", "month": "📆 Month", "all": "🌍 All time"}
#: Graph buckets: per hour for the short windows, per day for the long ones (as tt-bot).
GRAPH_BUCKETS = {"24h": "hour", "week": "hour", "month": "day", "all": "day"}
CHAT_TYPES = {"users": "👤 Users", "groups": "👥 Groups", "all": "🌐 All"}
GRAPH_KINDS = {
    "users": "👥 New chats",
    "active": "🟢 Active chats",
    "videos": "📹 Videos",
    "music": "🎵 Music",
    "cache_hits": "♻️ Cache hits",
}
#: Kinds recorded per UTC day: always drawn per day.
DAILY_KINDS = frozenset({"active"})


class StatsCallback(CallbackData, prefix="stats"):
    chat_type: str
    period: str


class GraphCallback(CallbackData, prefix="graph"):
    kind: str
    period: str


class HistoryCallback(CallbackData, prefix="history"):
    user_id: int


class UserSearch(StatesGroup):
    waiting_for_id = State()


class StatsAdmin(Filter):
    """The sender (of a message or a button press) is in the dispatcher's ``admin_ids``."""

    async def __call__(
        self, event: Any, admin_ids: frozenset[int], event_from_user: User | None = None
    ) -> bool:
        return event_from_user is not None and event_from_user.id in admin_ids


# --- keyboards ---------------------------------------------------------------------------------


def _rows(*rows: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


MENU = _rows(
    [("📊 Quick stats", "overall"), ("📈 Graphs", "graphs"), ("🔍 User", "user")],
    [("📋 Detailed", "detailed"), ("🗣 Referrals", "referrals"), ("🗃 Other", "other")],
    [("♻️ Media cache", "media")],
)
BACK = ("🔙 Menu", "menu")


def reload_keyboard(data: str) -> InlineKeyboardMarkup:
    return _rows([("🔄 Reload", data), BACK])


def chat_type_keyboard() -> InlineKeyboardMarkup:
    return _rows([(text, f"detailed:{kind}") for kind, text in CHAT_TYPES.items()], [BACK])


def period_keyboard(chat_type: str) -> InlineKeyboardMarkup:
    buttons = [
        (text, StatsCallback(chat_type=chat_type, period=period).pack())
        for period, text in PERIOD_NAMES.items()
    ]
    return _rows(buttons[:2], buttons[2:], [("🔙 Chat type", "detailed"), BACK])


def graph_kind_keyboard() -> InlineKeyboardMarkup:
    return _rows([(text, f"graphs:{kind}") for kind, text in GRAPH_KINDS.items()], [BACK])


def graph_period_keyboard(kind: str) -> InlineKeyboardMarkup:
    buttons = [
        (text, GraphCallback(kind=kind, period=period).pack())
        for period, text in PERIOD_NAMES.items()
    ]
    return _rows(buttons[:2], buttons[2:], [("🔙 Graphs", "graphs"), BACK])


# --- texts -------------------------------------------------------------------------------------


def quick_stats_text(stats: tt.admin.QuickStats) -> str:
    return (
        f"Chats: <b>{stats.new_chats}</b>\n"
        f"Videos: <b>{stats.videos}</b> from <b>{stats.video_chats}</b> chats\n"
        f"┗ Slideshows: <b>{stats.images}</b> from <b>{stats.image_chats}</b> chats\n"
        f"Music: <b>{stats.music}</b> from <b>{stats.music_chats}</b> chats\n"
        + active_text(stats)
        + cache_text(stats)
    )


def cache_text(stats: tt.admin.QuickStats) -> str:
    """The media cache's line, when any download of the window went through it."""
    rate = stats.cache_hit_rate
    if rate is None:
        return ""
    return (
        f"\nMedia cache: <b>{stats.cache_hits}</b> hits, <b>{stats.cache_misses}</b> misses"
        f" (<b>{rate:.0%}</b>), <b>{stats.produce_calls_saved}</b> produce calls saved"
    )


def active_text(stats: tt.admin.QuickStats) -> str:
    """Active chats (UTC days: 24 h is today), new and returning, and the retention."""
    text = (
        f"Active: <b>{stats.active_chats}</b> (new <b>{stats.new_active_chats}</b>,"
        f" returning <b>{stats.returning_chats}</b>)"
    )
    if stats.retention is not None:
        text += (
            f"\n┗ Back from the window before: <b>{stats.retention:.0%}</b>"
            f" ({stats.retained_chats} of {stats.previous_active_chats})"
        )
    return text


async def period_text(title: str, period: int) -> str:
    """Private chats and groups for one window, both counted at once."""
    users, groups = await asyncio.gather(
        tt.admin.get_quick_stats(period, "users"), tt.admin.get_quick_stats(period, "groups")
    )
    return f"<b>{title}</b>\n{quick_stats_text(users)}\n\n<b>Groups</b>\n{quick_stats_text(groups)}"


async def overall_text() -> str:
    return await period_text("📊 All time", 0)


async def daily_text() -> str:
    return await period_text("📊 Last 24 hours", PERIODS["24h"])


def utc(ts: int | None) -> str:
    if ts is None:
        return "unknown"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%d.%m.%Y %H:%M:%S UTC")


def stamp() -> str:
    return f"\n\n<code>Updated {utc(int(dt.datetime.now(dt.UTC).timestamp()))}</code>"


async def edit(call: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the menu message's text (a reload that changes nothing is not an error)."""
    if not isinstance(call.message, Message):
        await call.answer()
        return
    try:
        await call.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest:  # "message is not modified"
        await call.answer("Nothing changed")
        return
    await call.answer()


# --- graphs ------------------------------------------------------------------------------------


def render_graph(series: Sequence[tuple[int, int]], bucket: str, title: str) -> bytes:
    """A bar chart of ``[(bucket_start, count), …]`` as PNG bytes.

    matplotlib's object API (no pyplot): safe to run in a worker thread."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("graphs need matplotlib: pip install 'tt-storage[plot]'") from None
    figure = Figure(figsize=(10, 4.5))
    ax = figure.subplots()
    if series:
        width = dt.timedelta(hours=0.9) if bucket == "hour" else dt.timedelta(days=0.9)
        times = [dt.datetime.fromtimestamp(t, dt.UTC) for t, _ in series]
        # matplotlib's date units take datetimes and timedeltas; its stubs say numbers only.
        ax.bar(times, [n for _, n in series], width=width, align="edge")  # type: ignore[arg-type]
        figure.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "No data for this period", ha="center", va="center")
    ax.set_title(title)
    ax.set_ylabel("per hour (UTC)" if bucket == "hour" else "per day (UTC)")
    ax.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100)
    return out.getvalue()


# --- handlers ----------------------------------------------------------------------------------


async def on_menu_command(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer("<b>📊 Stats</b>", reply_markup=MENU)


async def on_menu(call: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await edit(call, "<b>📊 Stats</b>", MENU)


async def on_overall(call: CallbackQuery) -> None:
    overall, daily = await asyncio.gather(overall_text(), daily_text())
    await edit(call, f"{overall}\n\n{daily}", reload_keyboard("overall"))


async def on_detailed(call: CallbackQuery) -> None:
    await edit(call, "<b>📋 Chat type</b>", chat_type_keyboard())


async def on_detailed_type(call: CallbackQuery) -> None:
    chat_type = (call.data or "").partition(":")[2]
    if chat_type not in CHAT_TYPES:
        await call.answer()
        return
    await edit(call, f"<b>📋 {CHAT_TYPES[chat_type]}: period</b>", period_keyboard(chat_type))


async def on_stats(call: CallbackQuery, callback_data: StatsCallback) -> None:
    if callback_data.chat_type not in CHAT_TYPES or callback_data.period not in PERIODS:
        await call.answer()
        return
    stats = await tt.admin.get_quick_stats(PERIODS[callback_data.period], callback_data.chat_type)
    title = f"{CHAT_TYPES[callback_data.chat_type]}, {PERIOD_NAMES[callback_data.period]}"
    await edit(
        call,
        f"<b>{title}</b>\n{quick_stats_text(stats)}",
        period_keyboard(callback_data.chat_type),
    )


async def on_graphs(call: CallbackQuery) -> None:
    await edit(call, "<b>📈 Graph of</b>", graph_kind_keyboard())


async def on_graph_kind(call: CallbackQuery) -> None:
    kind = (call.data or "").partition(":")[2]
    if kind not in GRAPH_KINDS:
        await call.answer()
        return
    await edit(call, f"<b>📈 {GRAPH_KINDS[kind]}: period</b>", graph_period_keyboard(kind))


async def on_graph(call: CallbackQuery, callback_data: GraphCallback, bot: Bot) -> None:
    kind, period = callback_data.kind, callback_data.period
    if kind not in GRAPH_KINDS or period not in PERIODS or not isinstance(call.message, Message):
        await call.answer()
        return
    await call.answer("Drawing…")
    bucket = "day" if kind in DAILY_KINDS else GRAPH_BUCKETS[period]
    series = await tt.admin.get_time_series(kind, PERIODS[period], bucket)
    title = f"{GRAPH_KINDS[kind][2:]} per {bucket}, {PERIOD_NAMES[period][2:].lower()}"
    png = await asyncio.to_thread(render_graph, series, bucket, title)
    total = sum(n for _, n in series)
    await bot.send_photo(
        call.message.chat.id,
        BufferedInputFile(png, f"{kind}_{period}.png"),
        caption=f"{title}: <b>{total}</b> in all",
    )


async def on_user(call: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(UserSearch.waiting_for_id)
    await edit(call, "🔎 Send a chat id (a user's, or a group's negative id)", _rows([BACK]))


async def on_user_id(message: Message, state: FSMContext) -> None:
    try:
        chat_id = int((message.text or "").strip())
        user, videos, images = await tt.get_user_stats(chat_id)
    except ValueError:
        await message.answer("❌ Not a chat id: send digits, e.g. 123456789 or -1001234567890")
        return
    await state.clear()
    again = ("🔍 Another", "user")
    if user is None:
        await message.answer(
            f"❌ No chat <code>{chat_id}</code>", reply_markup=_rows([again, BACK])
        )
        return
    lines = [
        "<b>👤 Chat</b>",
        f"ID: <code>{user.user_id}</code>",
        f"Videos: <b>{videos}</b>",
        f"┗ Slideshows: <b>{images}</b>",
        f"Language: <code>{html.escape(user.lang)}</code>",
        f"File mode: {'on' if user.file_mode else 'off'}",
    ]
    if user.link:
        lines.append(f"Referral: <code>{html.escape(user.link)}</code>")
    lines.append(f"Registered: {utc(user.registered_at)}")
    last = await tt.admin.last_active(user.user_id)
    lines.append(f"Last active: {'never recorded' if last is None else utc(last)[:10]}")
    if user.blocked_at is not None:
        lines.append(f"Blocked the bot: {utc(user.blocked_at)}")
    history = (
        "📥 Download history",
        HistoryCallback(user_id=user.user_id).pack(),
    )
    await message.answer("\n".join(lines), reply_markup=_rows([history], [again, BACK]))


async def on_history(call: CallbackQuery, callback_data: HistoryCallback, bot: Bot) -> None:
    """The chat's downloads as CSV, streamed from a server-side cursor into the document."""
    if not isinstance(call.message, Message):
        await call.answer()
        return
    out = io.StringIO()
    rows = await tt.admin.export_user_history(callback_data.user_id, out)
    if rows == 0:
        await call.answer("❌ No downloads")
        return
    await call.answer()
    await bot.send_document(
        call.message.chat.id,
        BufferedInputFile(out.getvalue().encode(), f"history_{callback_data.user_id}.csv"),
        caption=f"📥 <code>{callback_data.user_id}</code>: {rows} downloads",
    )


async def on_referrals(call: CallbackQuery) -> None:
    top = await tt.get_referral_stats()
    lines = ["<b>🗣 Top referrals</b>"]
    lines += [f"┗ {html.escape(link)}: <b>{n}</b>" for link, n in top] or ["┗ none yet"]
    await edit(call, "\n".join(lines), reload_keyboard("referrals"))


async def on_other(call: CallbackQuery) -> None:
    file_mode, languages, top = await tt.get_other_stats()
    lines = [
        "<b>🗃 Other</b>",
        f"Chats in file mode: <b>{file_mode}</b>",
        "Languages:",
        *[f"┗ {html.escape(lang)}: <b>{n}</b>" for lang, n in languages],
        "Top 10 chats by downloads:",
        *[f"┗ <code>{chat}</code>: <b>{n}</b>" for chat, n in top],
    ]
    await edit(call, "\n".join(lines), reload_keyboard("other"))


async def on_media(call: CallbackQuery) -> None:
    size, day, top = await asyncio.gather(
        tt.admin.get_cache_size(),
        tt.admin.get_quick_stats(PERIODS["24h"]),
        tt.admin.get_top_media(),
    )
    rate = "no download through it" if day.cache_hit_rate is None else f"{day.cache_hit_rate:.0%}"
    lines = [
        "<b>♻️ Media cache</b>",
        f"Entries: <b>{size.entries}</b>, file sets: <b>{size.file_sets}</b>,"
        f" {size.bytes / 2**20:.1f} MB",
        f"Last 24 h: hit rate <b>{rate}</b>, <b>{day.produce_calls_saved}</b> produce calls saved",
        "Top 10 media by use:",
        *[f"┗ <code>{html.escape(m.key or '(pruned)')}</code>: <b>{m.uses}</b>" for m in top],
    ]
    await edit(call, "\n".join(lines), reload_keyboard("media"))


# --- the stats messages in the logs chat --------------------------------------------------------


async def refresh_stats_messages(
    bot: Bot, chat_id: int, overall_message_id: int | None, daily_message_id: int | None
) -> None:
    """Edit the bot's two stats messages in ``chat_id`` (tt-bot's ``update_overall_stats`` and
    ``update_daily_stats``); ``None`` skips one."""
    for message_id, text in ((overall_message_id, overall_text), (daily_message_id, daily_text)):
        if message_id is None:
            continue
        try:
            await bot.edit_message_text(
                await text() + stamp(), chat_id=chat_id, message_id=message_id
            )
        except TelegramBadRequest as exc:
            log.warning("stats message %d not updated: %s", message_id, exc)


async def keep_stats_messages(
    bot: Bot, chat_id: int, overall_message_id: int, daily_message_id: int
) -> None:
    """Daily stats every 5 minutes, overall every hour, until cancelled."""
    tick = 0
    while True:
        try:
            await refresh_stats_messages(
                bot, chat_id, overall_message_id if tick % 12 == 0 else None, daily_message_id
            )
        except tt.StorageError as exc:
            log.warning("stats messages not updated: %s", exc)
        tick += 1
        await asyncio.sleep(300)


# --- wiring ------------------------------------------------------------------------------------


def ids_from_env(name: str, value: str | None = None) -> frozenset[int]:
    """``123,456`` (or tt-bot's JSON list ``[123, 456]``) as a set of user ids."""
    raw = os.environ.get(name, "") if value is None else value
    try:
        parts = raw.strip().strip("[]").replace(" ", "").split(",")
        return frozenset(int(part) for part in parts if part)
    except ValueError:
        raise ValueError(f"{name} must be comma-separated user ids, not {raw!r}") from None


def create_router() -> Router:
    router = Router(name="tt_stats_example")
    # Every update of this bot is for the admins: button presses included (a crafted callback
    # from anybody else gets nothing).
    router.message.filter(F.chat.type == "private", StatsAdmin())
    router.callback_query.filter(StatsAdmin())
    router.message.register(on_menu_command, Command("start", "stats"))
    router.message.register(on_user_id, StateFilter(UserSearch.waiting_for_id))
    cb = router.callback_query
    cb.register(on_menu, F.data == "menu")
    cb.register(on_overall, F.data == "overall")
    cb.register(on_detailed, F.data == "detailed")
    cb.register(on_detailed_type, F.data.startswith("detailed:"))
    cb.register(on_stats, StatsCallback.filter())
    cb.register(on_graphs, F.data == "graphs")
    cb.register(on_graph_kind, F.data.startswith("graphs:"))
    cb.register(on_graph, GraphCallback.filter())
    cb.register(on_user, F.data == "user")
    cb.register(on_history, HistoryCallback.filter())
    cb.register(on_referrals, F.data == "referrals")
    cb.register(on_other, F.data == "other")
    cb.register(on_media, F.data == "media")
    return router


def create_dispatcher(
    db_url: str | None = None,
    *,
    stats_messages: tuple[int, int, int] | None = None,
    **options: Any,
) -> Dispatcher:
    """The stats bot's dispatcher: ``admin_ids`` (default ``STATS_IDS``); the storage is opened
    on startup (``init_storage(db_url, **options)``) and closed on shutdown, which flushes it.

    ``stats_messages=(chat_id, overall_message_id, daily_message_id)``: keep those two messages
    up to date while the bot runs.
    """
    admin_ids = options.pop("admin_ids", None)
    admins = ids_from_env("STATS_IDS") if admin_ids is None else frozenset(admin_ids)
    dispatcher = Dispatcher(admin_ids=admins)
    tasks: list[asyncio.Task[None]] = []

    async def on_startup(bot: Bot) -> None:
        await tt.init_storage(db_url, **options)
        if stats_messages is not None:
            tasks.append(asyncio.create_task(keep_stats_messages(bot, *stats_messages)))

    async def on_shutdown() -> None:
        for task in tasks:
            task.cancel()
        await tt.close_storage()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    dispatcher.include_router(create_router())
    return dispatcher


def stats_messages_from_env() -> tuple[int, int, int] | None:
    chat = os.environ.get("STATS_CHAT", "").strip()
    if chat in ("", "0"):  # tt-bot's "0": no stats messages
        return None
    try:
        return (
            int(chat),
            int(os.environ["STATS_MESSAGE_ID"]),
            int(os.environ["DAILY_STATS_MESSAGE_ID"]),
        )
    except (KeyError, ValueError):
        raise SystemExit(
            "STATS_CHAT needs STATS_MESSAGE_ID and DAILY_STATS_MESSAGE_ID (message ids of the "
            "bot's two stats messages in that chat)"
        ) from None


def main() -> None:
    token = os.environ.get("STATS_TOKEN", "").strip()
    if not token:
        raise SystemExit(
            "STATS_TOKEN is not set: export STATS_TOKEN=<the stats bot's token> and "
            "STATS_IDS=<admin user ids>; DB_URL=postgresql://… (default: the embedded server)."
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    dispatcher = create_dispatcher(
        os.environ.get("DB_URL") or None, stats_messages=stats_messages_from_env()
    )
    bot = Bot(token, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    asyncio.run(dispatcher.start_polling(bot))


if __name__ == "__main__":
    main()
