"""The README's code, run as written: each Python block is executed, and a block that builds a
``Dispatcher`` is fed a text message, a sticker and a photo (the storage is already open on the
test database, so the dispatcher is never started)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher
from aiogram.methods import SendMessage

from tests.support import telegram as support_telegram
from tt_storage.testing import updates as events

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.M | re.S)

STICKER = {
    "file_id": "sticker-1",
    "file_unique_id": "s1",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
PHOTO = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 90, "height": 90}]


def test_the_readme_has_python_to_run() -> None:
    assert BLOCKS, "no ```python block found in README.md"


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
async def test_readme_block_runs(code: str, db: asyncpg.Connection) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_block"}
    exec(compile(code, "README.md", "exec"), namespace)
    dp = namespace.get("dp")
    if not isinstance(dp, Dispatcher):
        return
    telegram = support_telegram.server()
    bot = telegram.bot()
    chat = 7_001
    link = "https://www.tiktok.com/@someone/video/7350000000000000001"
    try:
        await dp.feed_update(bot, events.message(chat, link))
        await dp.feed_update(bot, events.message(chat, None, sticker=STICKER))
        await dp.feed_update(bot, events.message(chat, None, photo=PHOTO))
    finally:
        # The storage is the session's: stop only this middleware's listener, not its shutdown.
        await dp["tt_storage"].close()
    rows = await db.fetch("SELECT user_id, video_link FROM videos")
    assert [(r["user_id"], r["video_link"]) for r in rows] == [(chat, link)]
    answers = [c for c in telegram.methods() if isinstance(c, SendMessage)]
    assert len(answers) == 1 and answers[0].chat_id == chat
