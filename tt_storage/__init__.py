"""tt-storage: the Tortoise ORM data layer of tt-bot, as a plugin for aiogram 3 bots.

The top level is what a bot needs: ``setup_storage``/``Storage``, the seed's functions, the
settings type, the models and the errors. The admin side (analytics, exports, broadcast) is in
``tt_storage.admin``, the operator side (migrations, adoption, the outbox, Tortoise config) in
``tt_storage.ops``.
"""

import importlib
import sys
import types
import warnings
from typing import TYPE_CHECKING, Any

from .core.cache import invalidate
from .core.errors import StorageError, StorageNotInitialized, StorageTimeout, StorageUnavailable
from .core.models import FSMRecord, Music, Users, Video
from .core.user_settings import DEFAULT_LANG, UserSettings
from .services.ads import (
    AD_COOLDOWN,
    AD_EVERY,
    claim_ad_slot,
    increase_ad_count,
    record_ad_show,
    should_show_ad,
)
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
    "AD_COOLDOWN",
    "AD_EVERY",
    "DEFAULT_LANG",
    "AdvisoryLockIsolation",
    "FSMRecord",
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
    "setup_block_tracking",
    "setup_storage",
    "should_show_ad",
    "storage",
    "toggle_file_mode",
    "track_download",
    "update_user_lang",
    "update_user_mode",
]

if TYPE_CHECKING:
    from .bot.blocking import setup_block_tracking
    from .bot.fsm import PostgresStorage
    from .bot.isolation import AdvisoryLockIsolation
    from .bot.middleware import StorageMiddleware, setup_storage

#: Names imported on first use: ``import aiogram`` costs seconds, which the CLI, cron jobs and
#: migration scripts need not pay.
_LAZY = {
    "setup_block_tracking": "bot.blocking",
    "StorageMiddleware": "bot.middleware",
    "setup_storage": "bot.middleware",
    "PostgresStorage": "bot.fsm",
    "AdvisoryLockIsolation": "bot.isolation",
}

#: Top-level names of 0.1 that are admin or operator APIs now: still here, with a warning,
#: until the next release. Those not listed are in these rooms' ``__all__``.
_MOVED = {
    "broadcast": "admin.broadcast",
    "BroadcastResult": "admin.broadcast",
    "BlockTracker": "bot.blocking",
    "blocking_router": "bot.blocking",
}
_MOVED_TO_ROOMS = ("admin", "ops")
#: Names of the rooms that were never top-level ones: nothing moved there.
_NEVER_TOP_LEVEL = frozenset({"ActiveChats", "get_active_chats", "last_active"})


def _moved_to(name: str) -> str | None:
    """Where the old top-level ``name`` lives now, if it moved."""
    if name in _MOVED:
        return _MOVED[name]
    if name in _NEVER_TOP_LEVEL:
        return None
    for room in _MOVED_TO_ROOMS:
        if name in importlib.import_module(f".{room}", __name__).__all__:
            return room
    return None


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
    moved = _moved_to(name)
    if moved is not None:
        warnings.warn(
            f"tt_storage.{name} moved to tt_storage.{moved}: import it from there "
            "(the top-level name goes away in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f".{moved}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the deprecated module path ``tt_storage.broadcast`` binds the module on the
        # package, over the (moved) function of the same name: keep the function reachable.
        if name == "broadcast" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
