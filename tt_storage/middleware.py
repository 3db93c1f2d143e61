"""The aiogram side: settings for every update, and the one-line ``setup_storage``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import Chat, TelegramObject, Update, User

from . import db
from .cache import NotificationListener, SettingsCache
from .errors import StorageError
from .lifecycle import close_storage, init_storage
from .registration import LanguagePicker, referral_from_start
from .services.users import get_user_settings, register_user
from .settings import DEFAULT_LANG, UserSettings

log = logging.getLogger("tt_storage")

#: Decides, for an unknown chat, whether to register it: ``(update, data) -> bool``.
RegisterPredicate = Callable[[TelegramObject, dict[str, Any]], bool]
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class StorageMiddleware(BaseMiddleware):
    """Outer ``dp.update`` middleware: loads (or registers) the chat and injects ``UserSettings``.

    A known chat costs one SELECT (none on a cache hit), a new one at most two statements.
    If the database fails, the handler still runs, with cached or default settings marked
    ``persisted=False``.
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
    ) -> None:
        self.pick_language = LanguagePicker(languages, default_lang)
        self.default_lang = default_lang
        self.data_key = data_key
        self.register = register
        self.cache = SettingsCache(cache_size, cache_ttl)
        self._listener: NotificationListener | None = None
        self._outage = False

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        chat_id = chat.id if chat is not None else user.id if user is not None else None
        data[self.data_key] = (
            None if chat_id is None else await self.settings_for(chat_id, chat, user, event, data)
        )
        return await handler(event, data)

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
        if cached is not None:
            return UserSettings(chat_id, cached[0], cached[1])
        self._start_listener()
        generation = self.cache.generation
        try:
            settings = await self._load(chat_id, chat, user, event, data)
        except StorageError as exc:
            return self._fallback(chat_id, user, exc)
        if self._outage:
            self._outage = False
            log.info("database reachable again: settings are persisted")
        if settings.persisted:
            self.cache.put(chat_id, settings.lang, settings.file_mode, generation)
        return settings

    async def _load(
        self,
        chat_id: int,
        chat: Chat | None,
        user: User | None,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> UserSettings:
        found = await get_user_settings(chat_id)
        if found is not None:
            return UserSettings(chat_id, found[0], found[1])
        lang = self.pick_language(user.language_code if user is not None else None)
        if not self._should_register(event, data):
            return UserSettings(chat_id, lang, persisted=False)
        link = self.referral(chat, event)
        row, inserted = await register_user(chat_id, lang, link)
        return UserSettings(chat_id, row.lang, row.file_mode, is_new=inserted)

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

    def _fallback(self, chat_id: int, user: User | None, exc: StorageError) -> UserSettings:
        if not self._outage:
            self._outage = True
            log.warning("database unavailable, handlers get fallback settings: %s", exc)
        lang = self.pick_language(user.language_code if user is not None else None)
        return UserSettings(chat_id, lang, persisted=False)

    def _start_listener(self) -> None:
        # Started lazily from the first update, so the middleware also works on its own in an
        # app that runs Tortoise itself.
        if self._listener is None and self.cache.max_entries > 0:
            self._listener = NotificationListener(self.cache, _listen_connection)
            self._listener.start()

    async def close(self) -> None:
        """Stop the notification listener and empty the cache."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        self.cache.clear()

    # aiogram-i18n style: the middleware wires itself into a dispatcher.
    def setup(
        self, dispatcher: Dispatcher, *, key: str = "tt_storage", **init_options: Any
    ) -> StorageMiddleware:
        """Register as outer update middleware, plus startup/shutdown; store under ``key``."""
        db_url = init_options.pop("db_url", None)

        async def on_startup() -> None:
            await init_storage(db_url, **init_options)

        async def on_shutdown() -> None:
            await self.close()
            await close_storage()

        dispatcher.update.outer_middleware.register(self)
        dispatcher.startup.register(on_startup)
        dispatcher.shutdown.register(on_shutdown)
        dispatcher[key] = self
        return self


async def _listen_connection() -> asyncpg.Connection:
    """A dedicated connection (outside the pool) with the pool's own parameters."""
    client: Any = db.client()
    options = db.options()
    return await asyncpg.connect(
        host=client.host,
        port=client.port,
        user=client.user,
        password=client.password,
        database=client.database,
        timeout=options.connect_timeout,
    )


_MIDDLEWARE_OPTIONS = (
    "languages",
    "default_lang",
    "data_key",
    "register",
    "cache_size",
    "cache_ttl",
)


def setup_storage(
    dispatcher: Dispatcher, db_url: str | None = None, **options: Any
) -> StorageMiddleware:
    """One line for a bot: settings middleware, startup (``init_storage``) and shutdown.

    ``options``: the ``StorageMiddleware`` arguments, ``init_storage`` keywords (``migrate``,
    pool options) and ``key`` (where the middleware is stored in the dispatcher).
    """
    middleware_options = {k: options.pop(k) for k in _MIDDLEWARE_OPTIONS if k in options}
    key = options.pop("key", "tt_storage")
    middleware = StorageMiddleware(**middleware_options)
    return middleware.setup(dispatcher, key=key, db_url=db_url, **options)
