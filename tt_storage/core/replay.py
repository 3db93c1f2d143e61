"""A queued download (``OutboxEvent``), and how the outbox writes a batch of them: in one
transaction, resolved through migrated chats, registering chats first seen in the outage, and
skipping the events whose first attempt had been written after all (see ``outbox``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from . import db, sql
from .user_settings import DEFAULT_LANG

Kind = Literal["video", "music"]


@dataclass(slots=True)
class OutboxEvent:
    """One download waiting to be written."""

    kind: Kind
    chat: int
    #: The original time of the download (epoch seconds): the replay writes this, not its own.
    downloaded_at: int
    #: A ``track_download(ad=True)``: counts as a download without an ad.
    ad: bool
    video_link: str | None = None
    is_images: bool = False
    is_processed: bool = False
    is_inline: bool = False
    video_id: int | None = None
    #: The media cache link (``track_download(media_id=..., cache_hit=...)``).
    media_id: int | None = None
    cache_hit: bool | None = None
    #: The first attempt was sent and its outcome is unknown: replayed only if not found.
    maybe_written: bool = False
    #: ``pending``, then ``written`` (by a replay), ``duplicate`` (found already written),
    #: ``failed`` (refused by the database) or ``abandoned`` (not written by close_storage).
    outcome: str = "pending"

    def key(self) -> tuple[Any, ...]:
        """The natural key a replay looks for when ``maybe_written``."""
        if self.kind == "video":
            return (
                "video",
                self.chat,
                self.downloaded_at,
                self.video_link,
                self.is_images,
                self.is_processed,
                self.is_inline,
            )
        return ("music", self.chat, self.downloaded_at, self.video_id)

    def describe(self) -> str:
        """One line for a log: everything needed to write it by hand."""
        what = (
            f"video link={self.video_link!r} images={self.is_images} "
            f"processed={self.is_processed} inline={self.is_inline}"
            if self.kind == "video"
            else f"music video_id={self.video_id}"
        )
        if self.media_id is not None or self.cache_hit is not None:
            what += f" media_id={self.media_id} cache_hit={self.cache_hit}"
        unsure = " (its first attempt may have been written)" if self.maybe_written else ""
        return f"chat={self.chat} at={self.downloaded_at} ad={self.ad} {what}{unsure}"


async def replay(
    database: db.Target, batch: list[OutboxEvent], chats: dict[int, tuple[str, str | None]]
) -> set[int]:
    """Write ``batch`` in one transaction; return the positions found already written.

    If the commit's outcome is unknown every event of the batch is marked ``maybe_written``.
    """
    committing = False
    try:
        async with db.connection(database=database) as conn:
            for attempt in range(db.RESOLVE_RETRIES + 1):
                try:
                    async with conn.transaction():
                        skip = await _replay_in(conn, batch, chats)
                        committing = True
                    break
                except asyncpg.ForeignKeyViolationError:
                    # A chat of the batch was migrated after it was resolved (its old row gone,
                    # or refused by migration 8's trigger): nothing was written, resolve again.
                    if attempt == db.RESOLVE_RETRIES:
                        raise
    except BaseException:
        if committing:
            for event in batch:
                event.maybe_written = True
        raise
    return skip


async def _replay_in(
    conn: Any, batch: list[OutboxEvent], chats: dict[int, tuple[str, str | None]]
) -> set[int]:
    """The statements of ``replay``, in its transaction."""
    # A group migrated since its downloads were queued: they go to its supergroup.
    moved = dict(await conn.fetch(sql.OUTBOX_RESOLVE, sorted({event.chat for event in batch})))
    target = [moved.get(event.chat, event.chat) for event in batch]
    # Chats first seen in the outage: registered as the middleware would have (or with the
    # defaults), at their first download. Sorted: a stable lock order.
    first: dict[int, OutboxEvent] = {}
    for chat, event in zip(target, batch, strict=True):
        first.setdefault(chat, event)
    ids = sorted(first)
    registration = [chats.get(first[chat].chat, (DEFAULT_LANG, None)) for chat in ids]
    await conn.execute(
        sql.OUTBOX_REGISTER,
        ids,
        [first[chat].downloaded_at for chat in ids],
        [lang for lang, _ in registration],
        [link for _, link in registration],
    )
    skip = await _already_written(conn, batch, target)
    todo = [i for i in range(len(batch)) if i not in skip]
    videos = [i for i in todo if batch[i].kind == "video"]
    if videos:
        await conn.execute(
            sql.OUTBOX_INSERT_VIDEOS,
            [target[i] for i in videos],
            [batch[i].downloaded_at for i in videos],
            [batch[i].video_link for i in videos],
            [batch[i].is_images for i in videos],
            [batch[i].is_processed for i in videos],
            [batch[i].is_inline for i in videos],
            [batch[i].media_id for i in videos],
            [batch[i].cache_hit for i in videos],
        )
    music = [i for i in todo if batch[i].kind == "music"]
    if music:
        await conn.execute(
            sql.OUTBOX_INSERT_MUSIC,
            [target[i] for i in music],
            [batch[i].downloaded_at for i in music],
            [batch[i].video_id for i in music],
            [batch[i].media_id for i in music],
            [batch[i].cache_hit for i in music],
        )
    ads = Counter(target[i] for i in todo if batch[i].ad)
    if ads:
        chat_ids = sorted(ads)
        await conn.execute(sql.OUTBOX_COUNT_ADS, chat_ids, [ads[chat] for chat in chat_ids])
    await _count_media(conn, [batch[i] for i in todo])
    return skip


async def _count_media(conn: Any, written: list[OutboxEvent]) -> None:
    """The media entries of replayed downloads count them as uses, as the direct path does."""
    uses: Counter[int] = Counter()
    latest: dict[int, int] = {}
    for event in written:
        if event.media_id is not None:
            uses[event.media_id] += 1
            latest[event.media_id] = max(latest.get(event.media_id, 0), event.downloaded_at)
    if uses:
        ids = sorted(uses)
        await conn.execute(
            sql.OUTBOX_COUNT_MEDIA, ids, [uses[i] for i in ids], [latest[i] for i in ids]
        )


async def _already_written(conn: Any, batch: list[OutboxEvent], target: list[int]) -> set[int]:
    """Positions in ``batch`` of ``maybe_written`` events whose row is already there.

    The chats' rows are locked first (FOR UPDATE waits for any statement still holding them,
    such as a first attempt the server is still running) and the rows are counted by a later
    statement, whose snapshot sees what such a statement committed. Per natural key, as many
    events are skipped as matching rows exist.
    """
    unsure = [i for i, event in enumerate(batch) if event.maybe_written]
    if not unsure:
        return set()
    await conn.execute(sql.LOCK_CHATS, sorted({target[i] for i in unsure}))
    videos = [i for i in unsure if batch[i].kind == "video"]
    music = [i for i in unsure if batch[i].kind == "music"]
    found: dict[tuple[Any, ...], int] = {}
    if videos:
        rows = await conn.fetch(
            sql.OUTBOX_VIDEOS_FOUND,
            videos,
            [target[i] for i in videos],
            [batch[i].downloaded_at for i in videos],
            [batch[i].video_link for i in videos],
            [batch[i].is_images for i in videos],
            [batch[i].is_processed for i in videos],
            [batch[i].is_inline for i in videos],
        )
        found.update((batch[row[0]].key(), row[1]) for row in rows)
    if music:
        rows = await conn.fetch(
            sql.OUTBOX_MUSIC_FOUND,
            music,
            [target[i] for i in music],
            [batch[i].downloaded_at for i in music],
            [batch[i].video_id for i in music],
        )
        found.update((batch[row[0]].key(), row[1]) for row in rows)
    skip: set[int] = set()
    for i in unsure:
        key = batch[i].key()
        if found.get(key, 0) > 0:
            found[key] -= 1
            skip.add(i)
    return skip
