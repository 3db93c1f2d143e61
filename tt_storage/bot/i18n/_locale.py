"""What both integrations share: this update's settings, the locale they pick, the check that
tt-storage's middleware runs first."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from aiogram import Dispatcher
from aiogram.types import ErrorEvent, TelegramObject, User

from ...core.user_settings import UserSettings
from ..middleware import StorageMiddleware
from ..registration import LanguagePicker

#: The key ``setup_storage`` puts the settings under (its ``data_key`` option).
DATA_KEY = "user_settings"

EXTRA_HINT = "install it with: pip install 'tt-storage[i18n]'"


class I18nOrderError(RuntimeError):
    """An i18n middleware ran before tt-storage's: it would render the default language."""


def _order_error(key: str) -> I18nOrderError:
    return I18nOrderError(
        f"no {key!r} in this update's data: the i18n middleware runs before tt-storage's "
        "settings middleware (or setup_storage(dp) was not called). Call setup_storage(dp) "
        "before registering an i18n middleware on dp.update, or register it on the event "
        "observers (SettingsI18nMiddleware.setup(dp) does)"
    )


def settings_from(
    event: TelegramObject | None, data: dict[str, Any], key: str = DATA_KEY
) -> UserSettings | None:
    """This update's settings; ``None`` for an update with no chat or user.

    Raises ``I18nOrderError`` when tt-storage's middleware has not run for this update (it
    always sets the key, to ``None`` when there is no chat). An error event is let through:
    the failure may have happened before the settings were loaded.
    """
    if key not in data:
        if isinstance(event, ErrorEvent):
            return None
        raise _order_error(key)
    value = data[key]
    return value if isinstance(value, UserSettings) else None


def pick_locale(
    settings: UserSettings | None,
    user: User | None,
    locales: Iterable[str] | None,
    default: str,
) -> str:
    """The chat's stored language if it is one of ``locales`` (``None``: any); for an update
    with no chat the sender's ``language_code`` (``pt-br`` → ``pt``); else ``default``."""
    picker = _picker(None if locales is None else tuple(locales), default)
    if settings is not None:
        return picker(settings.lang)
    return picker(user.language_code if user is not None else None)


@functools.lru_cache(maxsize=64)
def _picker(locales: tuple[str, ...] | None, default: str) -> LanguagePicker:
    # One per set of catalogs, not one per update.
    return LanguagePicker(locales, default)


def check_locale(locale: object, locales: Iterable[str] | None) -> str:
    """``locale`` if ``set_locale`` may store it: a ``str`` among ``locales`` (``None``: not
    known yet, any); else ``ValueError`` naming them, before anything is stored."""
    if not isinstance(locale, str):
        raise TypeError(f"locale must be a str, not {type(locale).__name__}")
    if locales is not None and locale not in (known := tuple(locales)):
        raise ValueError(
            f"locale {locale!r} is not one of this bot's locales ({', '.join(sorted(known))}): "
            "nothing stored"
        )
    return locale


def check_order(dispatcher: Dispatcher, middleware: object) -> None:
    """Raise ``I18nOrderError`` unless tt-storage's middleware is on ``dispatcher.update`` and
    ``middleware`` (if it is on ``dispatcher.update`` too) comes after it."""
    outer = list(dispatcher.update.outer_middleware)
    storage = next((i for i, m in enumerate(outer) if isinstance(m, StorageMiddleware)), None)
    if storage is None:
        raise I18nOrderError(
            "tt-storage's settings middleware is not on this dispatcher: call "
            "setup_storage(dp) (translations follow UserSettings.lang, which it loads)"
        )
    if middleware in outer and outer.index(middleware) < storage:
        raise I18nOrderError(
            "the i18n middleware is registered on dp.update before tt-storage's settings "
            "middleware, so it would never see UserSettings: call setup_storage(dp) first"
        )
