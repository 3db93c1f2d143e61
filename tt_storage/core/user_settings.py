"""``UserSettings``: what the middleware hands every handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import validate
from .models import Users

#: The language of a chat registered without one (the model's column default).
DEFAULT_LANG: str = Users._meta.fields_map["lang"].default


@dataclass(frozen=True, slots=True)
class UserSettings:
    """A chat's settings as loaded (or registered) for one update."""

    chat_id: int
    lang: str = DEFAULT_LANG
    #: A new chat's file mode (the model's column default).
    file_mode: bool = Users._meta.fields_map["file_mode"].default
    #: True on exactly one update per chat: the one that registered it.
    is_new: bool = False
    #: False when the database could not be asked and these are fallback values.
    persisted: bool = True


ChatRef = int | UserSettings


def chat_ref(value: Any) -> int:
    """The chat id of a ``UserSettings`` or of a plain id."""
    if isinstance(value, UserSettings):
        return validate.chat_id(value.chat_id)
    return validate.chat_id(value)
