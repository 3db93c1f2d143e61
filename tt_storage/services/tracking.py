"""Downloads: videos, slideshows and music. A download is never lost to an unknown chat."""

from __future__ import annotations

from .. import db, sql, validate
from ..settings import DEFAULT_LANG, ChatRef, chat_ref
from .ads import AD_COOLDOWN, AD_EVERY, claim_ad_slot
from .users import now


async def _track(statement: str, chat: int, ad: bool, *values: object) -> bool:
    row = await db.fetchrow(
        statement, chat, now(), DEFAULT_LANG, ad, AD_EVERY, AD_COOLDOWN, *values
    )
    assert row is not None
    registered, show = row
    if ad and show is None and not registered:
        # The chat was registered concurrently, after this statement's snapshot: the ad rule
        # could not see its row, so apply it on its own (rare: only first-update races).
        return await claim_ad_slot(chat)
    return bool(show)


async def track_download(
    user_id: ChatRef,
    video_link: str,
    is_images: bool,
    is_processed: bool = False,
    is_inline: bool = False,
    *,
    ad: bool = False,
) -> bool:
    """Record a video/slideshow download; with ``ad=True`` also apply the ad rule atomically.

    Returns whether to show an ad now (always ``False`` with ``ad=False``).
    """
    return await _track(
        sql.TRACK_VIDEO,
        chat_ref(user_id),
        validate.flag(ad, "ad"),
        validate.text(video_link, "video_link"),
        validate.flag(is_images, "is_images"),
        validate.flag(is_processed, "is_processed"),
        validate.flag(is_inline, "is_inline"),
    )


async def add_video(
    user_id: ChatRef,
    video_link: str,
    is_images: bool,
    is_processed: bool = False,
    is_inline: bool = False,
) -> None:
    """Record a video/slideshow download (registers an unknown chat with defaults first)."""
    await track_download(user_id, video_link, is_images, is_processed, is_inline)


async def add_music(user_id: ChatRef, video_id: int) -> None:
    """Record a music download (registers an unknown chat with defaults first)."""
    await _track(sql.TRACK_MUSIC, chat_ref(user_id), False, validate.chat_id(video_id, "video_id"))
