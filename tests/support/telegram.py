"""The run's fake Bot API server, for helpers built outside a fixture (a dispatcher harness,
a bot under load): ``bot()`` is a real Bot on it. tests/conftest.py starts the server once and
empties it before every test; a test that looks at the requests asks for ``telegram``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tt_storage.testing import TOKEN

if TYPE_CHECKING:
    from aiogram import Bot

    from tt_storage.testing import FakeTelegram

_server: FakeTelegram | None = None


def use(server: FakeTelegram) -> None:
    global _server
    _server = server


def server() -> FakeTelegram:
    if _server is None:
        raise RuntimeError("the fake Bot API server is not started (tests/conftest.py does it)")
    return _server


def bot(token: str = TOKEN) -> Bot:
    """A real ``Bot`` on the run's fake server."""
    return server().bot(token)
