"""Active chats: which chats used the bot on which UTC day (``tt_storage_activity``).

Granularity is the UTC day: a chat has at most one row a day, written by the middleware on the
chat's first update of the day in each process (``ActivityMarks`` remembers the chats it wrote
today; a second process's write is a no-op ``INSERT … ON CONFLICT DO NOTHING``). The windows of
the figures are whole UTC days ending today: 24 h is today so far, a week the last 7 days, a
month the last 31 (``window_days``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core import db, sql, validate
from .clock import now

DAY = 86_400

#: How many chats ``ActivityMarks`` remembers before it starts over (about 60 bytes each).
MAX_MARKS = 200_000


def day_start(t: int) -> int:
    """The start (epoch seconds) of the UTC day holding ``t``."""
    return t - t % DAY


def window_days(period: int) -> int:
    """How many UTC days, today included, the activity window of ``period`` seconds spans."""
    return max(1, math.ceil(period / DAY))


class ActivityMarks:
    """The chats this process recorded as active today: one write per chat per day.

    ``claim`` is synchronous, so of a burst of concurrent updates of one chat only the first
    writes; ``release`` gives the claim back when its write failed. Bounded: past ``max_marks``
    chats it starts over (a chat written again costs a no-op INSERT, never a second row).
    """

    def __init__(self, max_marks: int = MAX_MARKS) -> None:
        self.max_marks = max_marks
        self._day = -1
        self._marks: set[int] = set()

    def claim(self, chat_id: int, day: int) -> bool:
        """Whether the caller should record ``chat_id`` for ``day`` (it now counts as done)."""
        if day != self._day:
            self._day, self._marks = day, set()
        if chat_id in self._marks:
            return False
        if len(self._marks) >= self.max_marks:
            self._marks.clear()
        self._marks.add(chat_id)
        return True

    def release(self, chat_id: int) -> None:
        self._marks.discard(chat_id)

    def __len__(self) -> int:
        return len(self._marks)


async def record_activity(chat_id: int, at: int | None = None) -> bool:
    """Record that the chat used the bot on the UTC day of ``at`` (default: now); ``True`` if
    this call wrote the row (``False``: already recorded, or the chat is not registered).

    The middleware calls it once a day per chat; call it yourself for activity that does not go
    through it (a webhook of your own, a chat you register by hand).
    """
    chat = validate.chat_id(chat_id)
    day = day_start(now() if at is None else validate.positive_int(at, "at"))
    return await db.execute(sql.RECORD_ACTIVITY, chat, day) > 0


async def last_active(chat_id: int) -> int | None:
    """The start (epoch seconds) of the last UTC day the chat was recorded active, or ``None``."""
    value = await db.fetchval(sql.LAST_ACTIVE, validate.chat_id(chat_id))
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class ActiveChats:
    """Chats active in a window of whole UTC days ending today (``days``; 0: all time).

    ``new_active_chats`` were registered in the window, ``returning_chats`` before it (or at an
    unknown time). ``retained_chats``: of the ``previous_active_chats`` (active in the window of
    as many days just before), those active in this one. All time: only ``active_chats``.
    """

    days: int
    active_chats: int
    new_active_chats: int
    previous_active_chats: int
    retained_chats: int

    @property
    def returning_chats(self) -> int:
        return self.active_chats - self.new_active_chats

    @property
    def retention(self) -> float | None:
        """``retained_chats / previous_active_chats`` (``None`` when that window had none)."""
        if self.previous_active_chats == 0:
            return None
        return self.retained_chats / self.previous_active_chats
