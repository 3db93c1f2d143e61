"""Updates of every type, as Telegram sends them (Bot API JSON), for ``dp.feed_update``::

    from tt_storage.testing import updates

    await dp.feed_update(bot, updates.message(7, "/start"))
    await dp.feed_update(bot, updates.callback(7, "lang:ru"))

Chat ids: > 0 a private chat (its user has the same id), ``-100…`` a supergroup, other
negative ids a basic group. The bot in them is ``TOKEN``'s (id 42).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiogram.types import Update

from ._bots import TOKEN, bot_user
from ._chats import chat_type

_ids = itertools.count(1)

#: The bot of ``TOKEN`` as a ``User``, as its own messages carry it.
BOT_USER: dict[str, Any] = bot_user(TOKEN)


def chat(chat_id: int, kind: str | None = None) -> dict[str, Any]:
    """A chat: private for ids > 0, a supergroup for -100…, else a basic group."""
    if kind is None:
        kind = chat_type(chat_id)
    if kind == "private":
        return {"id": chat_id, "type": kind, "first_name": "User"}
    return {"id": chat_id, "type": kind, "title": f"A {kind}"}


def user(user_id: int, language_code: str | None = "en") -> dict[str, Any]:
    value: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
    if language_code is not None:
        value["language_code"] = language_code
    return value


def _update(**event: Any) -> Update:
    return Update.model_validate({"update_id": next(_ids), **event})


def _message_body(
    chat_id: int, text: str | None, sender: int | None, lang: str | None, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": next(_ids),
        "date": int(time.time()),
        "chat": chat(chat_id),
        **fields,
    }
    if sender is not None:
        body["from"] = user(sender, lang)
    if text is not None:
        body["text"] = text
    return body


def _sender(chat_id: int, from_id: int | None) -> int:
    return from_id if from_id is not None else chat_id if chat_id > 0 else 1_000


def message(
    chat_id: int,
    text: str | None = "hi",
    *,
    from_id: int | None = None,
    lang: str | None = "en",
    **fields: Any,
) -> Update:
    """A message in ``chat_id`` from its own user (private) or ``from_id`` (default 1000)."""
    sender = _sender(chat_id, from_id)
    return _update(message=_message_body(chat_id, text, sender, lang, **fields))


def edited_message(
    chat_id: int, text: str = "edited", *, from_id: int | None = None, lang: str | None = "en"
) -> Update:
    body = _message_body(chat_id, text, _sender(chat_id, from_id), lang)
    body["edit_date"] = int(time.time())
    return _update(edited_message=body)


def channel_post(chat_id: int, text: str = "post") -> Update:
    """A post in a channel: no ``from``, the channel itself as ``sender_chat``."""
    body = _message_body(chat_id, text, None, None)
    body["chat"] = chat(chat_id, "channel")
    body["sender_chat"] = chat(chat_id, "channel")
    return _update(channel_post=body)


def callback(
    chat_id: int | None,
    data: str,
    *,
    from_id: int | None = None,
    lang: str | None = "en",
) -> Update:
    """A button press on the bot's message in ``chat_id``; ``chat_id=None``: on a message sent
    in inline mode (the update then has no chat, only ``inline_message_id``)."""
    sender = from_id if from_id is not None else chat_id if chat_id and chat_id > 0 else 1_000
    query: dict[str, Any] = {
        "id": str(next(_ids)),
        "from": user(sender, lang),
        "chat_instance": f"ci{sender}",
        "data": data,
    }
    if chat_id is None:
        query["inline_message_id"] = f"inline-{next(_ids)}"
    else:
        bot_message = _message_body(chat_id, "…", None, None)
        bot_message["from"] = BOT_USER
        query["message"] = bot_message
    return _update(callback_query=query)


def inline_query(from_id: int, query: str = "", *, lang: str | None = "en") -> Update:
    return _update(
        inline_query={
            "id": str(next(_ids)),
            "from": user(from_id, lang),
            "query": query,
            "offset": "",
        }
    )


def chosen_inline_result(
    from_id: int, query: str, result_id: str = "r1", *, lang: str | None = "en"
) -> Update:
    return _update(
        chosen_inline_result={"result_id": result_id, "from": user(from_id, lang), "query": query}
    )


def my_chat_member(
    chat_id: int, old: str = "left", new: str = "member", *, from_id: int | None = None
) -> Update:
    """The bot's status in ``chat_id`` changed (default: it was added)."""

    def member(status: str) -> dict[str, Any]:
        value: dict[str, Any] = {"status": status, "user": BOT_USER}
        if status == "kicked":
            value["until_date"] = 0
        return value

    return _update(
        my_chat_member={
            "chat": chat(chat_id),
            "from": user(_sender(chat_id, from_id)),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
    )


def poll(poll_id: str = "p1") -> Update:
    """A poll state update: no chat and no user."""
    return _update(
        poll={
            "id": poll_id,
            "question": "?",
            "options": [
                {"persistent_id": "0", "text": "a", "voter_count": 1},
                {"persistent_id": "1", "text": "b", "voter_count": 0},
            ],
            "total_voter_count": 1,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
    )


def business_message(chat_id: int, business_connection_id: str, text: str = "hi") -> Update:
    """A message a business account's chat received through ``business_connection_id``."""
    body = _message_body(chat_id, text, _sender(chat_id, None), "en")
    return _update(business_message={**body, "business_connection_id": business_connection_id})
