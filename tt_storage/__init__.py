"""tt-storage: the Tortoise ORM data layer of tt-bot, as a plugin for aiogram 3 bots.

The top level is what a bot needs: ``setup_storage``/``Storage``, the seed's functions, the
settings type, the models and the errors. The admin side (analytics, exports, broadcast) is in
``tt_storage.admin``, the operator side (migrations, adoption, the outbox, Tortoise config) in
``tt_storage.ops``.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .core.cache import invalidate
from .core.errors import StorageError, StorageNotInitialized, StorageTimeout, StorageUnavailable
from .core.models import Music, Users, Video
from .core.user_settings import UserSettings
from .services.ads import claim_ad_slot, increase_ad_count, record_ad_show, should_show_ad
from .services.chats import mark_blocked, mark_unblocked, migrate_chat
from .services.stats import (
    get_other_stats,
    get_referral_stats,
    get_stats_by_period,
    get_user_ids,
    get_user_stats,
    get_user_videos,
)
from .services.storage import Storage, close_storage, default_storage, init_storage, storage
from .services.tracking import add_music, add_video, track_download
from .services.users import (
    create_user,
    get_user,
    get_user_settings,
    register_user,
    toggle_file_mode,
    update_user_lang,
    update_user_mode,
)

__all__ = [
    "Music",
    "PostgresStorage",
    "Storage",
    "StorageError",
    "StorageMiddleware",
    "StorageNotInitialized",
    "StorageTimeout",
    "StorageUnavailable",
    "UserSettings",
    "Users",
    "Video",
    "add_music",
    "add_video",
    "claim_ad_slot",
    "close_storage",
    "create_user",
    "default_storage",
    "get_other_stats",
    "get_referral_stats",
    "get_stats_by_period",
    "get_user",
    "get_user_ids",
    "get_user_settings",
    "get_user_stats",
    "get_user_videos",
    "increase_ad_count",
    "init_storage",
    "invalidate",
    "mark_blocked",
    "mark_unblocked",
    "migrate_chat",
    "record_ad_show",
    "register_user",
    "setup_storage",
    "should_show_ad",
    "storage",
    "toggle_file_mode",
    "track_download",
    "update_user_lang",
    "update_user_mode",
]

if TYPE_CHECKING:
    from .bot.fsm import PostgresStorage
    from .bot.middleware import StorageMiddleware, setup_storage

#: Names imported on first use: ``import aiogram`` costs seconds, which the CLI, cron jobs and
#: migration scripts need not pay.
_LAZY = {
    "StorageMiddleware": "bot.middleware",
    "setup_storage": "bot.middleware",
    "PostgresStorage": "bot.fsm",
}

#: The rooms, reachable as attributes (``tt_storage.admin.get_quick_stats``) without an import.
_ROOMS = {"admin", "bot", "core", "ops", "services"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    if name in _ROOMS:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # What the package offers, not what this module happened to import to offer it.
    return sorted({*__all__, *_ROOMS})
