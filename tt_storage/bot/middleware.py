"""The aiogram side: settings for every update, and the one-line ``setup_storage``."""

from __future__ import annotations

import difflib
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import Chat, TelegramObject, Update, User

from ..core.cache import NotificationListener, SettingsCache
from ..core.config import user_apps
from ..core.database import Database, current
from ..core.errors import StorageError
from ..core.pool import PoolOptions
from ..core.user_settings import DEFAULT_LANG, UserSettings
from ..core.validate import MAX_CHAT_ID, MIN_CHAT_ID
from ..services.activity import ActivityMarks, day_start, record_activity
from ..services.chats import get_chat_state, mark_unblocked, migrate_chat
from ..services.clock import now
from ..services.users import register_chat
from .blocking import INVALID_ID_KEY, Handler, reachable, setup_block_tracking
from .fsm import NOT_PREFETCHED, discard_prefetched, install_fsm, take_prefetched
from .registration import LanguagePicker, normalize_tag, referral_from_start

log = logging.getLogger("tt_storage")

#: Decides, for an unknown chat, whether to register it: ``(update, data) -> bool``.
RegisterPredicate = Callable[[TelegramObject, dict[str, Any]], bool]


class StorageMiddleware(BaseMiddleware):
    """Outer ``dp.update`` middleware: loads (or registers) the chat and injects ``UserSettings``.

    A known chat costs one SELECT (none on a cache hit), a new one at most two statements.
    If the database fails, the handler still runs, with cached or default settings marked
    ``persisted=False``.

    A message from a chat marked blocked unblocks it (the SELECT returns ``blocked_at``;
    blocked chats are never cached). A group -> supergroup service message (``migrate_to_chat_id``
    in the old chat, ``migrate_from_chat_id`` in the new one) runs ``migrate_chat`` before the
    handlers, and both updates get the new id's settings: the old id is never re-registered and
    the new one is not new (``is_new`` False) when the old one was known. An update naming a
    chat id outside BIGINT (not Telegram's) gets ``persisted=False`` settings for its own chat
    and one warning; nothing is migrated or stored.

    It holds its ``storage`` (default: the current one when it is made, normally the process's
    default) and binds it for each update: the handlers' ``tt_storage.add_video(...)`` … go to
    that database.

    ``track_activity`` (default ``True``): record each chat's first update of the UTC day
    (``tt_storage.services.activity``): one INSERT per chat per day and process, decided in
    memory, so every other update costs nothing more; a burst of one chat's updates writes once.
    """

    def __init__(
        self,
        *,
        languages: Iterable[str] | None = None,
        default_lang: str = DEFAULT_LANG,
        data_key: str = "user_settings",
        register: bool | RegisterPredicate = True,
        cache_size: int = 100_000,
        cache_ttl: float = 300.0,
        cache_max_silence: float = 2.0,
        storage: Database | None = None,
        track_activity: bool = True,
    ) -> None:
        self.storage = storage if storage is not None else current()
        self.pick_language = LanguagePicker(languages, default_lang)
        known = self.pick_language.languages
        if known is not None and normalize_tag(default_lang) not in known:
            raise ValueError(
                f"default_lang {default_lang!r} is not one of languages "
                f"({', '.join(known.values())}): add it to languages or pick one of them"
            )
        self.default_lang = default_lang
        self.data_key = data_key
        self.register = register
        #: Where ``setup`` stored it in the dispatcher (``None``: not set up).
        self.key: str | None = None
        self.cache = SettingsCache(cache_size, cache_ttl, cache_max_silence, database=self.storage)
        #: The chats recorded active today by this middleware (``None``: not tracked).
        self.activity = ActivityMarks() if track_activity else None
        self._listener: NotificationListener | None = None
        self._outage = False
        # Bumped when an outage starts or ends: only a load that began after the last change
        # may end or start one, so concurrent updates log one warning per outage, not a flurry.
        self._health = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        with self.storage.bound():
            return await self._handle(handler, event, data)

    async def _handle(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        chat_id = chat.id if chat is not None else user.id if user is not None else None
        migration = _migration(event)
        bad_id = _out_of_range(chat_id, *(migration or ()))
        if bad_id is not None:
            self._reject(bad_id, chat_id, user, event, data)
            return await handler(event, data)
        if migration is not None:
            await self._migrate(*migration)
            chat_id = migration[1]
            discard_prefetched()  # read before the migration moved the chat: stale
        data[self.data_key] = (
            None if chat_id is None else await self.settings_for(chat_id, chat, user, event, data)
        )
        return await handler(event, data)

    def _claim_activity(self, chat_id: int) -> int | None:
        """Today's start if this update is to record the chat active (its first today in this
        process), else ``None``."""
        if self.activity is None:
            return None
        day = day_start(now())
        return day if self.activity.claim(chat_id, day) else None

    def _release_activity(self, chat_id: int, day: int | None) -> None:
        if day is not None and self.activity is not None:
            self.activity.release(chat_id)  # not written: a later update tries again

    async def _record_activity(self, chat_id: int, day: int) -> None:
        try:
            await record_activity(chat_id, day)
        except StorageError as exc:
            self._release_activity(chat_id, day)
            log.debug("could not record chat %d as active: %s", chat_id, exc)

    async def settings_for(
        self,
        chat_id: int,
        chat: Chat | None,
        user: User | None,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> UserSettings:
        """This update's settings for ``chat_id``: cached, loaded, or registered now."""
        cached = self.cache.get(chat_id)
        day = self._claim_activity(chat_id)
        if cached is not None:
            if day is not None:  # once a day: the only statement a cache hit ever costs
                await self._record_activity(chat_id, day)
            return UserSettings(chat_id, cached[0], cached[1])
        self._start_listener()
        generation = self.cache.generation
        health = self._health
        try:
            settings, cacheable = await self._load(chat_id, chat, user, event, data, day)
        except StorageError as exc:
            self._release_activity(chat_id, day)
            if not self._outage and health == self._health:
                self._outage = True
                self._health += 1
                log.warning("database unavailable, handlers get fallback settings: %s", exc)
            return self._fallback(chat_id, chat, user, event, data)
        except ValueError:
            # A chat id no BIGINT holds (Telegram never sends one): nothing to load or store.
            self._release_activity(chat_id, day)
            return UserSettings(chat_id, self._pick(user), persisted=False)
        if not settings.persisted:
            self._release_activity(chat_id, day)
        if self._outage and health == self._health:
            self._outage = False
            self._health += 1
            log.info("database reachable again: settings are persisted")
        if settings.persisted and cacheable:
            self.cache.put(chat_id, settings.lang, settings.file_mode, generation)
        return settings

    async def _load(
        self,
        chat_id: int,
        chat: Chat | None,
        user: User | None,
        event: TelegramObject,
        data: dict[str, Any],
        day: int | None,
    ) -> tuple[UserSettings, bool]:
        """The settings, and whether they may be cached (not while the chat is blocked). With
        ``day``, the chat is also recorded active that day (in the same statement unless the FSM
        state read brought the row)."""
        found = take_prefetched(data, chat_id)  # aiogram's FSM state read may have brought it
        if found is NOT_PREFETCHED:
            found = await get_chat_state(chat_id, day)
        elif found is not None and day is not None:
            await self._record_activity(chat_id, day)
        if found is not None:
            blocked = found.blocked
            if blocked and isinstance(event, Update) and event.message is not None:
                # Writing to the bot again: reachable (the common, unblocked case costs nothing).
                blocked = not await mark_unblocked(chat_id)
            return UserSettings(chat_id, found.lang, found.file_mode), not blocked
        lang = self.pick_language(user.language_code if user is not None else None)
        if _leaving(event) or not self._should_register(event, data):
            return UserSettings(chat_id, lang, persisted=False), False
        link = self.referral(chat, event)
        outbox = self.storage.outbox
        first = outbox.remembered(chat_id)
        if first is not None:
            # Its first update came in an outage: registered as that update said, and this
            # update, not the first, is not new (nor was that one: is_new is for no update).
            lang, link = first
        # A chat made here is recorded active (even if marked: it was forgotten since).
        today = None if self.activity is None else day_start(now())
        row, inserted = await register_chat(chat_id, lang, link, today)
        if first is not None:
            outbox.forget_chat(chat_id)
            inserted = False
        # A late update of a migrated group gets its supergroup's row: not cached under the old
        # id, where no notification about the new one would reach it.
        cacheable = row.user_id == chat_id
        return UserSettings(chat_id, row.lang, row.file_mode, is_new=inserted), cacheable

    def _reject(
        self,
        bad_id: int,
        chat_id: int | None,
        user: User | None,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> None:
        """An update naming ``bad_id``, outside BIGINT: Telegram's ids fit in 52 bits, so it is
        not Telegram's. Nothing to migrate, load or store: fallback settings, one warning."""
        update_id = event.update_id if isinstance(event, Update) else None
        log.warning(
            "update %s: chat id %d is outside the BIGINT range of chat ids; handlers get "
            "fallback settings and nothing is stored",
            update_id,
            bad_id,
        )
        data[INVALID_ID_KEY] = True  # the block tracker need not warn again
        own_id = chat_id if chat_id is not None else bad_id  # a migration's message has a chat
        data[self.data_key] = UserSettings(own_id, self._pick(user), persisted=False)

    async def _migrate(self, old_id: int, new_id: int) -> None:
        try:
            await migrate_chat(old_id, new_id)
        except StorageError as exc:
            log.warning("could not migrate chat %d to %d: %s", old_id, new_id, exc)

    def _should_register(self, event: TelegramObject, data: dict[str, Any]) -> bool:
        if callable(self.register):
            return bool(self.register(event, data))
        return self.register

    @staticmethod
    def referral(chat: Chat | None, event: TelegramObject) -> str | None:
        """The referral of a chat first seen through a private ``/start <payload>``."""
        if chat is None or chat.type != "private" or not isinstance(event, Update):
            return None
        message = event.message
        return referral_from_start(message.text) if message is not None else None

    def _pick(self, user: User | None) -> str:
        return self.pick_language(user.language_code if user is not None else None)

    def _fallback(
        self,
        chat_id: int,
        chat: Chat | None,
        user: User | None,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> UserSettings:
        """Settings the database could not give: the last ones cached for the chat (even
        stale), else those a registration would pick. Never ``persisted``."""
        known = self.cache.peek(chat_id)
        if known is not None:
            return UserSettings(chat_id, known[0], known[1], persisted=False)
        lang = self._pick(user)
        outbox = self.storage.outbox
        if outbox.enabled and not _leaving(event) and self._should_register(event, data):
            # Should a queued download have to register the chat, it does so with these.
            outbox.remember_chat(chat_id, lang, self.referral(chat, event))
        return UserSettings(chat_id, lang, persisted=False)

    def _start_listener(self) -> None:
        # Started lazily from the first update, so the middleware also works on its own in an
        # app that runs Tortoise itself.
        if self._listener is None and self.cache.max_entries > 0:
            self._listener = NotificationListener(self.cache, self.storage.listen_connection)
            self._listener.start()

    async def close(self) -> None:
        """Stop the notification listener and empty the cache."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        self.cache.clear()

    # aiogram-i18n style: the middleware wires itself into a dispatcher.
    def setup(
        self,
        dispatcher: Dispatcher,
        *,
        key: str = "tt_storage",
        track_blocks: bool = True,
        **init_options: Any,
    ) -> StorageMiddleware:
        """Register as outer update middleware, plus startup/shutdown; store under ``key``.

        ``track_blocks``: also record blocked/left chats from ``my_chat_member`` updates (see
        ``tt_storage.bot.blocking``; the bot's own ``my_chat_member`` handlers still run).
        """
        check_not_set_up(dispatcher)
        db_url = init_options.pop("db_url", None)
        _check_options("setup", init_options, _init_storage_options())
        # Bad values fail here too, not when the bot starts.
        PoolOptions.from_kwargs(
            {k: v for k, v in init_options.items() if k in PoolOptions.__dataclass_fields__}
        )

        async def on_startup() -> None:
            await self.storage.init(db_url, **init_options)

        async def on_shutdown() -> None:
            await self.close()
            await self.storage.close()

        dispatcher.update.outer_middleware.register(self)
        if track_blocks:
            setup_block_tracking(dispatcher)
        dispatcher.startup.register(on_startup)
        dispatcher.shutdown.register(on_shutdown)
        dispatcher[key] = self
        self.key = key
        return self


def check_not_set_up(dispatcher: Dispatcher) -> None:
    """``ValueError`` naming the first if ``dispatcher`` already has tt-storage's middleware: a
    second one would load every update's settings twice and open its database twice."""
    for first in dispatcher.update.outer_middleware:
        if isinstance(first, StorageMiddleware):
            stored = f" (dispatcher[{first.key!r}])" if first.key is not None else ""
            raise ValueError(
                f"setup_storage was already called on this dispatcher: its StorageMiddleware"
                f"{stored} on {first.storage!r} is registered. Call it once per dispatcher; "
                "for a second database give a second Dispatcher its own Storage "
                "(setup_storage(dp2, url2, storage=Storage()))"
            )


def _migration(event: TelegramObject) -> tuple[int, int] | None:
    """``(old_id, new_id)`` of a group -> supergroup service message, else ``None``."""
    message = event.message if isinstance(event, Update) else None
    if message is None:
        return None
    if message.migrate_to_chat_id is not None and message.migrate_to_chat_id != message.chat.id:
        return message.chat.id, message.migrate_to_chat_id
    if message.migrate_from_chat_id is not None and message.migrate_from_chat_id != message.chat.id:
        return message.migrate_from_chat_id, message.chat.id
    return None


def _out_of_range(*ids: int | None) -> int | None:
    """The first of ``ids`` no BIGINT holds, else ``None``."""
    for value in ids:
        if value is not None and not MIN_CHAT_ID <= value <= MAX_CHAT_ID:
            return value
    return None


def _leaving(event: TelegramObject) -> bool:
    """A ``my_chat_member`` update saying the bot was blocked/removed: no reason to register."""
    if not isinstance(event, Update) or event.my_chat_member is None:
        return False
    return reachable(event.my_chat_member) is False


_MIDDLEWARE_OPTIONS = (
    "languages",
    "default_lang",
    "data_key",
    "register",
    "cache_size",
    "cache_ttl",
    "cache_max_silence",
    "storage",
    "track_activity",
)


def _init_storage_options() -> list[str]:
    """The keywords ``init_storage`` accepts besides the URL: its own and the pool options."""
    own = [
        name
        for name, p in inspect.signature(Database.init).parameters.items()
        if name != "db_url" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    return [*own, *PoolOptions.__dataclass_fields__]


def _check_options(caller: str, options: dict[str, Any], known: Iterable[str]) -> None:
    """``TypeError`` at the call for an option nothing takes (``langs=``), naming the closest
    one, rather than when the bot starts."""
    known = list(known)
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(sorted(known))}"
            )
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}: {hint}")


def setup_storage(
    dispatcher: Dispatcher, db_url: str | None = None, **options: Any
) -> StorageMiddleware:
    """One line for a bot: settings middleware, startup (``init_storage``) and shutdown.

    ``options``: the ``StorageMiddleware`` arguments, ``init_storage`` keywords (``migrate``,
    ``models`` — your own Tortoise models, same context and pool —, ``replica_url``,
    ``listen_url``, pool options), ``key`` (where the middleware is stored in
    the dispatcher) and ``track_blocks`` (default ``True``: record blocked/left chats from
    ``my_chat_member``), ``fsm`` (``True`` or a ``PostgresStorage``: aiogram's FSM in this
    database) and ``fsm_isolation`` (``True`` or a ``BaseEventIsolation``: one update per FSM key
    at a time across processes, on advisory locks). ``storage``: the ``Storage`` this dispatcher
    opens at startup and closes at shutdown (default: the process's default one; give each bot
    its own to run two bots on two databases in one process).
    """
    _check_options(
        "setup_storage",
        options,
        [
            *_MIDDLEWARE_OPTIONS,
            "key",
            "track_blocks",
            "fsm",
            "fsm_isolation",
            *_init_storage_options(),
        ],
    )
    check_not_set_up(dispatcher)  # before anything (the FSM storage) is changed
    middleware_options = {k: options.pop(k) for k in _MIDDLEWARE_OPTIONS if k in options}
    user_apps(options.get("models"), check_imports=True)  # fails at this call, not at startup
    key = options.pop("key", "tt_storage")
    track_blocks = options.pop("track_blocks", True)
    middleware = StorageMiddleware(**middleware_options)
    install_fsm(
        dispatcher,
        options.pop("fsm", False),
        options.pop("fsm_isolation", False),
        middleware.storage,
    )
    return middleware.setup(
        dispatcher, key=key, track_blocks=track_blocks, db_url=db_url, **options
    )
