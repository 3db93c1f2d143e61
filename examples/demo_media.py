"""The demo's media side: the offline Bot API's answers to media sends (file_ids minted for
uploads, taken back when sent again), the crowd's popular links, and the media cache's numbers
checked against the database."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiogram.methods import (
    SendAnimation,
    SendAudio,
    SendDocument,
    SendMediaGroup,
    SendPhoto,
    SendVideo,
    SendVoice,
    TelegramMethod,
)
from downloader import Downloader

import tt_storage as tt

_SINGLE: dict[type[TelegramMethod[Any]], str] = {
    SendVideo: "video",
    SendPhoto: "photo",
    SendAudio: "audio",
    SendDocument: "document",
    SendAnimation: "animation",
    SendVoice: "voice",
}
_minted = itertools.count(1)


def _file(kind: str, media: Any) -> Any:
    """Telegram's file object for what was sent: the same file_id when sent by file_id, a new
    one for an upload."""
    file_id = media if isinstance(media, str) else f"{kind}-{next(_minted)}"
    file = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
    if kind == "photo":
        return [file | {"width": 1080, "height": 1350}]
    if kind in ("video", "animation"):
        return file | {"width": 1080, "height": 1920, "duration": 15}
    if kind in ("audio", "voice"):
        return file | {"duration": 30}
    return file


def media_result(method: TelegramMethod[Any], message: dict[str, Any]) -> Any:
    """The answer to a media send (``message`` is the plain one), or ``None`` for any other."""
    if isinstance(method, SendMediaGroup):
        first = message["message_id"]
        return [
            message
            | {"message_id": first + i, "media_group_id": f"g{first}"}
            | {item.type: _file(item.type, item.media)}
            | ({"caption": item.caption} if item.caption else {})
            for i, item in enumerate(method.media)
        ]
    kind = _SINGLE.get(type(method))
    if kind is None:
        return None
    return message | {kind: _file(kind, getattr(method, kind))}


class PopularLinks:
    """The links a crowd passes around: a few go viral (Zipf-like weights), most are seen once."""

    def __init__(
        self, rng: random.Random, make: Callable[[], str], size: int = 60, share: float = 0.55
    ) -> None:
        self.rng, self.share = rng, share
        self.links = [make() for _ in range(size)]
        self.weights = [1 / (rank + 1) for rank in range(size)]

    def pick(self, make: Callable[[], str]) -> str:
        if self.rng.random() < self.share:
            return self.rng.choices(self.links, self.weights)[0]
        return make()


async def media_numbers(
    downloader: Downloader, user_range: tuple[int, int], group_range: tuple[int, int]
) -> tuple[bool, list[str]]:
    """The cache's hit rate and the produce calls it saved, as the database recorded them,
    against the downloader's own count."""
    hits = misses = 0
    for model in (tt.Video, tt.Music):
        for low, high in (user_range, group_range):
            rows = model.filter(user_id__gte=low, user_id__lte=high)
            hits += await rows.filter(cache_hit=True).count()
            misses += await rows.filter(cache_hit=False).count()
    total = hits + misses
    twice = sum(1 for n in Counter(downloader.extracted).values() if n > 1)
    ok = misses == downloader.calls and twice == 0 and total > 0
    rate = 100 * hits / total if total else 0.0
    return ok, [
        f"media cache: {total} media downloads recorded, {hits} sent by file_id: hit rate "
        f"{rate:.1f}%, {hits} produce calls saved",
        f"produce calls: {downloader.calls} by the downloader = {misses} downloads the "
        f"database holds as misses; links extracted twice: {twice}",
    ]
