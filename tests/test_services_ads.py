"""The ad rule: should_show_ad, record_ad_show, increase_ad_count, claim_ad_slot."""

from __future__ import annotations

import time

import asyncpg

import tt_storage as tt
from tt_storage.services import ads


async def ad_state(db: asyncpg.Connection, chat: int) -> tuple[int, int]:
    row = await db.fetchrow("SELECT ad_count, ad_cooldown FROM users WHERE user_id = $1", chat)
    assert row is not None
    return row[0], row[1]


async def set_ad_state(db: asyncpg.Connection, chat: int, count: int, cooldown: int) -> None:
    await db.execute(
        "UPDATE users SET ad_count = $2, ad_cooldown = $3 WHERE user_id = $1", chat, count, cooldown
    )


def test_rule_constants() -> None:
    assert (ads.AD_EVERY, ads.AD_COOLDOWN) == (3, 86_400)


# --- should_show_ad -----------------------------------------------------------------------------


async def test_should_show_ad_unknown_chat_is_false(db: asyncpg.Connection) -> None:
    assert await tt.should_show_ad(404) is False
    assert await tt.should_show_ad(-404) is False
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_should_show_ad_rule(db: asyncpg.Connection) -> None:
    future = int(time.time()) + 3600
    await tt.create_user(1, "en")
    # A fresh chat: cooldown 0 is in the past.
    assert await tt.should_show_ad(1) is True
    await set_ad_state(db, 1, 2, future)
    assert await tt.should_show_ad(1) is False
    await set_ad_state(db, 1, 3, future)
    assert await tt.should_show_ad(1) is True
    await set_ad_state(db, 1, 1, int(time.time()) - 1)  # cooldown expired
    assert await tt.should_show_ad(1) is True
    # Read only: nothing changed.
    assert (await ad_state(db, 1))[0] == 1


async def test_should_show_ad_group_chat(db: asyncpg.Connection) -> None:
    await tt.create_user(-100, "en")
    await set_ad_state(db, -100, 0, int(time.time()) + 100)
    assert await tt.should_show_ad(-100) is False


# --- record_ad_show -----------------------------------------------------------------------------


async def test_record_ad_show(db: asyncpg.Connection) -> None:
    await tt.create_user(2, "en")
    await set_ad_state(db, 2, 7, 0)
    before = int(time.time())
    await tt.record_ad_show(2)
    after = int(time.time())
    count, cooldown = await ad_state(db, 2)
    assert count == 1
    assert before + 86_400 <= cooldown <= after + 86_400
    assert await tt.should_show_ad(2) is False


async def test_record_ad_show_unknown_chat_writes_nothing(db: asyncpg.Connection) -> None:
    await tt.record_ad_show(3)
    assert await db.fetchval("SELECT count(*) FROM users") == 0


# --- increase_ad_count --------------------------------------------------------------------------


async def test_increase_ad_count(db: asyncpg.Connection) -> None:
    await tt.create_user(-4, "en")
    await set_ad_state(db, -4, 0, 123)
    for expected in (1, 2, 3):
        await tt.increase_ad_count(-4)
        assert await ad_state(db, -4) == (expected, 123)


async def test_increase_ad_count_unknown_chat_writes_nothing(db: asyncpg.Connection) -> None:
    await tt.increase_ad_count(5)
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_seed_pattern_should_show_then_record_or_increase(db: asyncpg.Connection) -> None:
    # The seed's handler flow, sequentially: downloads 1, 4, 7, … show an ad.
    await tt.create_user(6, "en")
    shown = []
    for _ in range(10):
        if await tt.should_show_ad(6):
            await tt.record_ad_show(6)
            shown.append(True)
        else:
            await tt.increase_ad_count(6)
            shown.append(False)
    assert shown == [i % 3 == 0 for i in range(10)]


# --- claim_ad_slot ------------------------------------------------------------------------------


async def test_claim_ad_slot_unknown_chat_is_false_and_writes_nothing(
    db: asyncpg.Connection,
) -> None:
    assert await tt.claim_ad_slot(8) is False
    assert await tt.claim_ad_slot(-8) is False
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_claim_ad_slot_sequential_pattern(db: asyncpg.Connection) -> None:
    await tt.create_user(9, "en")
    before = int(time.time())
    results = [await tt.claim_ad_slot(9) for _ in range(10)]
    after = int(time.time())
    assert results == [True, False, False, True, False, False, True, False, False, True]
    count, cooldown = await ad_state(db, 9)
    assert count == 1  # the 10th download showed one
    assert before + 86_400 <= cooldown <= after + 86_400


async def test_claim_ad_slot_first_claim_records_the_show(db: asyncpg.Connection) -> None:
    await tt.create_user(10, "en")
    before = int(time.time())
    assert await tt.claim_ad_slot(10) is True
    after = int(time.time())
    count, cooldown = await ad_state(db, 10)
    assert count == 1
    assert before + 86_400 <= cooldown <= after + 86_400
    assert await tt.claim_ad_slot(10) is False
    assert await ad_state(db, 10) == (2, cooldown)  # a plain count: the cooldown is kept


async def test_claim_ad_slot_expired_cooldown(db: asyncpg.Connection) -> None:
    await tt.create_user(11, "en")
    assert await tt.claim_ad_slot(11) is True
    assert await tt.claim_ad_slot(11) is False
    # 24 h later (the cooldown lies in the past), with only 2 downloads since the last ad.
    await set_ad_state(db, 11, 2, int(time.time()) - 10)
    assert await tt.claim_ad_slot(11) is True
    count, cooldown = await ad_state(db, 11)
    assert count == 1 and cooldown > time.time() + 86_000


async def test_claim_ad_slot_agrees_with_should_show_ad(db: asyncpg.Connection) -> None:
    await tt.create_user(-12, "en")
    for _ in range(7):
        predicted = await tt.should_show_ad(-12)
        assert await tt.claim_ad_slot(-12) is predicted
