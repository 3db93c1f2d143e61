"""The example bot's links and its stand-in downloader (nothing is downloaded: placeholder
files), and the media cache's key and variant of a link."""

from __future__ import annotations

import asyncio
import re
import zlib

from tt_storage.media import MediaItem, MediaKey, MediaKind, Produced

# --- links -------------------------------------------------------------------------------------

LINK = re.compile(
    r"https?://(?:(?:www|m|vm|vt)\.)?tiktok\.com/\S+"
    r"|https?://(?:www\.)?instagram\.com/(?:p|reels?|tv)/[\w-]+\S*",
    re.IGNORECASE,
)
_TIKTOK_ID = re.compile(r"/(?:video|photo)/(\d{5,20})")


def is_tiktok(link: str) -> bool:
    return "tiktok.com/" in link.lower()


def is_slideshow(link: str) -> bool:
    """Stand-in for what the downloader learns: TikTok ``/photo/`` and Instagram ``/p/`` posts."""
    lowered = link.lower()
    return "/photo/" in lowered or "instagram.com/p/" in lowered


def video_id_of(link: str) -> int:
    """The TikTok video id (a real bot resolves short links first; here: a stable stand-in)."""
    found = _TIKTOK_ID.search(link)
    return int(found.group(1)) if found else zlib.crc32(link.encode())


# --- the downloader (a stand-in) -----------------------------------------------------------------


class Downloader:
    """What a real bot's extraction does, minus the network: placeholder files for a link.
    ``calls`` counts the extractions (the media cache keeps them to one per link and variant);
    ``delay`` stands for the download's seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.extracted: list[tuple[str, str]] = []  # (key, variant) of each call

    async def extract(self, link: str, variant: str) -> Produced:
        self.calls += 1
        self.extracted.append((str(media_key(link)), variant))
        await asyncio.sleep(self.delay)
        name = video_id_of(link)
        if variant == "audio":
            return Produced([MediaItem("audio", f"music of {link}".encode(), f"{name}.mp3")])
        if variant in ("images", "documents"):
            # 2-15 pictures: past 10 they go as two albums.
            kind: MediaKind = "photo" if variant == "images" else "document"
            count = 2 + zlib.crc32(link.encode()) % 14
            files = [f"{name}_{i}.jpg" for i in range(count)]
            return Produced([MediaItem(kind, f"{f} of {link}".encode(), f) for f in files])
        single: MediaKind = "document" if variant == "document" else "video"
        return Produced([MediaItem(single, f"video of {link}".encode(), f"{name}.mp4")])


def media_key(link: str) -> MediaKey:
    """The media cache's key: the TikTok id (its long and short links are one video), else the
    link without its query string."""
    if is_tiktok(link):
        return ("tiktok", str(video_id_of(link)))
    return ("instagram", link.split("?", 1)[0].rstrip("/").lower())


def variant_of(link: str, file_mode: bool) -> str:
    if is_slideshow(link):
        return "documents" if file_mode else "images"
    return "document" if file_mode else "video"
