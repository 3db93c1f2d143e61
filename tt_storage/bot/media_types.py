"""What a bot's ``produce`` returns, what sending through the media cache answers, and the
rules both follow (album split, dead file_ids). No aiogram here: importing it stays cheap."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..services.media import KINDS, CachedMedia

if TYPE_CHECKING:
    from aiogram.types import InputFile, Message

MediaKind = Literal["video", "photo", "audio", "document", "animation", "voice"]
assert frozenset(get_args(MediaKind)) == KINDS  # the kinds the store accepts

#: Telegram's limit of items in one album (sendMediaGroup).
ALBUM_LIMIT = 10

#: Kinds an album may hold together: photos with videos, or audio only, or documents only.
#: Animations and voice notes never go into an album.
_ALBUM_GROUPS = (frozenset({"photo", "video"}), frozenset({"audio"}), frozenset({"document"}))


class MediaProduceError(ValueError):
    """``produce`` returned nothing sendable: nothing was sent or stored."""


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One file to upload. ``source``: ``bytes`` (with ``filename``), a ``pathlib.Path``, a URL
    (``str``: Telegram fetches it itself), or any aiogram ``InputFile``."""

    kind: MediaKind
    source: bytes | Path | str | InputFile
    filename: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MediaProduceError(f"kind must be one of {sorted(KINDS)}, not {self.kind!r}")
        if isinstance(self.source, str) and not self.source.startswith(("http://", "https://")):
            raise MediaProduceError(f"a str source must be an http(s) URL, not {self.source!r}")
        if isinstance(self.source, bytes | bytearray) and not self.source:
            raise MediaProduceError("empty bytes: nothing to upload")


@dataclass(frozen=True, slots=True)
class Produced:
    """What ``produce`` returns: the ordered items of one send (one message, or an album split
    by ``album_chunks``), and the ``metadata`` stored with the media entry."""

    items: Sequence[MediaItem]
    metadata: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        items = tuple(self.items) if isinstance(self.items, Sequence) else ()
        if not items or not all(isinstance(item, MediaItem) for item in items):
            raise MediaProduceError("Produced.items must be a non-empty sequence of MediaItem")
        object.__setattr__(self, "items", items)
        check_album([item.kind for item in items])


#: ``produce``: the bot's own extraction, run on a miss (and once more for a dead file_id).
Produce = Callable[[], Awaitable[Produced]]

#: A caption: fixed text, or made from the media's metadata (the stored one on a hit,
#: ``Produced.metadata`` on a miss), so both paths caption alike.
Caption = str | Callable[[Mapping[str, Any] | None], str | None] | None


@dataclass(frozen=True, slots=True)
class Sent:
    """What ``send_cached`` delivered.

    ``messages``: every message of this send, in order. ``media``: the stored set it came from
    or made (``None`` only if a re-produce after a dead file_id changed the set's size midway:
    then nothing was stored). ``cache_hit``: sent by stored file_ids only, no upload.
    ``produced``: this call ran ``produce``. ``waited``: seconds in the single flight.
    """

    messages: tuple[Message, ...]
    media: CachedMedia | None
    cache_hit: bool
    produced: bool
    waited: float = 0.0
    invalidated: bool = False  # a stored file_id was dead: its set was invalidated
    uploads: int = field(default=0)  # items uploaded by this call

    @property
    def track(self) -> dict[str, Any]:
        """``track_download(chat, link, …, **sent.track)``: the media link and ``cache_hit``."""
        return {
            "media_id": None if self.media is None else self.media.media_id,
            "cache_hit": self.cache_hit,
        }


def check_album(kinds: Sequence[str]) -> None:
    """A set of more than one item must be sendable as albums: ``MediaProduceError`` if not."""
    if len(kinds) < 2:
        return
    present = frozenset(kinds)
    if not any(present <= group for group in _ALBUM_GROUPS):
        raise MediaProduceError(
            f"these kinds cannot share an album: {sorted(present)} (photo+video, audio, or "
            "document only; animations and voice notes go one per message)"
        )


def album_chunks(count: int) -> list[range]:
    """The albums ``count`` items are sent as: ``ceil(count / 10)`` albums of balanced sizes
    (differing by at most one, larger first), so no album ever has a single item:
    11 -> 6+5, 20 -> 10+10, 23 -> 8+8+7. One item is one plain message."""
    if count < 1:
        raise ValueError("count must be positive")
    albums = -(-count // ALBUM_LIMIT)
    size, extra = divmod(count, albums)
    chunks, start = [], 0
    for i in range(albums):
        end = start + size + (1 if i < extra else 0)
        chunks.append(range(start, end))
        start = end
    return chunks


#: The Bot API's 400 texts that mean a stored file_id is no good (matched case-insensitively
#: anywhere in the description, so sendMediaGroup's 'failed to send message #2 with the error
#: message "Wrong file identifier/HTTP URL specified"' counts too). Nothing else does: a 429,
#: a 5xx, a network error, or any other 400 leaves the stored set alone.
DEAD_FILE_ID_TEXTS = (
    "wrong file identifier",  # "Bad Request: wrong file identifier/HTTP URL specified"
    "wrong remote file identifier",  # "… specified: wrong string length" / "can't unserialize it"
    "file reference",  # "Bad Request: file reference expired" (an expired file reference)
    "file_reference_",  # "Bad Request: FILE_REFERENCE_EXPIRED" / "FILE_REFERENCE_INVALID"
)


def dead_file_id(description: str) -> bool:
    """Whether a Bot API 400 description says a file_id is no good."""
    text = description.lower()
    return any(marker in text for marker in DEAD_FILE_ID_TEXTS)
