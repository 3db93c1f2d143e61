"""``tt-storage``: the operator's command line — stats, series, exports, migrations, adoption, a
health check, the media cache, broadcast campaigns.

The database is ``--url``, else ``DB_URL``; the embedded PostgreSQL only with ``--embedded``
(without any of them a command exits 2 saying so). A URL is only ever printed with its password
redacted. Progress goes to stderr (a redrawn bar on a terminal, a line every few seconds
otherwise), results to stdout.

This module parses the arguments and runs one command; each command is a module of its own
(``stats``, ``series``, ``export``, ``adopt``, ``migrate``, ``doctor``, ``media``,
``broadcast``) that adds its parser. What they print is ``output``; the database they run on,
``common``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from ...core.embedded import DATA_DIR_ENV, DEFAULT_DATA_DIR, data_dir
from ...core.errors import StorageError
from ...core.urls import DB_URL_ENV, env_db_url
from . import adopt, broadcast, doctor, export, forget, media, migrate, series, stats
from .common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE

#: The commands in the order ``--help`` lists them: each module adds its own parser.
COMMANDS = (stats, series, export, forget, adopt, migrate, doctor, media, broadcast)


def build_parser() -> argparse.ArgumentParser:
    url_help = "database URL (default: $DB_URL)"
    embedded_help = (
        f"without --url or ${DB_URL_ENV}: the embedded PostgreSQL (data in ${DATA_DIR_ENV}, "
        f"default {DEFAULT_DATA_DIR}), started if need be"
    )
    parser = argparse.ArgumentParser(
        prog="tt-storage",
        description="tt-storage operator tools: stats, series, exports, migrations, adoption, "
        "a health check.",
    )
    wait_help = (
        "wait up to SECONDS for the database server to answer, retrying with backoff "
        "(default: $TT_STORAGE_CONNECT_WAIT, else no wait)"
    )
    parser.add_argument("--url", help=url_help)
    parser.add_argument("--embedded", action="store_true", help=embedded_help)
    parser.add_argument("--wait", type=float, metavar="SECONDS", help=wait_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=url_help)
    common.add_argument(
        "--wait", type=float, metavar="SECONDS", default=argparse.SUPPRESS, help=wait_help
    )
    common.add_argument(
        "--embedded", action="store_true", default=argparse.SUPPRESS, help=embedded_help
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS:
        command.add_parser(sub, common)
    return parser


async def run(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Parse ``argv`` and run the command in the running event loop; return the exit status."""
    args = build_parser().parse_args(argv)
    out = stdout if stdout is not None else sys.stdout
    if not (args.url or env_db_url() or args.embedded):
        print(
            f"tt-storage {args.command}: which database? Pass --url "
            f"postgresql://USER:PASSWORD@HOST:5432/DBNAME, or set {DB_URL_ENV}, or --embedded "
            f"for the embedded PostgreSQL (in {data_dir()})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        await _wait_for_server(args)
        status: int = await args.run(args, out)
    except StorageError as exc:
        print(f"tt-storage {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    return status


async def _wait_for_server(args: argparse.Namespace) -> None:
    """``--wait SECONDS`` (default ``TT_STORAGE_CONNECT_WAIT``, else none): until the server of
    ``--url``/``DB_URL`` answers, logging each failed attempt to stderr."""
    from ...core import startup

    wait = startup.connect_wait(getattr(args, "wait", None))
    url = args.url or env_db_url()
    if wait and url:
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.WARNING, format="tt-storage: %(message)s")
        await startup.wait_for_server(url, wait, connect_timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``tt-storage`` console script; returns the exit status."""
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tt-storage export users | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
