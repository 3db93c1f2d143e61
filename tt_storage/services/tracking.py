"""Downloads: videos, slideshows and music. A download is never lost to an unknown chat, nor to
an outage: what cannot be written now is queued in the outbox (see ``tt_storage.core.outbox``)."""

from __future__ import annotations

from typing import Any

from ..core import db, sql, validate
from ..core.database import current
from ..core.errors import StorageUnavailable
from ..core.replay import Kind, OutboxEvent
from ..core.user_settings import DEFAULT_LANG, ChatRef, chat_ref
from .ads import AD_COOLDOWN, AD_EVERY, claim_after_download
from .clock import now


def _event(kind: Kind, chat: int, at: int, ad: bool, values: tuple[Any, ...]) -> OutboxEvent:
    if kind == "video":
        link, images, processed, inline, media_id, cache_hit = values
        return OutboxEvent(
            "video", chat, at, ad, link, images, processed, inline,
            media_id=media_id, cache_hit=cache_hit,
        )  # fmt: skip
    video_id, media_id, cache_hit = values
    return OutboxEvent("music", chat, at, ad, video_id=video_id, media_id=media_id,
                       cache_hit=cache_hit)  # fmt: skip


async def _track(kind: Kind, statement: str, chat: int, ad: bool, *values: Any) -> bool:
    at = now()
    database = current()
    outbox = database.outbox
    # A chat with queued downloads queues the new one behind them: its writes stay in order
    # (with the outbox full, it is tried directly: out of order beats lost).
    if outbox.holds(chat) and not outbox.full:
        outbox.add(_event(kind, chat, at, ad, values))
        return False
    # A chat first seen in an outage and not registered since: as its first update said.
    first = outbox.remembered(chat)
    sent = False
    try:
        async with database.connection() as conn:
            if first is not None:
                await db.fetchrow_resolved(conn, sql.REGISTER_USER, chat, at, *first)
            sent = True
            if ad:
                row = await db.fetchrow_resolved(
                    conn, statement, chat, at, DEFAULT_LANG, ad, AD_EVERY, AD_COOLDOWN, *values
                )
            else:
                row = await db.fetchrow_resolved(conn, statement, chat, at, DEFAULT_LANG, *values)
    except StorageUnavailable:
        if not outbox.enabled:
            raise
        # Written when the database is back (unless the outbox is full: then counted as
        # dropped). ``sent``: the statement may have been applied before the connection died,
        # so the replay looks for its row first.
        event = _event(kind, chat, at, ad, values)
        event.maybe_written = sent
        outbox.add(event)
        return False
    if first is not None:
        outbox.forget_chat(chat)
    outbox.nudge()
    assert row is not None
    registered, show, written_to = row
    if ad and show is None and not registered:
        # The chat was registered concurrently, after this statement's snapshot: the ad rule
        # could not see its row, so apply it on its own (rare: only first-update races).
        try:
            return await claim_after_download(written_to)
        except StorageUnavailable:
            return False  # the download is recorded; this one ad decision is skipped
    return bool(show)


async def track_download(
    user_id: ChatRef,
    video_link: str,
    is_images: bool,
    is_processed: bool = False,
    is_inline: bool = False,
    *,
    ad: bool = False,
    media_id: int | None = None,
    cache_hit: bool | None = None,
) -> bool:
    """Record a video/slideshow download; with ``ad=True`` also apply the ad rule atomically.

    ``media_id`` links it to a media cache entry (``tt_storage.media``; counted as a use of it,
    in the same statement; linked as NULL if the entry is gone), ``cache_hit`` says whether it
    was sent from cached file_ids.

    Returns whether to show an ad now (always ``False`` with ``ad=False``, and while the
    database is unreachable: the download is then queued and counted as one without an ad).
    """
    ad = validate.flag(ad, "ad")
    link = _link(media_id, cache_hit)
    return await _track(
        "video",
        _VIDEO_STATEMENTS[ad, link[0] is not None],
        chat_ref(user_id),
        ad,
        validate.text(video_link, "video_link"),
        validate.flag(is_images, "is_images"),
        validate.flag(is_processed, "is_processed"),
        validate.flag(is_inline, "is_inline"),
        *link,
    )


# (ad rule, linked to a media entry) -> the statement.
_VIDEO_STATEMENTS = {
    (True, False): sql.TRACK_VIDEO,
    (True, True): sql.TRACK_VIDEO_LINKED,
    (False, False): sql.ADD_VIDEO,
    (False, True): sql.ADD_VIDEO_LINKED,
}


def _link(media_id: Any, cache_hit: Any) -> tuple[int | None, bool | None]:
    """The media cache link of a download, checked."""
    if media_id is not None:
        media_id = validate.chat_id(media_id, "media_id")
        if media_id <= 0:
            raise ValueError("media_id must be a positive int (a media entry's id)")
    return media_id, None if cache_hit is None else validate.flag(cache_hit, "cache_hit")


async def add_video(
    user_id: ChatRef,
    video_link: str,
    is_images: bool,
    is_processed: bool = False,
    is_inline: bool = False,
    *,
    media_id: int | None = None,
    cache_hit: bool | None = None,
) -> None:
    """Record a video/slideshow download (registers an unknown chat with defaults first);
    ``media_id``/``cache_hit`` as in ``track_download``."""
    await track_download(
        user_id, video_link, is_images, is_processed, is_inline,
        media_id=media_id, cache_hit=cache_hit,
    )  # fmt: skip


async def add_music(
    user_id: ChatRef,
    video_id: int,
    *,
    media_id: int | None = None,
    cache_hit: bool | None = None,
) -> None:
    """Record a music download (registers an unknown chat with defaults first);
    ``media_id``/``cache_hit`` as in ``track_download``."""
    link = _link(media_id, cache_hit)
    await _track(
        "music",
        sql.ADD_MUSIC if link[0] is None else sql.ADD_MUSIC_LINKED,
        chat_ref(user_id),
        False,
        validate.chat_id(video_id, "video_id"),
        *link,
    )
