"""Broadcast campaigns in the database: creating, starting, claiming, recording, control.

A campaign is a row; when it starts, its recipients are fixed into chunks of ``CHUNK_SIZE``
chat ids (a chat registered later is not included). Workers lease chunks with ``FOR UPDATE
SKIP LOCKED`` and record every outcome with the chunk's position in the same UPDATE that
renews the lease, so a chunk whose worker died is resumed, by another worker, from the first
chat that was not recorded. The send rate is a per-bot schedule in ``tt_storage_bot_budget``
shared by every worker of that bot. No aiogram here: the worker loop is
``tt_storage.admin.campaigns``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from ..core import db, sql, validate

#: Chat ids per chunk: a worker's unit of work and of takeover.
CHUNK_SIZE = 1_000
#: The campaign states; the last four are final except ``paused``.
STATES = ("scheduled", "running", "paused", "done", "cancelled", "failed")
#: Telegram's fastest paid broadcast is 1,000 messages/s; anything above is a typo.
MAX_RATE = 1_000.0
Audience = Literal["private", "all"]


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    """A campaign and its counts. ``sent + blocked + failed + skipped`` chats are done;
    ``migrated`` counts the groups sent to their supergroup's id (they are also ``sent`` or
    ``failed``). Times are epoch seconds."""

    id: int
    bot_id: int
    name: str
    state: str
    rate: float
    total: int
    sent: int
    blocked: int
    migrated: int
    failed: int
    skipped: int
    #: Chunks held by a live worker now.
    leased: int
    audience: str
    languages: tuple[str, ...] | None
    sender: str | None
    copy_from: tuple[int, int] | None
    start_at: int
    created_at: int
    started_at: int | None
    finished_at: int | None
    error: str | None

    @property
    def processed(self) -> int:
        return self.sent + self.blocked + self.failed + self.skipped

    @property
    def remaining(self) -> int:
        return max(self.total - self.processed, 0)

    def throughput(self, now: float | None = None) -> float:
        """Chats done per second since the campaign started (0 before)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return self.processed / max(end - self.started_at, 1.0)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the configured rate (a running campaign), else ``None``."""
        if self.state != "running":
            return None
        return self.remaining / self.rate


@dataclass(frozen=True, slots=True)
class Chunk:
    """A leased chunk: send to ``chat_ids[position:]``."""

    id: int
    campaign_id: int
    chat_ids: tuple[int, ...]
    position: int


def _status(row: asyncpg.Record) -> CampaignStatus:
    languages = row["languages"]
    if isinstance(languages, str):
        languages = json.loads(languages)
    copy_from = None
    if row["from_chat_id"] is not None:
        copy_from = (row["from_chat_id"], row["message_id"])
    return CampaignStatus(
        id=row["id"],
        bot_id=row["bot_id"],
        name=row["name"],
        state=row["state"],
        rate=row["rate"],
        total=row["total"],
        sent=row["sent"],
        blocked=row["blocked"],
        migrated=row["migrated"],
        failed=row["failed"],
        skipped=row["skipped"],
        leased=row["leased"],
        audience=row["audience"],
        languages=None if languages is None else tuple(languages),
        sender=row["sender"],
        copy_from=copy_from,
        start_at=row["start_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
    )


def _check_rate(rate: object) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise TypeError(f"rate must be a number of messages per second, not {type(rate).__name__}")
    if not math.isfinite(rate) or rate <= 0 or rate > MAX_RATE:
        raise ValueError(f"rate must be above 0 and at most {MAX_RATE:g} messages/s, not {rate}")
    return float(rate)


def _check_languages(languages: Sequence[str] | None) -> str | None:
    if languages is None:
        return None
    if isinstance(languages, str) or not all(isinstance(x, str) for x in languages):
        raise TypeError("languages must be a list of language codes, e.g. ['en', 'ru']")
    codes = sorted({validate.text(x, "languages") for x in languages})
    if not codes:
        raise ValueError("languages is empty: pass None for every language")
    return json.dumps(codes)


def _check_source(
    copy_from: tuple[int, int] | None, sender: str | None, known: Collection[str] | None
) -> tuple[int | None, int | None, str | None]:
    if (copy_from is None) == (sender is None):
        raise ValueError("give exactly one of copy_from=(chat_id, message_id) and sender=NAME")
    if sender is not None:
        if not isinstance(sender, str) or not 0 < len(sender) <= 100:
            raise ValueError("sender must be a registered sender's name (1-100 characters)")
        if known is not None and sender not in known:
            raise ValueError(f"unknown sender {sender!r}: registered are {sorted(known)}")
        return None, None, sender
    assert copy_from is not None
    if not isinstance(copy_from, tuple | list) or len(copy_from) != 2:
        raise TypeError("copy_from must be (chat_id, message_id)")
    chat = validate.chat_id(copy_from[0], "copy_from chat_id")
    message = copy_from[1]
    if isinstance(message, bool) or not isinstance(message, int) or message <= 0:
        raise ValueError(f"copy_from message_id must be a positive int, not {message!r}")
    return chat, message, None


async def create_campaign(
    bot_id: int,
    *,
    copy_from: tuple[int, int] | None = None,
    sender: str | None = None,
    audience: Audience = "private",
    languages: Sequence[str] | None = None,
    rate: float = 25.0,
    start_at: float | None = None,
    name: str = "",
    known_senders: Collection[str] | None = None,
) -> int:
    """Create a campaign and return its id; it starts now, or at ``start_at`` (epoch seconds).

    What to send: ``copy_from=(chat_id, message_id)`` (a message the bot can read, copied to
    each chat), or ``sender``, the name of a callable every worker registers. ``audience``:
    ``"private"`` chats only or ``"all"`` (groups too); blocked chats are never included;
    ``languages`` keeps only chats with those ``lang``. ``rate``: messages per second for the
    bot, shared by all its workers. Everything is checked here (``TypeError``/``ValueError``).
    """
    bot = validate.chat_id(bot_id, "bot_id")
    if bot <= 0:
        raise ValueError(f"bot_id must be a bot's id (positive), not {bot_id}")
    chat, message, sender_name = _check_source(copy_from, sender, known_senders)
    if audience not in ("private", "all"):
        raise ValueError(f"audience must be 'private' or 'all', not {audience!r}")
    now = time.time()
    if start_at is None:
        start = int(now)
    elif isinstance(start_at, bool) or not isinstance(start_at, int | float):
        raise TypeError("start_at must be epoch seconds or None (now)")
    elif start_at < now - 1:
        raise ValueError(f"start_at {start_at:.0f} is in the past (now {now:.0f}): pass None")
    else:
        start = math.ceil(start_at)
    values = (
        bot,
        validate.text(name, "name")[:100],
        chat,
        message,
        sender_name,
        audience,
        _check_languages(languages),
        _check_rate(rate),
        "scheduled",
        start,
        int(now),
    )
    async with db.connection() as conn, conn.transaction():
        await conn.execute(sql.BUDGET_ENSURE, bot)
        campaign: int = await conn.fetchval(sql.CAMPAIGN_INSERT, *values)
    if start <= now:
        await start_campaign(campaign)
    return campaign


async def start_campaign(campaign_id: int) -> bool:
    """Fix the recipients of a scheduled campaign whose time has come, and run it. One
    transaction; ``False`` if it was not due or someone else started it."""
    now = int(time.time())
    async with db.connection() as conn, conn.transaction():
        row = await conn.fetchrow(sql.CAMPAIGN_START, campaign_id, now)
        if row is None:
            return False
        await conn.execute(
            sql.CAMPAIGN_PLAN, campaign_id, CHUNK_SIZE, row["audience"], row["languages"]
        )
        await conn.execute(sql.CAMPAIGN_PLANNED, campaign_id, now)
    return True


async def start_due_campaigns(bot_id: int) -> list[int]:
    """Start every scheduled campaign of the bot whose time has come; their ids."""
    due = await db.fetch(sql.CAMPAIGNS_DUE, bot_id, int(time.time()))
    return [r[0] for r in due if await start_campaign(r[0])]


async def pause_campaign(campaign_id: int) -> bool:
    """Stop sending (workers stop after the message they are sending); ``resume`` goes on."""
    return await db.fetchval(sql.CAMPAIGN_PAUSE, campaign_id) is not None


async def resume_campaign(campaign_id: int) -> bool:
    """Resume a paused campaign where it stopped."""
    return await db.fetchval(sql.CAMPAIGN_RESUME, campaign_id) is not None


async def cancel_campaign(campaign_id: int) -> bool:
    """Stop a campaign for good (workers stop after the message they are sending)."""
    return await db.fetchval(sql.CAMPAIGN_CANCEL, campaign_id, int(time.time())) is not None


async def fail_campaign(campaign_id: int, error: str) -> bool:
    """End a campaign that cannot go on (its message is gone, its sender unknown...)."""
    text = validate.text(error, "error")[:500]
    return await db.fetchval(sql.CAMPAIGN_FAIL, campaign_id, int(time.time()), text) is not None


async def get_campaign(campaign_id: int) -> CampaignStatus | None:
    """A campaign's state and counts, or ``None``."""
    row = await db.fetchrow(sql.CAMPAIGN_STATUS, campaign_id, time.time())
    return None if row is None else _status(row)


