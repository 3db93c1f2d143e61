"""File ids as the fake server mints them: one per upload and bot, checked on every use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from . import texts

#: The kinds a send method stores, and the one-byte code inside a file_id.
KINDS = ("photo", "video", "audio", "document", "animation", "voice", "sticker", "video_note")
_MAGIC = b"TT"
_BODY = struct.Struct(">2sBqQ")  # magic, kind, bot id, serial
_TAG = 6


class ApiError(Exception):
    """An answer with ``ok: false``, as the server sends it."""

    def __init__(self, status: int, description: str, **parameters: int) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class StoredFile:
    """One file as a bot may send it again: ``file_id`` is this bot's own."""

    file_id: str
    file_unique_id: str
    bot_id: int
    kind: str
    content: bytes = field(repr=False)
    file_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.content)

    def as_json(self) -> dict[str, Any]:
        """The Bot API object (Video, Document, …) without the photo's list of sizes."""
        value: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            **self.meta,
        }
        if self.file_name is not None and self.kind not in ("photo", "voice", "video_note"):
            value["file_name"] = self.file_name
        return value


def unique_id(content: bytes, salt: str = "") -> str:
    """Stable per content (and size variant), the same for every bot, as Telegram's is."""
    digest = hashlib.sha256(salt.encode() + content).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")


class FileStore:
    """Every file_id minted, by id; revoked ones keep their reason."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(16)
        self._serial = itertools.count(1)
        self.files: dict[str, StoredFile] = {}
        self.revoked: dict[str, str] = {}

    def mint(
        self,
        bot_id: int,
        kind: str,
        content: bytes,
        *,
        file_name: str | None = None,
        meta: dict[str, Any] | None = None,
        salt: str = "",
    ) -> StoredFile:
        body = _BODY.pack(_MAGIC, KINDS.index(kind), bot_id, next(self._serial))
        tag = hmac.new(self._secret, body, hashlib.sha256).digest()[:_TAG]
        file_id = base64.urlsafe_b64encode(body + tag).decode().rstrip("=")
        stored = StoredFile(
            file_id, unique_id(content, salt), bot_id, kind, content, file_name, dict(meta or {})
        )
        self.files[file_id] = stored
        return stored

    def resolve(self, bot_id: int, file_id: str) -> StoredFile:
        """The file ``bot_id`` may send as ``file_id``, or the 400 Telegram gives."""
        if not self._well_formed(file_id):
            raise ApiError(400, texts.MALFORMED_FILE_ID)
        reason = self.revoked.get(file_id)
        if reason is not None:
            raise ApiError(400, reason)
        stored = self.files.get(file_id)
        if stored is None or stored.bot_id != bot_id:
            raise ApiError(400, texts.WRONG_FILE_ID)
        return stored

    def _well_formed(self, file_id: str) -> bool:
        try:
            raw = base64.urlsafe_b64decode(file_id + "=" * (-len(file_id) % 4))
        except ValueError:
            return False
        if len(raw) != _BODY.size + _TAG or not raw.startswith(_MAGIC):
            return False
        expected = hmac.new(self._secret, raw[: _BODY.size], hashlib.sha256).digest()[:_TAG]
        return hmac.compare_digest(expected, raw[_BODY.size :])

    def revoke(self, file_id: str, reason: str = "wrong") -> None:
        """Later uses of ``file_id`` fail: ``reason`` ``"wrong"`` answers
        ``texts.WRONG_FILE_ID``, ``"expired"`` ``texts.FILE_REFERENCE_EXPIRED``."""
        if reason not in ("wrong", "expired"):
            raise ValueError(f"reason must be 'wrong' or 'expired', not {reason!r}")
        if file_id not in self.files:
            raise KeyError(f"no file_id {file_id!r} was minted here")
        self.revoked[file_id] = (
            texts.WRONG_FILE_ID if reason == "wrong" else texts.FILE_REFERENCE_EXPIRED
        )

    def reset(self) -> None:
        self.files.clear()
        self.revoked.clear()
