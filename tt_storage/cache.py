"""Invalidation hub for settings caches: this library's writes tell every live cache."""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakSet


class Invalidatable:
    """Anything holding per-chat settings that a write can make stale."""

    def invalidate(self, chat_id: int) -> None:
        raise NotImplementedError


_caches: WeakSet[Invalidatable] = WeakSet()


def register(cache: Invalidatable) -> Callable[[], None]:
    """Have ``cache`` told of every write; returns the function that stops it."""
    _caches.add(cache)
    return lambda: _caches.discard(cache)


def invalidate(chat_id: int) -> None:
    """A chat's settings changed: drop them from every cache in this process."""
    for cache in list(_caches):
        cache.invalidate(chat_id)
