"""The error texts the fake Bot API server answers with, as Telegram's server words them.

Where each comes from: the Bot API server's source (``tdlib/telegram-bot-api``,
``telegram-bot-api/Client.cpp``) and tdlib's (``MessagesManager::send_message_group``), which
the Bot API server passes on with its first letter lowered after a ``Bad Request: `` prefix; and
the texts bots report meeting (``wrong file identifier/HTTP URL specified`` for a saved
``file_id`` that stopped working, e.g. rubenlagus/TelegramBots#217).

``FILE_REFERENCE_EXPIRED`` is an MTProto error (Pyrogram and Telethon users meet it); the Bot
API server refreshes file references itself, and passes an upper-case MTProto error through as
``Bad Request: FILE_REFERENCE_EXPIRED`` when it cannot. The fake answers it only for a
``file_id`` revoked with ``reason="expired"``, so a bot's dead-file_id check can be tested
against both wordings.
"""

from __future__ import annotations

#: A well-formed file_id this bot cannot use: another bot's, or one revoked (the default).
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
#: A string that does not decode as a file_id at all (tdlib's FileManager).
MALFORMED_FILE_ID = "Bad Request: wrong remote file identifier specified: can't unserialize it"
#: A revoked file_id, ``reason="expired"``.
FILE_REFERENCE_EXPIRED = "Bad Request: FILE_REFERENCE_EXPIRED"

#: copyMessage / forwardMessage of a message the chat does not hold (Client.cpp check_message).
MESSAGE_TO_COPY_NOT_FOUND = "Bad Request: message to copy not found"
MESSAGE_TO_FORWARD_NOT_FOUND = "Bad Request: message to forward not found"
MESSAGE_TO_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
MESSAGE_TO_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
#: Client.cpp maps tdlib's MESSAGE_NOT_MODIFIED to this.
MESSAGE_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)
MESSAGE_TEXT_EMPTY = "Bad Request: message text is empty"
#: Client.cpp maps QUERY_ID_INVALID (an inline or callback query answered twice) to this.
QUERY_ID_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
TOO_MANY_INLINE_RESULTS = "Bad Request: too many inline query results specified"
RESULT_ID_DUPLICATE = "Bad Request: RESULT_ID_DUPLICATE"

#: sendMediaGroup (tdlib's send_message_group, and Client.cpp's InputMedia parser).
NO_MESSAGES_TO_SEND = "Bad Request: there are no messages to send"
TOO_MANY_IN_ALBUM = "Bad Request: too many messages to send as an album"
AUDIO_MIXED = "Bad Request: audio can't be mixed with other media types"
DOCUMENT_MIXED = "Bad Request: document can't be mixed with other media types"
MEDIA_NOT_FOUND = "Bad Request: can't parse InputMedia: media not found"
#: Client.cpp's on_message_send_failed, for one item of an album that fails.
ALBUM_ITEM_FAILED = (
    'Bad Request: failed to send message #{position} with the error message "{error}"'
)


def unsupported_in_album(kind: str) -> str:
    """An ``animation`` (or any other type) in sendMediaGroup."""
    if kind == "animation":
        return (
            f"Bad Request: can't parse InputMedia: type \"{kind}\" can't be used in sendMediaGroup"
        )
    return f'Bad Request: can\'t parse InputMedia: type "{kind}" is unsupported'


#: Sending to a chat that blocked the bot, a deleted account, a group the bot left (Client.cpp).
BLOCKED = "Forbidden: bot was blocked by the user"
DEACTIVATED = "Forbidden: user is deactivated"
KICKED = "Forbidden: bot was kicked from the group chat"
#: A basic group that became a supergroup: 400 with ``parameters.migrate_to_chat_id``.
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
CHAT_NOT_FOUND = "Bad Request: chat not found"
UNAUTHORIZED = "Unauthorized"
METHOD_NOT_FOUND = "Not Found: method not found"
BAD_GATEWAY = "Bad Gateway"
INTERNAL_SERVER_ERROR = "Internal Server Error"


def retry_after(seconds: int) -> str:
    """A 429's text; the same number travels in ``parameters.retry_after``."""
    return f"Too Many Requests: retry after {seconds}"
