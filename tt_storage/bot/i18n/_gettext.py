"""``aiogram.utils.i18n`` (gettext catalogs) with the locale from ``UserSettings.lang``."""

from __future__ import annotations

from typing import Any

from aiogram import Dispatcher, Router
from aiogram.types import TelegramObject
from aiogram.utils.i18n import I18n, I18nMiddleware

from ...core.user_settings import UserSettings
from ...services.users import update_user_lang
from ._locale import DATA_KEY, check_locale, check_order, pick_locale, settings_from


class SettingsI18nMiddleware(I18nMiddleware):
    """aiogram's ``I18nMiddleware`` whose locale is the chat's stored language.

    ``.setup(dp)`` registers it as an outer middleware of every event observer (not
    ``update``): those run after tt-storage's ``dp.update`` middleware, so it may be set up
    before or after ``setup_storage``. Registered by hand on ``dp.update`` before tt-storage's
    middleware, it raises ``I18nOrderError`` instead of silently rendering the default language.
    """

    def __init__(
        self,
        i18n: I18n,
        i18n_key: str | None = "i18n",
        middleware_key: str = "i18n_middleware",
        *,
        data_key: str = DATA_KEY,
    ) -> None:
        super().__init__(i18n, i18n_key=i18n_key, middleware_key=middleware_key)
        self.data_key = data_key

    def setup(self, router: Router, exclude: set[str] | None = None) -> I18nMiddleware:
        """Register on ``router``'s event observers; on a ``Dispatcher``, also check at
        startup that ``setup_storage`` was called on it."""
        super().setup(router, exclude)
        if isinstance(router, Dispatcher):
            dispatcher = router

            async def check_storage() -> None:
                check_order(dispatcher, self)

            dispatcher.startup.register(check_storage)
        return self

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        settings = settings_from(event, data, self.data_key)
        return pick_locale(
            settings,
            data.get("event_from_user"),
            self.i18n.available_locales,
            self.i18n.default_locale,
        )

    async def set_locale(self, user_settings: UserSettings, locale: str) -> bool:
        """Store ``locale`` as the chat's language; the rest of this update renders in it.

        ``False`` (nothing stored, the update still switches) for a chat that is not
        registered. A database failure raises ``StorageError`` and switches nothing; a locale
        with no catalog, ``ValueError`` (nothing stored).
        """
        check_locale(locale, self.i18n.available_locales)
        stored = await update_user_lang(user_settings, locale)
        self.i18n.current_locale = locale
        return stored
