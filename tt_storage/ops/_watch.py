"""Running a long job (the migrations) while looking at its progress from elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def run_watched(
    job: Coroutine[Any, Any, T],
    watch: Callable[[], Awaitable[object]],
    interval: float,
    *,
    last_look: bool,
) -> asyncio.Task[T]:
    """Run ``job`` as a task, awaiting ``watch()`` every ``interval`` s while it runs (and once
    more after it ends, with ``last_look``); return the finished task, for its result or error.

    An error raised by ``watch``, or a cancel, cancels the job, waits for it and is raised.
    """
    task = asyncio.create_task(job)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=interval)
            if last_look or not task.done():
                await watch()
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    return task
