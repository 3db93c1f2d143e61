"""Broadcast campaigns in the database: checks at creation, the fixed recipients, disjoint
claims, lease takeover, control, and the shared per-bot schedule (no Telegram involved)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from typing import Any

import asyncpg
import pytest

from tt_storage.services import campaigns as c

BOT = 42


async def add_chats(
    db: asyncpg.Connection, ids: range | list[int], *, lang: str = "en", blocked: bool = False
) -> None:
    await db.execute(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode, ad_count,"
        " ad_cooldown, blocked_at) SELECT i, 0, $2, NULL, false, 0, 0, $3"
        " FROM unnest($1::bigint[]) AS i",
        list(ids),
        lang,
        1 if blocked else None,
    )


@pytest.fixture
async def cdb(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(
        "TRUNCATE tt_storage_campaigns, tt_storage_campaign_chunks, tt_storage_bot_budget"
    )
    return db


async def count_campaigns(db: asyncpg.Connection) -> int:
    n: int = await db.fetchval("SELECT count(*) FROM tt_storage_campaigns")
    return n


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"rate": 0}, ValueError),
        ({"rate": -5}, ValueError),
        ({"rate": math.nan}, ValueError),
        ({"rate": math.inf}, ValueError),
        ({"rate": "25"}, TypeError),
        ({"rate": 5_000}, ValueError),
        ({"start_at": time.time() - 3600}, ValueError),
        ({"start_at": "tomorrow"}, TypeError),
        ({"copy_from": None}, ValueError),  # neither source
        ({"sender": "promo"}, ValueError),  # both sources
        ({"audience": "groups"}, ValueError),
        ({"languages": "en"}, TypeError),
        ({"languages": []}, ValueError),
        ({"copy_from": (5, 0)}, ValueError),
        ({"copy_from": (5,)}, TypeError),
        ({"copy_from": None, "sender": "nope", "known_senders": {"promo"}}, ValueError),
        ({"copy_from": None, "sender": ""}, ValueError),
    ],
)
async def test_bad_campaigns_are_refused_at_creation(
    cdb: asyncpg.Connection, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    args: dict[str, Any] = {"copy_from": (7, 11), **kwargs}
    with pytest.raises(error):
        await c.create_campaign(BOT, **args)
    assert await count_campaigns(cdb) == 0


async def test_bad_bot_id_is_refused(cdb: asyncpg.Connection) -> None:
    for bot in (0, -5, "42", 2**63):
        with pytest.raises((TypeError, ValueError)):
            await c.create_campaign(bot, copy_from=(7, 11))  # type: ignore[arg-type]
    assert await count_campaigns(cdb) == 0


async def test_recipients_are_fixed_when_the_campaign_starts(cdb: asyncpg.Connection) -> None:
    await add_chats(cdb, range(1, 2_501))  # private chats
    await add_chats(cdb, range(2_501, 2_601), blocked=True)
    await add_chats(cdb, range(2_601, 2_701), lang="uk")
    await add_chats(cdb, [-5, -1001])  # groups
    private = await c.create_campaign(BOT, copy_from=(7, 11))
    everyone = await c.create_campaign(BOT, copy_from=(7, 11), audience="all")
    ukrainian = await c.create_campaign(BOT, copy_from=(7, 11), languages=["uk"])
    await add_chats(cdb, range(10_000, 10_010))  # registered after the start: not included

    status = await c.get_campaign(private)
    assert status is not None and status.state == "running" and status.total == 2_600
    rows = await cdb.fetch(
        "SELECT chunk, chat_ids FROM tt_storage_campaign_chunks WHERE campaign_id = $1"
        " ORDER BY chunk",
        private,
    )
    assert [len(r["chat_ids"]) for r in rows] == [1_000, 1_000, 600]
    ids = [i for r in rows for i in r["chat_ids"]]
    assert ids == sorted(ids) and set(ids) == set(range(1, 2_501)) | set(range(2_601, 2_701))
    assert (await c.get_campaign(everyone)).total == 2_602  # type: ignore[union-attr]
    assert (await c.get_campaign(ukrainian)).total == 100  # type: ignore[union-attr]


async def test_a_campaign_with_nobody_to_reach_is_done_at_once(cdb: asyncpg.Connection) -> None:
    await add_chats(cdb, range(1, 5), blocked=True)
    campaign = await c.create_campaign(BOT, copy_from=(7, 11))
    status = await c.get_campaign(campaign)
    assert status is not None and (status.state, status.total) == ("done", 0)
    assert await c.claim_chunk(BOT, "w", 30) is None


async def test_a_scheduled_campaign_starts_when_due(cdb: asyncpg.Connection) -> None:
    await add_chats(cdb, range(1, 11))
    campaign = await c.create_campaign(BOT, copy_from=(7, 11), start_at=time.time() + 1.5)
    status = await c.get_campaign(campaign)
    assert status is not None and status.state == "scheduled"
    assert await c.start_due_campaigns(BOT) == []
    assert await c.claim_chunk(BOT, "w", 30) is None
    await add_chats(cdb, range(11, 21))  # before the start: included
    await asyncio.sleep(status.start_at - time.time() + 0.1)  # whole seconds, rounded up
    assert await c.start_due_campaigns(BOT) == [campaign]
    assert await c.start_due_campaigns(BOT) == []  # started once
    assert (await c.get_campaign(campaign)).total == 20  # type: ignore[union-attr]


async def test_concurrent_claims_take_different_chunks(cdb: asyncpg.Connection) -> None:
    await add_chats(cdb, range(1, 10_001))
    await c.create_campaign(BOT, copy_from=(7, 11))
    claims = await asyncio.gather(*(c.claim_chunk(BOT, f"w{i}", 30) for i in range(25)))
    got = [ch for ch in claims if ch is not None]
    assert len(got) == 10 and len({ch.id for ch in got}) == 10
    assert sum(len(ch.chat_ids) for ch in got) == 10_000


async def test_a_dead_workers_chunk_is_resumed_where_it_stopped(cdb: asyncpg.Connection) -> None:
    await add_chats(cdb, range(1, 101))
    campaign = await c.create_campaign(BOT, copy_from=(7, 11))
    first = await c.claim_chunk(BOT, "dead", 0.5)
    assert first is not None and first.position == 0
    assert await c.record_progress(first.id, "dead", 10, [10, 0, 0, 0, 0], 0.5) is not None
    assert await c.claim_chunk(BOT, "alive", 30) is None  # the lease is still live
    await asyncio.sleep(0.7)  # the dead worker stops renewing
    second = await c.claim_chunk(BOT, "alive", 30)
    assert second is not None and (second.id, second.position) == (first.id, 10)
    # The first worker, should it wake up, has lost the chunk: it learns so at its next record.
    assert await c.record_progress(first.id, "dead", 11, [1, 0, 0, 0, 0], 30) is None
    assert await c.record_progress(second.id, "alive", 100, [90, 0, 0, 0, 0], 30) == (
        "running",
        0.0,
    )
    assert await c.finish_campaign(campaign)
    status = await c.get_campaign(campaign)
    assert status is not None and (status.state, status.sent, status.processed) == (
        "done",
        100,
        100,
    )


async def test_pause_resume_cancel(cdb: asyncpg.Connection) -> None:
    await add_chats(cdb, range(1, 2_001))
    campaign = await c.create_campaign(BOT, copy_from=(7, 11))
    chunk = await c.claim_chunk(BOT, "w", 30)
    assert chunk is not None
    assert await c.pause_campaign(campaign)
    assert not await c.pause_campaign(campaign)  # already paused
    # The worker learns at its next record, and nobody may claim a paused campaign's chunks.
    assert await c.record_progress(chunk.id, "w", 1, [1, 0, 0, 0, 0], 30) == ("paused", 0.0)
    await c.release_chunk(chunk.id, "w")
    assert await c.claim_chunk(BOT, "w2", 30) is None
    assert await c.resume_campaign(campaign)
    again = await c.claim_chunk(BOT, "w2", 30)
    assert again is not None and (again.id, again.position) == (chunk.id, 1)
    assert await c.cancel_campaign(campaign)
    assert not await c.resume_campaign(campaign) and not await c.cancel_campaign(campaign)
    assert await c.record_progress(again.id, "w2", 2, [1, 0, 0, 0, 0], 30) == ("cancelled", 0.0)
    assert (await c.get_campaign(campaign)).state == "cancelled"  # type: ignore[union-attr]


async def test_unknown_campaigns(cdb: asyncpg.Connection) -> None:
    assert await c.get_campaign(12345) is None
    assert not await c.pause_campaign(12345)
    assert not await c.cancel_campaign(12345)


async def test_the_bots_schedule_is_shared_by_every_reservation(cdb: asyncpg.Connection) -> None:
    await add_chats(cdb, range(1, 3))
    await c.create_campaign(BOT, copy_from=(7, 11))
    rate = 200.0

    async def reserve() -> list[float]:
        first = await c.reserve_slots(BOT, 5, rate)
        return [first + i / rate for i in range(5)]

    slots = sorted(
        s for batch in await asyncio.gather(*(reserve() for _ in range(40))) for s in batch
    )
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert len(slots) == 200 and min(gaps) >= 1 / rate - 1e-6
    # A 429 moves the whole schedule behind the pause.
    await c.pause_bot(BOT, 2.0)
    assert await c.reserve_slots(BOT, 1, rate) >= time.time() + 1.9
