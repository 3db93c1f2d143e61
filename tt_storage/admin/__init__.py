"""What a bot's admin runs: quick stats, active chats, time series, exports, the id streams,
forgetting a chat (a deletion request), broadcasts (``tt_storage.admin.broadcast``), the media
cache's top media and size."""

from ..services.activity import ActiveChats, last_active
from ..services.analytics import (
    QuickStats,
    export_user_history,
    export_users,
    get_active_chats,
    get_quick_stats,
    get_time_series,
    refresh_rollup,
)
from ..services.media_stats import CacheSize, TopMedia, get_cache_size, get_top_media
from ..services.privacy import ForgottenChat, forget_chat
from ..services.stats import (
    get_file_mode_count,
    get_language_stats,
    get_top_users,
    iter_user_ids,
    iter_user_videos,
)

__all__ = [
    "ActiveChats",
    "CacheSize",
    "ForgottenChat",
    "QuickStats",
    "TopMedia",
    "export_user_history",
    "export_users",
    "forget_chat",
    "get_active_chats",
    "get_cache_size",
    "get_file_mode_count",
    "get_language_stats",
    "get_quick_stats",
    "get_time_series",
    "get_top_media",
    "get_top_users",
    "iter_user_ids",
    "iter_user_videos",
    "last_active",
    "refresh_rollup",
]
