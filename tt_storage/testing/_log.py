"""What the fake server was asked, and the questions a test asks about it."""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogram.methods import TelegramMethod


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request (a new upload; a file_id or URL is none)."""

    #: The form field that carried it (what ``attach://`` names).
    part: str
    filename: str | None
    size: int
    file_unique_id: str
    content: bytes = field(default=b"", repr=False)


@dataclass
class Request:
    """One request and the answer it got (``status`` ``None``: the connection was dropped)."""

    method: str
    bot_id: int
    chat_id: int | str | None
    params: dict[str, Any]
    files: list[Upload]
    #: ``time.monotonic()`` when it arrived.
    at: float
    status: int | None = None
    answer: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.answer is not None and self.answer.get("ok") is True

    @property
    def result(self) -> Any:
        return None if self.answer is None else self.answer.get("result")

    @property
    def description(self) -> str | None:
        return None if self.answer is None else self.answer.get("description")

    def texts(self) -> list[str]:
        """The text or captions this request sent (an album: each item's caption)."""
        out = [
            self.params[key] for key in ("text", "caption") if isinstance(self.params.get(key), str)
        ]
        for item in self.params.get("media") or []:
            if isinstance(item, dict) and isinstance(item.get("caption"), str):
                out.append(item["caption"])
        return out

    def as_method(self) -> TelegramMethod[Any]:
        """The request as aiogram's method object (``SendMessage``, …), for typed asserts; an
        uploaded file is a ``BufferedInputFile`` with the bytes received."""
        from aiogram.types import BufferedInputFile

        files = {u.part: BufferedInputFile(u.content, u.filename or u.part) for u in self.files}

        def value(raw: Any) -> Any:
            if isinstance(raw, str) and raw.startswith("attach://"):
                return files.get(raw.removeprefix("attach://"), raw)
            if isinstance(raw, list):
                return [value(item) for item in raw]
            if isinstance(raw, dict):
                return {key: value(item) for key, item in raw.items()}
            return raw

        return method_class(self.method).model_validate(value(self.params))


def _matches(
    request: Request, method: str | None, chat_id: int | str | None, bot_id: int | None
) -> bool:
    return (
        (method is None or request.method.lower() == method.lower())
        and (chat_id is None or request.chat_id == chat_id)
        and (bot_id is None or request.bot_id == bot_id)
    )


class RequestLog:
    """Every request in arrival order, with the questions tests ask of it."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __iter__(self) -> Iterator[Request]:
        return iter(self.requests)

    def __len__(self) -> int:
        return len(self.requests)

    def calls(
        self,
        method: str | None = None,
        *,
        chat_id: int | str | None = None,
        bot_id: int | None = None,
        ok: bool | None = None,
        since: int = 0,
    ) -> list[Request]:
        """The requests of ``method`` (``"sendMessage"``, any case) to ``chat_id`` by ``bot_id``
        (each ``None``: any), answered ``ok`` or not (``None``: both), from the ``since``-th
        request on (``since=len(telegram)`` before an action: the action's own)."""
        return [
            r
            for r in self.requests[since:]
            if _matches(r, method, chat_id, bot_id) and (ok is None or r.ok is ok)
        ]

    def methods(
        self,
        method: str | None = None,
        *,
        chat_id: int | str | None = None,
        bot_id: int | None = None,
        ok: bool | None = None,
        since: int = 0,
    ) -> list[TelegramMethod[Any]]:
        """``calls(...)`` as aiogram's method objects (``SendMessage``, …)."""
        found = self.calls(method, chat_id=chat_id, bot_id=bot_id, ok=ok, since=since)
        return [r.as_method() for r in found]

    def names(self) -> list[str]:
        """The methods called, in order."""
        return [r.method for r in self.requests]

    def texts(self, chat_id: int | str | None = None, *, bot_id: int | None = None) -> list[str]:
        """Texts and captions Telegram accepted (to ``chat_id``), in order."""
        return [t for r in self.calls(chat_id=chat_id, bot_id=bot_id, ok=True) for t in r.texts()]

    def uploads(
        self, *, bot_id: int | None = None, chat_id: int | str | None = None
    ) -> list[Upload]:
        """Files uploaded in multipart requests (a file_id or URL sent is not an upload)."""
        return [u for r in self.calls(chat_id=chat_id, bot_id=bot_id) for u in r.files]

    def per_second(self, method: str | None = None, *, bot_id: int | None = None) -> list[int]:
        """Requests in each whole second since the first one (of ``method``, by ``bot_id``)."""
        times = [r.at for r in self.calls(method, bot_id=bot_id)]
        if not times:
            return []
        counts = [0] * (int(times[-1] - times[0]) + 1)
        for at in times:
            counts[int(at - times[0])] += 1
        return counts

    def max_per_second(
        self, method: str | None = None, *, bot_id: int | None = None, window: float = 1.0
    ) -> int:
        """The most requests seen in any ``window`` seconds (sliding)."""
        times = [r.at for r in self.calls(method, bot_id=bot_id)]
        return max(
            (bisect.bisect_left(times, at + window) - i for i, at in enumerate(times)), default=0
        )

    def extend(self, requests: Iterable[Request]) -> None:
        self.requests.extend(requests)

    def clear(self) -> None:
        self.requests.clear()


@functools.cache
def _method_classes() -> dict[str, type[TelegramMethod[Any]]]:
    import aiogram.methods as methods

    table: dict[str, type[TelegramMethod[Any]]] = {}
    for name in methods.__all__:
        cls = getattr(methods, name)
        api_name = getattr(cls, "__api_method__", None)
        if isinstance(cls, type) and isinstance(api_name, str):
            table[api_name.lower()] = cls
    return table


def method_class(name: str) -> type[TelegramMethod[Any]]:
    """aiogram's class for a Bot API method name (any case)."""
    return _method_classes()[name.lower()]