async def list_campaigns(bot_id: int | None = None, limit: int = 50) -> list[CampaignStatus]:
    """The newest campaigns (of one bot, or of all), newest first."""
    rows = await db.fetch(sql.CAMPAIGN_LIST, bot_id, time.time(), limit)
    return [_status(r) for r in rows]


async def claim_chunk(bot_id: int, worker: str, lease: float) -> Chunk | None:
    """Lease the next chunk of a running campaign of the bot to ``worker`` (a token unique to
    this claim) for ``lease`` seconds; ``None`` when there is nothing to do."""
    row = await db.fetchrow(sql.CLAIM_CHUNK, bot_id, time.time(), worker, lease)
    if row is None:
        return None
    return Chunk(row["id"], row["campaign_id"], tuple(row["chat_ids"]), row["position"])


async def campaign_source(campaign_id: int) -> tuple[int | None, int | None, str | None, float]:
    """``(from_chat_id, message_id, sender, rate)`` of a campaign."""
    row = await db.fetchrow(sql.CAMPAIGN_SOURCE, campaign_id)
    if row is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    return row[0], row[1], row[2], row[3]


async def chunk_exceptions(chat_ids: Sequence[int]) -> dict[int, int | None]:
    """Of these chats, those not simply reachable: chat -> the id to send to (a migrated
    group's new id), or ``None`` (blocked or gone since the plan: skip)."""
    rows = await db.fetch(sql.CHUNK_EXCEPTIONS, list(chat_ids))
    return {r["id"]: (r["target"] if r["reachable"] else None) for r in rows}


