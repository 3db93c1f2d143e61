"""aiogram-i18n (``pip install 'tt-storage[i18n]'``): a locale manager on ``UserSettings``."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.types import TelegramObject, User

from ._locale import (
    DATA_KEY,
    EXTRA_HINT,
    check_locale,
    check_order,
    pick_locale,
    settings_from,
)

try:
    from aiogram_i18n import I18nContext, I18nMiddleware
    from aiogram_i18n.managers import BaseManager
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(f"SettingsManager needs aiogram-i18n: {EXTRA_HINT}") from exc

from ...core.user_settings import UserSettings
from ...services.users import update_user_lang


class SettingsManager(BaseManager):
    """aiogram-i18n locale manager: the locale is the chat's ``UserSettings.lang``.

    ``I18nMiddleware(core, manager=SettingsManager()).setup(dp)`` after ``setup_storage(dp)``
    (aiogram-i18n registers on ``dp.update``, where order is registration order). In the other
    order the dispatcher's startup raises ``I18nOrderError``, and so does the first update of a
    dispatcher that was never started. ``await i18n.set_locale(code)`` in a handler stores the
    language (``update_user_lang``) and renders the rest of the update in it.
    """

    def __init__(self, default_locale: str | None = None, *, data_key: str = DATA_KEY) -> None:
        super().__init__(default_locale=default_locale)
        self.data_key = data_key
        #: The core's locales once the dispatcher started (a stored language outside them
        #: falls back to the default locale); ``None``: any stored language is passed on.
        self.locales: tuple[str, ...] | None = None

    async def startup(
        self, dispatcher: Dispatcher | None = None, router: Router | None = None, **kwargs: Any
    ) -> None:
        # start_polling passes ``dispatcher``; a bare ``emit_startup()`` only ``router``.
        dispatcher = dispatcher or (router if isinstance(router, Dispatcher) else None)
        if dispatcher is None:
            return
        middleware = next(
            (
                m
                for m in dispatcher.update.outer_middleware
                if isinstance(m, I18nMiddleware) and m.manager is self
            ),
            None,
        )
        check_order(dispatcher, middleware)
        if middleware is not None:
            self.locales = middleware.core.available_locales

    async def get_locale(self, event: TelegramObject | None = None, **data: Any) -> str:
        settings = settings_from(event, data, self.data_key)
        user: User | None = data.get("event_from_user")
        return pick_locale(settings, user, self.locales, self.default_locale or "en")

    async def set_locale(self, locale: str, **data: Any) -> None:
        """Store ``locale`` as the chat's language (``StorageError`` if the database fails,
        and then nothing switches; ``ValueError`` for a locale the core has no catalog for);
        this update's ``UserSettings`` carries it from now on."""
        context = I18nContext.get_current(no_error=True)
        locales = self.locales
        if locales is None and context is not None:
            locales = tuple(context.core.available_locales)
        check_locale(locale, locales)
        settings: object = data.get(self.data_key)
        if not isinstance(settings, UserSettings):
            return
        await update_user_lang(settings, locale)
        updated = dataclasses.replace(settings, lang=locale)
        if context is not None and context.data.get(self.data_key) is settings:
            context.data[self.data_key] = updated
