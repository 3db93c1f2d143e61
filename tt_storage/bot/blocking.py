"""Blocked and left chats, from the bot's own ``my_chat_member`` updates.

Two parts, because aiogram stops at the first handler that matches an event:

* ``BlockTracker``, an outer middleware on the dispatcher's own ``my_chat_member`` observer,
  does the work. The root observer's outer middlewares run for every ``my_chat_member`` update
  before any router is asked, so it sees them all whatever the bot's routers look like, and
  the bot's own handlers still get every update.
* ``blocking_router()``, a router whose only handler never consumes anything (it raises
  ``SkipHandler``). It exists so that ``start_polling`` / ``resolve_used_update_types`` asks
  Telegram for ``my_chat_member`` updates: middlewares alone do not count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.types import ChatMemberUpdated, TelegramObject

from ..core.errors import StorageError
from ..services.chats import mark_blocked, mark_unblocked

log = logging.getLogger("tt_storage")

#: The bot can no longer write there (private chat: the user blocked it).
GONE_STATUSES = frozenset({"kicked", "left"})
#: The bot is in the chat (again).
PRESENT_STATUSES = frozenset({"member", "administrator", "creator"})

#: Set in an update's data by the settings middleware when it has already warned that the
#: update carries a chat id outside BIGINT (one warning per update, not one per middleware).
INVALID_ID_KEY = "tt_storage_invalid_id"

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def reachable(update: ChatMemberUpdated) -> bool | None:
    """Whether the bot can write to the chat after ``update``; ``None``: not a status we track."""
    member = update.new_chat_member
    status = str(getattr(member.status, "value", member.status))
    if status in GONE_STATUSES:
        return False
    if status in PRESENT_STATUSES:
        return True
    if status == "restricted":
        return bool(getattr(member, "is_member", True))
    return None


async def apply_member_update(update: ChatMemberUpdated) -> bool:
    """Record what a ``my_chat_member`` update says; ``True`` if a known chat was updated."""
    state = reachable(update)
    if state is None:
        return False
    chat_id = update.chat.id
    return await (mark_unblocked(chat_id) if state else mark_blocked(chat_id))


class BlockTracker:
    """Outer middleware for ``dispatcher.my_chat_member``: marks chats blocked / unblocked.

    A database error, or a chat id outside BIGINT, is logged and the handlers still run.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, ChatMemberUpdated):
            try:
                await apply_member_update(event)
            except StorageError as exc:
                log.warning("could not record chat %d's member status: %s", event.chat.id, exc)
            except ValueError as exc:
                # A chat id no BIGINT holds (Telegram's fit in 52 bits): nothing to record.
                if not data.get(INVALID_ID_KEY):
                    log.warning("my_chat_member update not recorded: %s", exc)
        return await handler(event, data)


async def _subscribe(event: ChatMemberUpdated) -> None:
    # Never the handler of anything: the bot's own my_chat_member handlers come next.
    raise SkipHandler()


def blocking_router(name: str = "tt_storage_blocking") -> Router:
    """A new router with a ``my_chat_member`` handler that only subscribes to the updates."""
    router = Router(name=name)
    router.my_chat_member.register(_subscribe)
    return router


def setup_block_tracking(dispatcher: Dispatcher) -> BlockTracker:
    """Track blocked/left chats in ``dispatcher``: the middleware plus the subscribing router."""
    tracker = BlockTracker()
    dispatcher.my_chat_member.outer_middleware.register(tracker)
    dispatcher.include_router(blocking_router())
    return tracker
