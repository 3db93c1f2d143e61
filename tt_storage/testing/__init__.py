"""Testing a bot that uses tt-storage: a fake Telegram Bot API server that a real
``aiogram.Bot`` talks to over HTTP, update builders, a fresh migrated database, and a pytest
plugin (fixtures ``telegram``, ``bot``, ``storage_db``).

Importing this package is cheap: each name loads its module (aiohttp, aiogram, asyncpg) when
first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import texts, updates
    from ._bots import BOT_ID, TOKEN
    from ._faults import Fault
    from ._files import StoredFile
    from ._log import Request, Upload
    from .database import fresh_database
    from .server import FakeTelegram

__all__ = [
    "BOT_ID",
    "TOKEN",
    "FakeTelegram",
    "Fault",
    "Request",
    "StoredFile",
    "Upload",
    "fresh_database",
    "texts",
    "updates",
]

_HOMES = {
    "BOT_ID": "._bots",
    "TOKEN": "._bots",
    "FakeTelegram": ".server",
    "Fault": "._faults",
    "Request": "._log",
    "StoredFile": "._files",
    "Upload": "._log",
    "fresh_database": ".database",
}


def __getattr__(name: str) -> Any:
    if name in ("texts", "updates"):
        return importlib.import_module(f".{name}", __name__)
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
