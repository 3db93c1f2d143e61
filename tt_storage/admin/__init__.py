"""What a bot's admin runs: quick stats, time series, exports, the id streams, broadcasts
(``tt_storage.admin.broadcast``), the media cache's top media and size."""

from ..services.analytics import (
    QuickStats,
    export_user_history,
    export_users,
    get_quick_stats,
    get_time_series,
    refresh_rollup,
)
from ..services.media_stats import CacheSize, TopMedia, get_cache_size, get_top_media
from ..services.stats import (
    get_file_mode_count,
    get_language_stats,
    get_top_users,
    iter_user_ids,
    iter_user_videos,
)

__all__ = [
    "CacheSize",
    "QuickStats",
    "TopMedia",
    "export_user_history",
    "export_users",
    "get_cache_size",
    "get_file_mode_count",
    "get_language_stats",
    "get_quick_stats",
    "get_time_series",
    "get_top_media",
    "get_top_users",
    "iter_user_ids",
    "iter_user_videos",
    "refresh_rollup",
]
