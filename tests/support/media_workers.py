"""Running ``tests.support.media_worker`` processes: start them, start them together, read what
they print."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from typing import Any

Process = asyncio.subprocess.Process


async def spawn(config: dict[str, Any]) -> Process:
    """A worker process, connected and waiting for ``go``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.media_worker",
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        assert (await proc.stdout.readline()).strip() == b"ready"
    return proc


async def go(*workers: Process) -> None:
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()


async def line(worker: Process, within: float = 60) -> str:
    """The worker's next line of output (``AssertionError`` at its end)."""
    assert worker.stdout is not None
    async with asyncio.timeout(within):
        text = await worker.stdout.readline()
    assert text, "the worker ended"
    return text.decode().strip()


async def report(worker: Process, within: float = 120) -> dict[str, Any]:
    """The worker's final JSON line (skipping its ``producing`` lines) once it has exited."""
    while True:
        text = await line(worker, within)
        if text.startswith("{"):
            break
        assert text == "producing", text
    async with asyncio.timeout(within):
        assert await worker.wait() == 0
    result: dict[str, Any] = json.loads(text)
    return result


async def stop(*workers: Process) -> None:
    for worker in workers:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


def percentiles(waits: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``waits``, in milliseconds."""
    cuts = statistics.quantiles(waits, n=100, method="inclusive")
    return statistics.median(waits) * 1000, cuts[98] * 1000
