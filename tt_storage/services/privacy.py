"""Forgetting a chat: every row tt-storage keeps for it, in one transaction.

Removed: the chat's ``users`` row (settings, referral, ad state, block time), its ``videos`` and
``music`` rows, its active days (``tt_storage_activity``, also under the ids of groups that
migrated to it), the FSM rows naming it as the chat or the user, and the group -> supergroup
records pointing to or from it; its cached settings are dropped in every process (the delete
trigger's NOTIFY, and at once in this one). The hourly download rollup loses the chat's counts
in the same transaction. Rows of the application's own tables are the application's: a
foreign key to ``users`` with ON DELETE CASCADE is deleted along (same transaction), one with
RESTRICT or NO ACTION (Tortoise's ``on_delete=RESTRICT``/``NO_ACTION``) makes ``forget_chat``
raise ``StorageError`` and remove nothing — delete those rows first.

A concurrent update of the chat either finishes before (its rows are forgotten too) or after
(it registers the chat afresh, as new): the chat's row is locked first, and every write of a
chat's rows takes that lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..core import cache, db, sql, validate

log = logging.getLogger("tt_storage")


@dataclass(frozen=True, slots=True)
class ForgottenChat:
    """How many rows ``forget_chat`` removed, per kind (``users`` 0: the chat was unknown)."""

    users: int
    videos: int
    music: int
    activity: int
    fsm: int
    migrations: int

    @property
    def total(self) -> int:
        return self.users + self.videos + self.music + self.activity + self.fsm + self.migrations


async def forget_chat(chat_id: int) -> ForgottenChat:
    """Remove every row tt-storage keeps for ``chat_id`` (see the module's docstring), in one
    transaction; its cached settings go in every process. Idempotent: an unknown chat costs
    nothing and returns zeros. The next update of the chat registers it afresh (``is_new``)."""
    chat = validate.chat_id(chat_id)
    try:
        async with db.connection() as conn, conn.transaction():
            # The fold's locks, in its order, then the chat's row: downloads in flight for it
            # finish first (their foreign-key check holds KEY SHARE), new ones wait for commit.
            for table in ("videos", "music"):
                await conn.execute(sql.ROLLUP_LOCK[table])
                await conn.execute(sql.ROLLUP_ADVISORY_LOCK, table)
            await conn.execute(sql.LOCK_CHATS, [chat])
            await conn.execute(sql.ROLLUP_ADJUSTED)
            downloads = {}
            for table in ("videos", "music"):
                folded = await conn.fetchval(sql.ROLLUP_FOLDED, table) or 0
                downloads[table] = await conn.fetchval(sql.FORGET_DOWNLOADS[table], chat, folded)
            row = await conn.fetchrow(sql.FORGET_CHAT, chat)
    finally:
        cache.invalidate(chat)
    assert row is not None
    result = ForgottenChat(
        users=row["users"],
        videos=downloads["videos"],
        music=downloads["music"],
        activity=row["activity"],
        fsm=row["fsm"],
        migrations=row["migrations"],
    )
    log.info("chat %d forgotten (%d rows)", chat, result.total)
    return result
