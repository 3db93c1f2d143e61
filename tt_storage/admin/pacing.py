"""The broadcast's pace: one send slot every ``1 / rate`` s for the whole bot, and a pause
everyone waits behind (a 429's ``retry_after``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pacer:
    """A monotonic schedule: one slot every ``1 / rate`` s, no bursts, and a global pause."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = clock()
        self._paused_until = 0.0

    async def acquire(self) -> None:
        """Wait for this caller's slot (slots are handed out in call order)."""
        while True:
            now = self._clock()
            start = max(self._next, now, self._paused_until)
            self._next = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)
            # A pause that began while this caller slept moves it behind the pause.
            if self._clock() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        """Nobody gets a slot for ``seconds`` from now (longer pauses win)."""
        self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))
