"""``tt-storage adopt``: an existing tt-bot database put under aerich, with index build progress."""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import TextIO

from ...core.errors import StorageError
from ...core.urls import env_db_url
from .. import adopt as adoption
from .common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from .output import ProgressBar

_BLOCKS = re.compile(r"(\d+)/(\d+) blocks")


async def cmd_adopt(args: argparse.Namespace, out: TextIO) -> int:
    url = args.url or env_db_url()
    if not url:
        print("tt-storage adopt: needs the existing database: --url or DB_URL", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    bars: dict[str, ProgressBar] = {}

    def progress(line: str) -> None:
        # Index builds report "building <name> on <table>: <phase>, done/total blocks (p %)".
        match = _BLOCKS.search(line)
        if line.startswith("building ") and match:
            name = line.split(" ", 2)[1]
            bar_ = bars.setdefault(name, ProgressBar(f"  {name}", int(match[2]), interval=2))
            bar_.update(int(match[1]), int(match[2]), note=line.split(": ", 1)[-1].split(",")[0])
            return
        for name, bar_ in list(bars.items()):
            bar_.finish(bar_.total or 0, note="done")
            del bars[name]
        print(f"[{time.monotonic() - started:7.1f} s] {line}", file=sys.stderr, flush=True)

    try:
        applied = await adoption.adopt_database(url, progress=progress)
    except StorageError as exc:
        print(f"tt-storage adopt: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    out.write(("applied: " + ", ".join(applied)) if applied else "nothing to apply")
    out.write("\n")
    return EXIT_OK


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "adopt", parents=[common], help="put an existing tt-bot database under aerich"
    )
    p.set_defaults(run=cmd_adopt)
