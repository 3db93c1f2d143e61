"""Translations that follow ``UserSettings.lang``: ready locale sources for aiogram's own
``aiogram.utils.i18n`` and for aiogram-i18n (``pip install 'tt-storage[i18n]'``).

- ``SettingsI18nMiddleware(i18n)`` — an ``aiogram.utils.i18n.I18nMiddleware``;
  ``.setup(dp)`` registers it on the event observers, which run after tt-storage's
  ``dp.update`` middleware whatever the order of the two calls.
- ``SettingsManager()`` — an aiogram-i18n locale manager: ``I18nMiddleware(core,
  manager=SettingsManager()).setup(dp)``. aiogram-i18n registers on ``dp.update``, so it must
  come after ``setup_storage(dp)``; the wrong order fails at startup (and on the first update
  if the dispatcher was never started) with ``I18nOrderError``.

Both read the settings tt-storage's middleware injected (``data["user_settings"]``); an update
with no chat falls back to the sender's ``language_code``, then to the default locale.
``set_locale`` stores the language with ``update_user_lang`` and the rest of the update
renders in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._locale import I18nOrderError, check_order

if TYPE_CHECKING:
    from ._aiogram_i18n import SettingsManager
    from ._gettext import SettingsI18nMiddleware

__all__ = ["I18nOrderError", "SettingsI18nMiddleware", "SettingsManager", "check_order"]


def __getattr__(name: str) -> Any:
    # The integrations import their libraries only when asked for.
    if name == "SettingsI18nMiddleware":
        from ._gettext import SettingsI18nMiddleware

        return SettingsI18nMiddleware
    if name == "SettingsManager":
        from ._aiogram_i18n import SettingsManager

        return SettingsManager
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
