"""What a new chat is registered with: its language and its referral link."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: A BCP 47-shaped tag as Telegram sends them (``en``, ``pt-br``, ``zh-hant-tw``).
_TAG = re.compile(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8})*")
#: ``/start <payload>`` or ``/start@bot <payload>``; the payload is all the rest.
_START = re.compile(r"/start(?:@[A-Za-z0-9_]+)?(?:\s+(?P<payload>.*))?", re.DOTALL)
#: Telegram's deep-link payload alphabet and length.
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def normalize_tag(code: str | None) -> str | None:
    """``code`` lowercased with ``-`` separators, or ``None`` if it is not a language tag."""
    if not code:
        return None
    tag = code.strip().lower().replace("_", "-")
    return tag if len(tag) <= 35 and _TAG.fullmatch(tag) else None


class LanguagePicker:
    """Chooses a new chat's language from a Telegram ``language_code``.

    Exact match in ``languages``, else the primary subtag (``pt-br`` → ``pt``), else
    ``default``. With ``languages=None`` any valid tag is kept (lowercased).
    """

    def __init__(self, languages: Iterable[str] | None = None, default: str = "en") -> None:
        self.default = default
        self.languages: dict[str, str] | None = None
        if languages is not None:
            self.languages = {}
            for code in languages:
                tag = normalize_tag(code)
                if tag is None:
                    raise ValueError(f"not a language code: {code!r}")
                self.languages[tag] = code

    def __call__(self, code: str | None) -> str:
        tag = normalize_tag(code)
        if tag is None:
            return self.default
        if self.languages is None:
            return tag
        for candidate in (tag, tag.split("-", 1)[0]):
            if candidate in self.languages:
                return self.languages[candidate]
        return self.default


def referral_from_start(text: str | None) -> str | None:
    """The lowercased deep-link payload of a ``/start <payload>`` text, else ``None``."""
    if not text:
        return None
    match = _START.fullmatch(text.strip())
    if match is None:
        return None
    payload = (match.group("payload") or "").strip()
    return payload.lower() if _PAYLOAD.fullmatch(payload) else None
