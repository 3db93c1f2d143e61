"""``Storage``: one database with every service as a method, and the process's default one.

The module-level functions (``tt_storage.add_video`` …) run on the database bound in the task
(the middleware binds its own for each update), else on the default: the one ``init_storage``
opens. ``Storage.add_video`` … run on that instance, wherever they are called.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..core import database as database_module
from ..core import db
from ..core.database import Database
from ..core.replay import OutboxEvent
from . import activity, ads, analytics, chats, media, media_stats, privacy, stats, tracking, users

P = ParamSpec("P")
R = TypeVar("R")


def _method(fn: Callable[P, Awaitable[R]]) -> Callable[Concatenate[Storage, P], Awaitable[R]]:
    async def method(self: Storage, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with db.bound(self):
            return await fn(*args, **kwargs)

    functools.update_wrapper(method, fn)
    return method


def _sync_method(fn: Callable[P, R]) -> Callable[Concatenate[Storage, P], R]:
    def method(self: Storage, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with db.bound(self):
            return fn(*args, **kwargs)

    functools.update_wrapper(method, fn)
    return method


def _stream_method(
    fn: Callable[P, AsyncIterator[R]],
) -> Callable[Concatenate[Storage, P], AsyncGenerator[R, None]]:
    async def method(
        self: Storage, /, *args: P.args, **kwargs: P.kwargs
    ) -> AsyncGenerator[R, None]:
        # Bound step by step, not around the loop: a generator's context change would leak
        # into its consumer between items. (Calling ``fn`` runs none of its body.)
        stream = fn(*args, **kwargs)
        try:
            while True:
                with db.bound(self):
                    try:
                        item = await anext(stream)
                    except StopAsyncIteration:
                        return
                yield item
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                with db.bound(self):
                    await close()

    functools.update_wrapper(method, fn)
    return method


class Storage(Database):
    """One PostgreSQL database and the services on it.

    ``await Storage().init(url, **options)`` opens it (the options are ``init_storage``'s),
    ``await storage.close()`` closes it; ``async with await Storage().init(url) as storage:``
    does both. ``init_storage`` opens the process's default instance and returns it. Two
    instances on two databases work side by side: ``setup_storage(dp, storage=…)`` gives a
    dispatcher its own, and ``with storage.bound():`` sends the module-level functions (and
    Tortoise's models) to it within a block.

    ``media_metadata_ttl``: seconds after which ``lookup_media`` calls a media entry's metadata
    stale on this instance, unless the call gives its own (default 24 h).
    """

    media_metadata_ttl: float = media.DEFAULT_METADATA_TTL

    # The seed's functions.
    get_user = _method(users.get_user)
    register_user = _method(users.register_user)
    create_user = _method(users.create_user)
    get_user_settings = _method(users.get_user_settings)
    update_user_mode = _method(users.update_user_mode)
    update_user_lang = _method(users.update_user_lang)
    toggle_file_mode = _method(users.toggle_file_mode)
    add_video = _method(tracking.add_video)
    add_music = _method(tracking.add_music)
    track_download = _method(tracking.track_download)
    should_show_ad = _method(ads.should_show_ad)
    record_ad_show = _method(ads.record_ad_show)
    increase_ad_count = _method(ads.increase_ad_count)
    claim_ad_slot = _method(ads.claim_ad_slot)
    mark_blocked = _method(chats.mark_blocked)
    mark_unblocked = _method(chats.mark_unblocked)
    migrate_chat = _method(chats.migrate_chat)
    forget_chat = _method(privacy.forget_chat)
    record_activity = _method(activity.record_activity)
    last_active = _method(activity.last_active)
    get_user_stats = _method(stats.get_user_stats)
    get_stats_by_period = _method(stats.get_stats_by_period)
    get_referral_stats = _method(stats.get_referral_stats)
    get_file_mode_count = _method(stats.get_file_mode_count)
    get_language_stats = _method(stats.get_language_stats)
    get_top_users = _method(stats.get_top_users)
    get_other_stats = _method(stats.get_other_stats)
    get_user_ids = _method(stats.get_user_ids)
    get_user_videos = _method(stats.get_user_videos)
    iter_user_ids = _stream_method(stats.iter_user_ids)
    iter_user_videos = _stream_method(stats.iter_user_videos)
    # The admin side's reads.
    get_quick_stats = _method(analytics.get_quick_stats)
    get_time_series = _method(analytics.get_time_series)
    get_active_chats = _method(analytics.get_active_chats)
    refresh_rollup = _method(analytics.refresh_rollup)
    export_users = _method(analytics.export_users)
    export_user_history = _method(analytics.export_user_history)
    # The media cache (tt_storage.media).
    lookup_media = _method(media.lookup_media)
    store_media = _method(media.store_media)
    invalidate_media = _method(media.invalidate_media)
    refresh_media_metadata = _method(media.refresh_media_metadata)
    prune_media = _method(media.prune_media)
    get_top_media = _method(media_stats.get_top_media)
    get_cache_size = _method(media_stats.get_cache_size)
    # The outbox.
    flush_outbox = _method(database_module.flush_outbox)
    outbox_stats = _sync_method(database_module.outbox_stats)


def default_storage() -> Storage:
    """The process's default ``Storage``: what ``init_storage`` opens and the module-level
    functions use in tasks that bound no other (not opened until then)."""
    default = db.default()
    assert isinstance(default, Storage), "set when tt_storage.services.storage is imported"
    return default


async def init_storage(
    db_url: str | None = None, replica_url: str | None = None, **options: Any
) -> Storage:
    """Connect the library to PostgreSQL: open the default ``Storage`` and return it.

    ``db_url`` defaults to ``DB_URL``; with neither, the embedded PostgreSQL is started (and
    migrated). ``replica_url``: a streaming replica for the admin reads (stats, exports, the
    broadcast id stream); writes and per-update reads stay on ``db_url``.

    ``options``:

    - ``listen_url``: a direct server URL for the settings cache's LISTEN connection when
      ``db_url`` goes through pgbouncer (without it the cache stays off there);
    - ``migrate=True`` applies pending aerich migrations first; without it the database must
      already have every packaged migration (checked in one query: ``StorageError`` naming the
      fix otherwise);
    - ``connect_wait``: seconds to wait for a server that does not answer yet (default
      ``TT_STORAGE_CONNECT_WAIT``, else 0), retrying with backoff, a WARNING per attempt;
    - ``migration_lock_timeout`` (default 600 s): how long ``migrate=True`` waits while another
      process holds the migration lock, then ``StorageTimeout`` naming it;
    - ``models``: the application's own Tortoise models to run in the same context and pool
      (``["mybot.models"]`` or ``{"label": [...]}``; see ``tortoise_config``);
    - ``global_fallback`` (default ``True``) makes Tortoise visible to tasks created before
      this call (aiogram's polling workers);
    - ``outbox_size``, ``outbox_retry_delay``, ``outbox_max_retry_delay``,
      ``outbox_close_timeout``: the queue of downloads recorded during an outage
      (``tt_storage.core.outbox``): how many it holds (0: no queue, tracking calls raise
      ``StorageUnavailable``), the flusher's first and longest retry delay, and how long
      ``close_storage()`` tries to write what is left;
    - the ``PoolOptions`` fields (``statement_cache_size=0`` behind pgbouncer in transaction
      mode).

    Called again with the same URLs it returns the open instance; with others it raises
    ``StorageError``.
    """
    return await default_storage().init(db_url, replica_url, **options)


async def close_storage() -> list[OutboxEvent]:
    """Close the default ``Storage`` (see ``Storage.close``); the queued downloads it could not
    write."""
    return await default_storage().close()


@asynccontextmanager
async def storage(db_url: str | None = None, **options: Any) -> AsyncIterator[Storage]:
    """``async with storage(url) as s: …`` — ``init_storage`` on entry, ``close_storage`` on
    exit."""
    opened = await init_storage(db_url, **options)
    try:
        yield opened
    finally:
        await close_storage()


# The default exists from import on (``import tt_storage`` imports this module): a plain
# ``Database`` made by core in its place would lack the methods.
db.set_default(Storage())
