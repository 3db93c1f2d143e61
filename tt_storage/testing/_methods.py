"""The Bot API methods the fake server answers, each as Telegram's server would."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import texts
from ._chats import Chats, chat_json, chat_type
from ._files import ApiError, FileStore
from ._media import SEND_METHODS, Media, as_content, check_album

if TYPE_CHECKING:
    pass

_album_ids = itertools.count(10_000_000)
#: Message fields a copy or forward carries over.
_CONTENT = (
    "text",
    "caption",
    "photo",
    "video",
    "audio",
    "document",
    "animation",
    "voice",
    "sticker",
    "video_note",
    "entities",
    "caption_entities",
)


@dataclass
class State:
    """Everything the server keeps between requests."""

    files: FileStore
    chats: Chats
    answered_queries: set[str]
    commands: dict[int, Any]


@dataclass
class Call:
    """One request being answered."""

    state: State
    #: The method, lower-cased.
    name: str
    bot: dict[str, Any]
    params: dict[str, Any]
    media: Media

    @property
    def bot_id(self) -> int:
        return int(self.bot["id"])

    def require(self, name: str) -> Any:
        value = self.params.get(name)
        if value is None or value == "":
            raise ApiError(400, f'Bad Request: parameter "{name}" is required')
        return value

    def chat_id(self) -> int | str:
        value = self.require("chat_id")
        if not isinstance(value, int | str):
            raise ApiError(400, texts.CHAT_NOT_FOUND)
        return value

    def markup(self) -> dict[str, Any] | None:
        markup = self.params.get("reply_markup")
        return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None

    def send(self, **content: Any) -> dict[str, Any]:
        return self.state.chats.new_message(
            self.bot_id, self.chat_id(), self.bot, reply_markup=self.markup(), **content
        )


Handler = Callable[[Call], Any]
METHODS: dict[str, Handler] = {}


def method(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = handler
        return handler

    return register


@method("getMe")
def _get_me(call: Call) -> Any:
    return {
        **call.bot,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": True,
    }


@method("sendMessage")
def _send_message(call: Call) -> Any:
    text = call.params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, texts.MESSAGE_TEXT_EMPTY)
    return call.send(text=text)


def _send_media(call: Call) -> Any:
    kind = SEND_METHODS[call.name]
    stored = call.media.resolve(kind, call.params.get(kind), call.params)
    return call.send(caption=call.params.get("caption"), **as_content(kind, stored))


for _name in SEND_METHODS:
    METHODS[_name] = _send_media


@method("sendMediaGroup")
def _send_media_group(call: Call) -> Any:
    items = check_album(call.params.get("media"))
    chat_id = call.chat_id()
    resolved = []
    for position, item in enumerate(items, 1):
        try:
            resolved.append((item, call.media.resolve(item["type"], item.get("media"), item)))
        except ApiError as error:
            if len(items) == 1 or error.description == texts.MEDIA_NOT_FOUND:
                raise
            detail = error.description.removeprefix("Bad Request: ")
            detail = detail[:1].upper() + detail[1:]
            failed = texts.ALBUM_ITEM_FAILED.format(position=position, error=detail)
            raise ApiError(400, failed) from None
    group = {"media_group_id": str(next(_album_ids))} if len(items) > 1 else {}
    return [
        call.state.chats.new_message(
            call.bot_id,
            chat_id,
            call.bot,
            caption=item.get("caption"),
            **group,
            **as_content(item["type"], stored),
        )
        for item, stored in resolved
    ]


def _source(call: Call, missing: str) -> dict[str, Any]:
    from_chat = call.require("from_chat_id")
    message = call.state.chats.get(call.bot_id, from_chat).messages.get(call.require("message_id"))
    if message is None:
        raise ApiError(400, missing)
    return message


@method("copyMessage")
def _copy_message(call: Call) -> Any:
    source = _source(call, texts.MESSAGE_TO_COPY_NOT_FOUND)
    content = {key: source[key] for key in _CONTENT if key in source}
    if "caption" in call.params and "text" not in content:
        content["caption"] = call.params["caption"]
    return {"message_id": call.send(**content)["message_id"]}


@method("forwardMessage")
def _forward_message(call: Call) -> Any:
    source = _source(call, texts.MESSAGE_TO_FORWARD_NOT_FOUND)
    content = {key: source[key] for key in _CONTENT if key in source}
    origin = {"type": "chat" if "sender_chat" in source else "user", "date": source["date"]}
    if "from" in source:
        origin["sender_user"] = source["from"]
    else:
        origin.update(type="chat", sender_chat=source["chat"])
    return call.send(forward_origin=origin, **content)


def _edit(call: Call, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    if call.params.get("inline_message_id"):
        return True
    chat = call.state.chats.get(call.bot_id, call.chat_id())
    message = chat.messages.get(call.require("message_id"))
    if message is None:
        raise ApiError(400, texts.MESSAGE_TO_EDIT_NOT_FOUND)
    updated = {**message, **change(message)}
    markup = call.markup()
    if "reply_markup" in call.params or markup is not None:
        updated.pop("reply_markup", None)
        if markup is not None:
            updated["reply_markup"] = markup
    if updated == message:
        raise ApiError(400, texts.MESSAGE_NOT_MODIFIED)
    updated["edit_date"] = int(time.time())
    chat.messages[message["message_id"]] = updated
    return updated


@method("editMessageText")
def _edit_text(call: Call) -> Any:
    text = call.params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, texts.MESSAGE_TEXT_EMPTY)
    return _edit(call, lambda _: {"text": text})


@method("editMessageCaption")
def _edit_caption(call: Call) -> Any:
    return _edit(call, lambda _: {"caption": call.params.get("caption") or ""})


@method("editMessageReplyMarkup")
def _edit_markup(call: Call) -> Any:
    return _edit(call, lambda _: {})


@method("deleteMessage")
def _delete_message(call: Call) -> Any:
    chat = call.state.chats.get(call.bot_id, call.chat_id())
    if chat.messages.pop(call.require("message_id"), None) is None:
        raise ApiError(400, texts.MESSAGE_TO_DELETE_NOT_FOUND)
    return True


def _answer_once(call: Call, key: str) -> None:
    query_id = str(call.require(key))
    if query_id in call.state.answered_queries:
        raise ApiError(400, texts.QUERY_ID_INVALID)
    call.state.answered_queries.add(query_id)


@method("answerCallbackQuery")
def _answer_callback(call: Call) -> Any:
    _answer_once(call, "callback_query_id")
    return True


@method("answerInlineQuery")
def _answer_inline(call: Call) -> Any:
    results = call.params.get("results")
    if not isinstance(results, list):
        raise ApiError(400, "Bad Request: can't parse inline query results JSON object")
    if len(results) > 50:
        raise ApiError(400, texts.TOO_MANY_INLINE_RESULTS)
    ids = [r.get("id") for r in results if isinstance(r, dict)]
    if len(ids) != len(set(ids)):
        raise ApiError(400, texts.RESULT_ID_DUPLICATE)
    call.media.check_cached_results(results)
    _answer_once(call, "inline_query_id")
    return True


@method("getChat")
def _get_chat(call: Call) -> Any:
    chat_id = call.chat_id()
    chat = chat_json(chat_id, None if isinstance(chat_id, str) else chat_type(chat_id))
    return {
        **chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


@method("getFile")
def _get_file(call: Call) -> Any:
    stored = call.state.files.resolve(call.bot_id, str(call.require("file_id")))
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": f"{stored.kind}s/{stored.file_id}",
    }


@method("setMyCommands")
def _set_commands(call: Call) -> Any:
    call.state.commands[call.bot_id] = call.params.get("commands") or []
    return True


@method("getMyCommands")
def _get_commands(call: Call) -> Any:
    return call.state.commands.get(call.bot_id, [])


@method("deleteMyCommands")
def _delete_commands(call: Call) -> Any:
    call.state.commands.pop(call.bot_id, None)
    return True


@method(
    "sendChatAction",
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setChatMenuButton",
    "deleteWebhook",
    "setWebhook",
    "leaveChat",
    "close",
    "logOut",
)
def _true(call: Call) -> Any:
    return True