async def record_progress(
    chunk: int, worker: str, position: int, counts: Sequence[int], lease: float
) -> tuple[str, float] | None:
    """Record that the chunk's chats before ``position`` are done, with ``counts`` (sent,
    blocked, migrated, failed, skipped) since the last record, and renew the lease. Returns the
    campaign's state and the bot's 429 pause end, or ``None`` if the lease was lost."""
    row = await db.fetchrow(
        sql.CHUNK_PROGRESS, chunk, worker, position, *counts, time.time() + lease
    )
    return None if row is None else (row[0], row[1])


async def release_chunk(chunk: int, worker: str) -> None:
    """Give a chunk back so that another worker may take it at once."""
    await db.execute(sql.CHUNK_RELEASE, chunk, worker)


async def finish_campaign(campaign_id: int) -> bool:
    """Mark the campaign done if no chunk is left; whether this call did."""
    return await db.execute(sql.CAMPAIGN_FINISH, campaign_id, int(time.time())) > 0


async def reserve_slots(bot_id: int, count: int, rate: float) -> float:
    """Reserve ``count`` send slots of the bot's shared schedule; the first one's time (the
    others follow every ``1 / rate`` s)."""
    first: Any = await db.fetchval(sql.BUDGET_RESERVE, bot_id, time.time(), count, rate)
    if first is None:
        raise LookupError(f"bot {bot_id} has no send budget: create its campaign first")
    return float(first)


async def pause_bot(bot_id: int, seconds: float) -> None:
    """A 429: no worker of the bot sends for ``seconds``."""
    await db.execute(sql.BUDGET_PAUSE, bot_id, time.time() + max(seconds, 0.0))
