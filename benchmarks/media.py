"""The media cache's database work: tt-storage's services next to raw asyncpg running the same
statements (``tt_storage.core.sql_media``, ``sql.ADD_VIDEO_LINKED``) on its own pool, with none
of the argument checks, key normalization, JSON decoding of the files or error translation.

Same process, same interleaving as the FSM section (``fsm.interleaved``). The hit path is what
a cached link costs the database: the lookup, then the download recorded with its link.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import tt_storage
from tt_storage import media
from tt_storage.core import sql, sql_media

from . import raw
from .database import asyncpg_dsn
from .fsm import FsmRow, Op, interleaved

IMPLS = ("raw", "tt")
LABELS = {"raw": "raw asyncpg, same statements", "tt": "tt-storage"}
#: The issue's target for the hit path.
MAX_HIT_OVER_RAW = 1.25
BOT = 42
KEYS = 200
CHATS = 50
BASE = 800_000_000  # private chats of this section
LINK = "https://www.tiktok.com/@bench/video/7300000000000000001"
FILES = tuple(
    media.MediaFile("photo", f"AgACAgIAAxkBAAIB{i:04d}", f"AQAD{i:04d}") for i in range(3)
)
FILES_JSON = json.dumps(
    [{"kind": f.kind, "file_id": f.file_id, "file_unique_id": f.file_unique_id} for f in FILES]
)


def _key(i: int) -> tuple[str, str]:
    return ("tiktok", str(7_300_000_000_000_000_000 + i % KEYS))


async def run_media_suite(
    url: str,
    rounds: int,
    per_round: int,
    progress: Callable[[str], None] | None = None,
    warmup: int = 20,
) -> list[FsmRow]:
    """The media rows, on the database tt-storage is initialised with (``url``)."""
    say = progress or (lambda _m: None)
    # raw.create_pool: no reset query on release, as tt-storage (one round trip per statement).
    pool = await raw.create_pool(asyncpg_dsn(url), 2)
    try:
        for i in range(KEYS):
            await media.store_media(_key(i), BOT, "images", FILES)
        for i in range(CHATS):
            await tt_storage.register_user(BASE + i, "en")

        async def raw_lookup(i: int) -> Any:
            key = media.media_key(_key(i))
            return await pool.fetchrow(sql_media.MEDIA_LOOKUP, key, BOT, "images")

        async def tt_lookup(i: int) -> Any:
            return await media.lookup_media(_key(i), BOT, "images")

        async def raw_hit(i: int) -> None:
            row = await raw_lookup(i)
            await pool.fetchrow(
                sql.ADD_VIDEO_LINKED, BASE + i % CHATS, int(time.time()), "en", LINK, True, False,
                False, row["id"], True,
            )  # fmt: skip

        async def tt_hit(i: int) -> None:
            found = await tt_lookup(i)
            assert found is not None
            await tt_storage.add_video(BASE + i % CHATS, LINK, True, media_id=found.media_id,
                                       cache_hit=True)  # fmt: skip

        async def raw_store(i: int) -> None:
            await pool.fetchrow(
                sql_media.MEDIA_STORE, media.media_key(_key(i)), BOT, "images", FILES_JSON, None,
                int(time.time()),
            )  # fmt: skip

        async def tt_store(i: int) -> None:
            await media.store_media(_key(i), BOT, "images", FILES)

        rows = []
        cases: list[tuple[str, dict[str, Op]]] = [
            ("lookup_media, hit (one SELECT)", {"raw": raw_lookup, "tt": tt_lookup}),
            ("hit path: lookup + add_video(media_id, cache_hit)", {"raw": raw_hit, "tt": tt_hit}),
            (
                "store_media (a 3-file set replaced, version + 1)",
                {"raw": raw_store, "tt": tt_store},
            ),
        ]
        for title, ops in cases:
            say(f"  media: {title}")
            rows.append(await interleaved(title, ops, rounds, per_round, warmup))
        return rows
    finally:
        await pool.close()


def render_media(rows: list[FsmRow]) -> str:
    lines = [
        f"Media cache database work ({LABELS['tt']} vs {LABELS['raw']}), µs/op: median (p90)."
        " tt/raw = tt-storage's time / raw's.",
        "",
        f"| row | {LABELS['raw']} | {LABELS['tt']} | tt/raw |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        cells = " | ".join(f"{row.median(i):,.1f} ({row.p90(i):,.0f})" for i in IMPLS)
        lines.append(f"| {row.title} | {cells} | {row.median('tt') / row.median('raw'):.2f}x |")
    hit = next(r for r in rows if r.title.startswith("hit path"))
    ratio = hit.median("tt") / hit.median("raw")
    mark = "ok" if ratio <= MAX_HIT_OVER_RAW else "MISSED"
    lines += ["", f"  [{mark}] hit path <= {MAX_HIT_OVER_RAW}x raw asyncpg: {ratio:.2f}x"]
    return "\n".join(lines)
