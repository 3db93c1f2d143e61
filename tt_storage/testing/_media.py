"""Media in requests: uploads, file_ids and URLs turned into the objects Telegram answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import texts
from ._files import ApiError, FileStore, StoredFile

#: The send method for each kind, and the Message field the file comes back in.
SEND_METHODS = {
    "sendphoto": "photo",
    "sendvideo": "video",
    "sendaudio": "audio",
    "senddocument": "document",
    "sendanimation": "animation",
    "sendvoice": "voice",
    "sendsticker": "sticker",
    "sendvideonote": "video_note",
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "photo": {"width": 720, "height": 1280},
    "video": {"width": 720, "height": 1280, "duration": 15, "mime_type": "video/mp4"},
    "animation": {"width": 720, "height": 1280, "duration": 5, "mime_type": "video/mp4"},
    "audio": {"duration": 15, "mime_type": "audio/mpeg"},
    "voice": {"duration": 5, "mime_type": "audio/ogg"},
    "document": {},
    "sticker": {
        "width": 512,
        "height": 512,
        "type": "regular",
        "is_animated": False,
        "is_video": False,
    },
    "video_note": {"length": 240, "duration": 5},
}
_META_KEYS = ("width", "height", "duration", "performer", "title")
#: InputQueryResultCached* types: the field carrying the file_id.
_CACHED_RESULT_FIELDS = (
    "photo_file_id",
    "video_file_id",
    "document_file_id",
    "audio_file_id",
    "voice_file_id",
    "gif_file_id",
    "mpeg4_gif_file_id",
    "sticker_file_id",
)


@dataclass
class Part:
    """A file part of a multipart request."""

    content: bytes
    filename: str | None


@dataclass
class Media:
    """Resolves the media of one request for one bot."""

    files: FileStore
    bot_id: int
    parts: dict[str, Part]

    def resolve(self, kind: str, value: Any, params: dict[str, Any]) -> list[StoredFile]:
        """The file(s) ``value`` names: a part (``attach://x``), a URL, or this bot's file_id.
        A photo gives its sizes, smallest first."""
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        meta = {**_DEFAULTS[kind], **{k: params[k] for k in _META_KEYS if k in params}}
        if value.startswith("attach://"):
            part = self.parts.get(value.removeprefix("attach://"))
            if part is None:
                raise ApiError(400, texts.MEDIA_NOT_FOUND)
            stored = self._mint(kind, part.content, part.filename, meta)
            return stored
        if value.startswith(("http://", "https://")):
            # Telegram downloads the URL; the fake stores the address as the content.
            return self._mint(kind, value.encode(), value.rsplit("/", 1)[-1] or None, meta)
        return [self.files.resolve(self.bot_id, value)]

    def _mint(
        self, kind: str, content: bytes, filename: str | None, meta: dict[str, Any]
    ) -> list[StoredFile]:
        if kind != "photo":
            return [self.files.mint(self.bot_id, kind, content, file_name=filename, meta=meta)]
        small = {"width": 90, "height": 160}
        return [
            self.files.mint(self.bot_id, kind, content, meta=small, salt="s"),
            self.files.mint(self.bot_id, kind, content, meta=meta),
        ]

    def check_cached_results(self, results: list[Any]) -> None:
        """answerInlineQuery: every ``*_file_id`` must be this bot's."""
        for result in results:
            if not isinstance(result, dict):
                continue
            for key in _CACHED_RESULT_FIELDS:
                if key in result:
                    self.files.resolve(self.bot_id, str(result[key]))


def as_content(kind: str, stored: list[StoredFile]) -> dict[str, Any]:
    """The Message fields for sent media."""
    if kind == "photo":
        return {"photo": [s.as_json() for s in stored]}
    return {kind: stored[-1].as_json()}


def check_album(media: Any) -> list[dict[str, Any]]:
    """sendMediaGroup's rules as Telegram's server applies them: 1-10 items (the Bot API
    documents 2-10; the server sends a single item as a plain message), photos and videos mix,
    audio only with audio, documents only with documents, no animations."""
    if not media:
        raise ApiError(400, texts.NO_MESSAGES_TO_SEND)
    if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
        raise ApiError(400, "Bad Request: can't parse media JSON object")
    if len(media) > 10:
        raise ApiError(400, texts.TOO_MANY_IN_ALBUM)
    kinds = set()
    for item in media:
        kind = item.get("type")
        if kind not in ("photo", "video", "audio", "document"):
            raise ApiError(400, texts.unsupported_in_album(str(kind)))
        kinds.add(kind)
    if len(kinds) > 1:
        for kind, text in (("audio", texts.AUDIO_MIXED), ("document", texts.DOCUMENT_MIXED)):
            if kind in kinds:
                raise ApiError(400, text)
    return media
