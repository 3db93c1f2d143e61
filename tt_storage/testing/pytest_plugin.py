"""pytest fixtures for bots that use tt-storage (loaded through the ``pytest11`` entry point).

- ``telegram``: a ``FakeTelegram`` server, started for the test and stopped after;
- ``bot``: a real ``aiogram.Bot`` (token ``42:TEST``) talking to it over HTTP;
- ``storage_db``: the URL of a fresh database built by tt-storage's migrations, dropped after.

Loading the plugin imports nothing but pytest; a fixture imports what it needs when a test
asks for it. The async fixtures need pytest-asyncio (its ``auto`` mode, or
``@pytest.mark.asyncio`` on the tests). Override a fixture in your ``conftest.py`` to widen
its scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from aiogram import Bot

    from tt_storage.testing.server import FakeTelegram


_F = TypeVar("_F", bound=Callable[..., Any])


def _async_fixture(function: _F) -> _F:
    """pytest-asyncio's fixture, or one that says pytest-asyncio is missing."""
    try:
        from pytest_asyncio import fixture
    except ImportError:  # pragma: no cover - depends on what the user installed

        def missing(*_: Any, **__: Any) -> Any:
            pytest.fail("tt_storage.testing's fixtures need pytest-asyncio (pip install it)")

        missing.__name__ = function.__name__
        return cast(_F, pytest.fixture(missing))
    return cast(_F, fixture(function))


@_async_fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API server on 127.0.0.1 for this test."""
    from tt_storage.testing.server import FakeTelegram

    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def bot(telegram: FakeTelegram) -> Bot:
    """A real ``Bot`` (token ``42:TEST``, id 42) on the ``telegram`` server."""
    return telegram.bot()


@_async_fixture
async def storage_db() -> AsyncIterator[str]:
    """A fresh database with tt-storage's migrations, dropped after the test (the server:
    ``TT_STORAGE_TEST_DB_URL``, else 127.0.0.1:5432, else the embedded one)."""
    from tt_storage.testing.database import fresh_database

    async with fresh_database() as url:
        yield url
