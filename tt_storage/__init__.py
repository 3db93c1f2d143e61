"""tt-storage: the Tortoise ORM data layer of tt-bot, as a plugin for aiogram 3 bots."""

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .core.cache import invalidate
from .core.config import PoolOptions, tortoise_config
from .core.errors import StorageError, StorageNotInitialized, StorageTimeout, StorageUnavailable
from .core.lifecycle import apply_migrations, pending_migrations
from .core.models import FSMRecord, Music, Users, Video
from .core.outbox import OutboxEvent, OutboxStats, flush_outbox, outbox_stats
from .core.settings import DEFAULT_LANG, UserSettings
from .services.ads import (
    AD_COOLDOWN,
    AD_EVERY,
    claim_ad_slot,
    increase_ad_count,
    record_ad_show,
    should_show_ad,
)
from .services.analytics import (
    QuickStats,
    export_user_history,
    export_users,
    get_quick_stats,
    get_time_series,
    refresh_rollup,
)
from .services.chats import mark_blocked, mark_unblocked, migrate_chat
from .services.stats import (
    get_file_mode_count,
    get_language_stats,
    get_other_stats,
    get_referral_stats,
    get_stats_by_period,
    get_top_users,
    get_user_ids,
    get_user_stats,
    get_user_videos,
    iter_user_ids,
    iter_user_videos,
)
from .services.storage import (
    Storage,
    close_storage,
    default_storage,
    init_storage,
    storage,
)
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
    "BlockTracker",
    "BroadcastResult",
    "FSMRecord",
    "Music",
    "OutboxEvent",
    "OutboxStats",
    "PoolOptions",
    "PostgresStorage",
    "QuickStats",
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
    "adopt_database",
    "apply_migrations",
    "blocking_router",
    "broadcast",
    "claim_ad_slot",
    "close_storage",
    "create_user",
    "default_storage",
    "export_user_history",
    "export_users",
    "flush_outbox",
    "get_file_mode_count",
    "get_language_stats",
    "get_other_stats",
    "get_quick_stats",
    "get_referral_stats",
    "get_stats_by_period",
    "get_time_series",
    "get_top_users",
    "get_user",
    "get_user_ids",
    "get_user_settings",
    "get_user_stats",
    "get_user_videos",
    "increase_ad_count",
    "init_storage",
    "invalidate",
    "iter_user_ids",
    "iter_user_videos",
    "mark_blocked",
    "mark_unblocked",
    "migrate_chat",
    "outbox_stats",
    "pending_migrations",
    "record_ad_show",
    "refresh_rollup",
    "register_user",
    "setup_block_tracking",
    "setup_storage",
    "should_show_ad",
    "storage",
    "toggle_file_mode",
    "tortoise_config",
    "track_download",
    "update_user_lang",
    "update_user_mode",
]

if TYPE_CHECKING:
    from .admin.broadcast import BroadcastResult, broadcast
    from .bot.blocking import BlockTracker, blocking_router, setup_block_tracking
    from .bot.fsm import PostgresStorage
    from .bot.isolation import AdvisoryLockIsolation
    from .bot.middleware import StorageMiddleware, setup_storage
    from .ops.adopt import adopt_database

#: Names imported on first use. The aiogram-facing ones: ``import aiogram`` costs seconds, which
#: the CLI, cron jobs and migration scripts need not pay. ``adopt_database``: so that
#: ``python -m tt_storage.ops.adopt`` runs that module exactly once.
_LAZY = {
    "adopt_database": "ops.adopt",
    "BlockTracker": "bot.blocking",
    "blocking_router": "bot.blocking",
    "setup_block_tracking": "bot.blocking",
    "BroadcastResult": "admin.broadcast",
    "broadcast": "admin.broadcast",
    "StorageMiddleware": "bot.middleware",
    "setup_storage": "bot.middleware",
    "PostgresStorage": "bot.fsm",
    "AdvisoryLockIsolation": "bot.isolation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the deprecated module path ``tt_storage.broadcast`` binds the module on the
        # package, over the function of the same name: keep the function there instead.
        if name == "broadcast" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
