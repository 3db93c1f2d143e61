"""The media cache's tables, emptied between tests."""

from __future__ import annotations

import asyncpg

from tt_storage.media import lookup_media


async def clear_media(raw: asyncpg.Connection) -> None:
    """No media entries and no file sets."""
    await lookup_media("warm-up", 1, "video")  # BRANCH SHIM: creates its table on first use
    await raw.execute("TRUNCATE shim_media")
