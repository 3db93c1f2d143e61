"""The ad frequency rule: an ad on downloads 1, 4, 7, … and after 24 h without one."""

from __future__ import annotations

from ..core import db, sql
from ..core.db import RESOLVE_RETRIES
from ..core.user_settings import ChatRef, chat_ref
from .clock import now

#: An ad is due once this many downloads passed since the last one…
AD_EVERY = 3
#: …or once this many seconds passed since it was shown.
AD_COOLDOWN = 86_400


async def should_show_ad(user_id: ChatRef) -> bool:
    """Whether an ad is due (read only); ``False`` for an unknown chat."""
    due = await db.fetchval(sql.SHOULD_SHOW_AD, chat_ref(user_id), now(), AD_EVERY)
    return bool(due)


async def record_ad_show(user_id: ChatRef) -> None:
    """An ad was shown: the counter restarts at 1 and the 24 h cooldown starts now."""
    await db.execute(sql.RECORD_AD_SHOW, chat_ref(user_id), now(), AD_COOLDOWN)


async def increase_ad_count(user_id: ChatRef) -> None:
    """One more download without an ad (one atomic UPDATE)."""
    await db.execute(sql.INCREASE_AD_COUNT, chat_ref(user_id))


async def claim_ad_slot(user_id: ChatRef) -> bool:
    """Decide and record in one statement; ``True``: show an ad now. Unknown chat: ``False``."""
    show = await db.fetchval(sql.CLAIM_AD_SLOT, chat_ref(user_id), now(), AD_EVERY, AD_COOLDOWN)
    return bool(show)


async def claim_after_download(chat_id: int) -> bool:
    """``claim_ad_slot`` for a chat a download was just written for, so its row exists: finding
    none means a ``migrate_chat`` deleted it after the claim's snapshot was taken (the claim
    waited for the migration's lock, then found the old row gone). The claim is run again; its
    new snapshot resolves the old id to the new one, so the decision is not lost."""
    for _ in range(RESOLVE_RETRIES + 1):
        show = await db.fetchval(sql.CLAIM_AD_SLOT, chat_id, now(), AD_EVERY, AD_COOLDOWN)
        if show is not None:
            return bool(show)
    return False
