"""tt_storage.testing's fake Bot API server, through a real aiogram Bot and its HTTP session:
answers shaped as Telegram's, file_ids per bot, revocation, injected errors as aiogram's real
exceptions, sendMediaGroup's rules, inline answers, per-chat messages and the request log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    RestartingTelegram,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BufferedInputFile,
    InlineQueryResultCachedVideo,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
)

from tt_storage.testing import FakeTelegram, texts, updates


def video(content: bytes = b"video bytes") -> BufferedInputFile:
    return BufferedInputFile(content, "clip.mp4")


async def test_get_me_gives_the_tokens_bot(telegram: FakeTelegram) -> None:
    me = await telegram.bot("42:TEST").get_me()
    other = await telegram.bot("1234567:Other-Secret").get_me()
    assert (me.id, me.username, me.is_bot) == (42, "test_42_bot", True)
    assert (other.id, other.username) == (1234567, "other-secret_1234567_bot")
    named = await telegram.bot("5:X", username="my_bot").get_me()
    assert named.username == "my_bot"


async def test_send_message_answers_a_message_and_logs_the_request(
    telegram: FakeTelegram, bot: Bot
) -> None:
    sent = await bot.send_message(-100_77, "hello", reply_markup=None)
    again = await bot.send_message(-100_77, "again")
    assert sent.from_user is not None and sent.from_user.username == "test_42_bot"
    assert (sent.chat.id, sent.chat.type, sent.text) == (-100_77, "supergroup", "hello")
    assert again.message_id == sent.message_id + 1
    [request] = telegram.calls("sendmessage", chat_id=-100_77)[:1]
    assert (request.method, request.bot_id, request.status, request.ok) == (
        "sendMessage",
        42,
        200,
        True,
    )
    assert request.params["text"] == "hello" and request.result["message_id"] == sent.message_id
    assert isinstance(request.as_method(), SendMessage)
    assert telegram.texts(-100_77) == ["hello", "again"]
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(1, " ")
    assert telegram.texts() == ["hello", "again"]  # only what Telegram accepted
    assert [r.description for r in telegram.calls(ok=False)] == [texts.MESSAGE_TEXT_EMPTY]


async def test_file_ids_are_minted_per_bot_and_unique_ids_per_content(
    telegram: FakeTelegram, bot: Bot
) -> None:
    other = telegram.bot("77:OTHER")
    first = (await bot.send_video(1, video(), width=1080)).video
    assert first is not None and first.width == 1080
    resent = (await bot.send_video(2, first.file_id)).video
    assert resent is not None and resent.file_id == first.file_id
    with pytest.raises(TelegramBadRequest) as refused:
        await other.send_video(1, first.file_id)
    assert refused.value.message == texts.WRONG_FILE_ID
    own = (await other.send_video(1, video())).video
    different = (await bot.send_video(1, video(b"other bytes"))).video
    assert own is not None and different is not None
    assert own.file_id != first.file_id and own.file_unique_id == first.file_unique_id
    assert different.file_unique_id != first.file_unique_id
    assert len(telegram.uploads()) == 3 and len(telegram.uploads(bot_id=77)) == 1
    assert telegram.file(own.file_id).bot_id == 77
    with pytest.raises(TelegramBadRequest) as malformed:
        await bot.send_video(1, "not-a-file-id")
    assert malformed.value.message == texts.MALFORMED_FILE_ID


async def test_a_url_is_sent_but_is_no_upload(telegram: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_document(1, "https://example.invalid/a.pdf")
    assert sent.document is not None and sent.document.file_name == "a.pdf"
    assert telegram.uploads() == []
    photo = await bot.send_photo(1, BufferedInputFile(b"jpeg", "p.jpg"))
    assert photo.photo is not None and [p.width for p in photo.photo] == [90, 720]
    assert [u.filename for u in telegram.uploads()] == ["p.jpg"]


@pytest.mark.parametrize(
    ("reason", "text"), [("wrong", texts.WRONG_FILE_ID), ("expired", texts.FILE_REFERENCE_EXPIRED)]
)
async def test_a_revoked_file_id_fails_with_telegrams_text(
    telegram: FakeTelegram, bot: Bot, reason: str, text: str
) -> None:
    sent = (await bot.send_audio(1, BufferedInputFile(b"mp3", "a.mp3"))).audio
    assert sent is not None
    telegram.revoke(sent.file_id, reason)
    with pytest.raises(TelegramBadRequest) as refused:
        await bot.send_audio(1, sent.file_id)
    assert refused.value.message == text
    with pytest.raises(KeyError):
        telegram.revoke("never-minted")
    with pytest.raises(ValueError, match="reason"):
        telegram.revoke(sent.file_id, "gone")


async def test_get_file_and_download(telegram: FakeTelegram, bot: Bot) -> None:
    sent = (await bot.send_voice(1, BufferedInputFile(b"ogg bytes", "v.ogg"))).voice
    assert sent is not None
    file = await bot.get_file(sent.file_id)
    assert file.file_path is not None and file.file_size == 9
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"ogg bytes"


@pytest.mark.parametrize(
    ("inject", "error", "text"),
    [
        (lambda t: t.flood(3), TelegramRetryAfter, texts.retry_after(3)),
        (lambda t: t.block(5), TelegramForbiddenError, texts.BLOCKED),
        (lambda t: t.deactivate(5), TelegramForbiddenError, texts.DEACTIVATED),
        (lambda t: t.kick(5), TelegramForbiddenError, texts.KICKED),
        (lambda t: t.migrate(5, -100_5), TelegramMigrateToChat, texts.MIGRATED),
        (lambda t: t.server_error(), TelegramServerError, texts.BAD_GATEWAY),
        (lambda t: t.server_error(500, "Internal Server Error: restart"), RestartingTelegram, None),
        (lambda t: t.drop(), TelegramNetworkError, "ServerDisconnectedError"),
        (lambda t: t.fail(delay=2.0), TelegramNetworkError, "Request timeout error"),
        (lambda t: t.fail(status=404, description="Not Found"), TelegramNotFound, "Not Found"),
    ],
)
async def test_each_injected_error_raises_aiograms_own_exception(
    telegram: FakeTelegram, bot: Bot, inject: object, error: type[Exception], text: str | None
) -> None:
    inject(telegram)  # type: ignore[operator]
    with pytest.raises(error) as raised:
        await bot.send_message(5, "hi", request_timeout=1)
    if text is not None:
        assert text in str(raised.value)
    if isinstance(raised.value, TelegramRetryAfter):
        assert raised.value.retry_after == 3
    if isinstance(raised.value, TelegramMigrateToChat):
        assert raised.value.migrate_to_chat_id == -100_5


async def test_faults_match_method_chat_bot_and_count(telegram: FakeTelegram, bot: Bot) -> None:
    fault = telegram.fail(
        "sendMessage", chat_id=1, status=403, description=texts.BLOCKED, after=1, times=2
    )
    telegram.fail(bot_id=77, status=401, description=texts.UNAUTHORIZED, times=None)
    await bot.send_message(2, "another chat")
    await bot.send_photo(1, BufferedInputFile(b"x", "x.jpg"))  # another method
    await bot.send_message(1, "let through")
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(1, "fails")
    await bot.send_message(1, "delivered again")
    assert (fault.seen, fault.used, fault.exhausted) == (4, 2, True)
    assert telegram.texts(1) == ["let through", "delivered again"]
    with pytest.raises(Exception, match="Unauthorized"):
        await telegram.bot("77:OTHER").get_me()


async def test_a_non_json_answer_is_aiograms_decode_error(telegram: FakeTelegram, bot: Bot) -> None:
    telegram.fail(status=502, raw="<html>502 Bad Gateway</html>")
    with pytest.raises(Exception, match="Failed to decode object"):
        await bot.send_message(1, "hi")


async def test_media_groups_follow_telegrams_rules(telegram: FakeTelegram, bot: Bot) -> None:
    photo = InputMediaPhoto(media=BufferedInputFile(b"p", "p.jpg"), caption="one")
    clip = InputMediaVideo(media=video())
    song = InputMediaAudio(media=BufferedInputFile(b"a", "a.mp3"))
    doc = InputMediaDocument(media=BufferedInputFile(b"d", "d.txt"))
    album = await bot.send_media_group(1, [photo, clip])
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id is not None
    assert album[0].caption == "one" and album[1].video is not None
    assert len(await bot.send_media_group(1, [song, song])) == 2
    assert len(await bot.send_media_group(1, [doc, doc])) == 2
    single = await bot.send_media_group(1, [photo])
    assert single[0].media_group_id is None  # the server sends one item as a plain message
    refused = {
        texts.AUDIO_MIXED: [song, photo],
        texts.DOCUMENT_MIXED: [clip, doc],
        texts.TOO_MANY_IN_ALBUM: [photo] * 11,
        texts.NO_MESSAGES_TO_SEND: [],
    }
    for text, media in refused.items():
        with pytest.raises(TelegramBadRequest) as error:
            await bot.send_media_group(1, media)  # type: ignore[arg-type]
        assert error.value.message == text
    foreign = (await telegram.bot("77:OTHER").send_video(1, video())).video
    assert foreign is not None
    uploads, kept = len(telegram.uploads()), len(telegram.messages(1))
    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_media_group(1, [photo, InputMediaVideo(media=foreign.file_id)])
    assert error.value.message == texts.ALBUM_ITEM_FAILED.format(
        position=2, error="Wrong file identifier/HTTP URL specified"
    )
    assert len(telegram.uploads()) == uploads + 1  # the photo was sent, and counts
    assert len(telegram.messages(1)) == kept  # but nothing was posted


async def test_inline_answers_check_cached_file_ids(telegram: FakeTelegram, bot: Bot) -> None:
    own = (await bot.send_video(1, video())).video
    foreign = (await telegram.bot("77:OTHER").send_video(1, video())).video
    assert own is not None and foreign is not None

    def result(file_id: str, result_id: str = "r") -> InlineQueryResultCachedVideo:
        return InlineQueryResultCachedVideo(id=result_id, video_file_id=file_id, title="v")

    assert await bot.answer_inline_query("q1", [result(own.file_id)]) is True
    with pytest.raises(TelegramBadRequest) as error:
        await bot.answer_inline_query("q1", [result(own.file_id)])
    assert error.value.message == texts.QUERY_ID_INVALID
    refusals: list[tuple[list[Any], str]] = [
        ([result(foreign.file_id)], texts.WRONG_FILE_ID),
        ([result(own.file_id), result(own.file_id)], texts.RESULT_ID_DUPLICATE),
        ([result(own.file_id, str(n)) for n in range(51)], texts.TOO_MANY_INLINE_RESULTS),
    ]
    for results, text in refusals:
        with pytest.raises(TelegramBadRequest) as error:
            await bot.answer_inline_query("q2", results)
        assert error.value.message == text
    assert await bot.answer_callback_query("c1") is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("c1")


async def test_copy_forward_edit_delete_need_the_message(telegram: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_video(-100_9, video(), caption="stored")
    copy = await bot.copy_message(7, -100_9, sent.message_id)
    assert (
        telegram.messages(7)[copy.message_id]["video"]
        == telegram.messages(-100_9)[sent.message_id]["video"]
    )
    with pytest.raises(TelegramBadRequest) as error:
        await bot.copy_message(7, -100_9, 999)
    assert error.value.message == texts.MESSAGE_TO_COPY_NOT_FOUND
    incoming = telegram.remember(updates.message(7, "from the user"))
    assert incoming.message is not None
    forwarded = await bot.forward_message(8, 7, incoming.message.message_id)
    assert forwarded.text == "from the user" and forwarded.forward_origin is not None
    with pytest.raises(TelegramBadRequest, match="message to forward not found"):
        await bot.forward_message(8, 7, 12345)
    edited = await bot.edit_message_caption(
        chat_id=-100_9, message_id=sent.message_id, caption="new"
    )
    assert not isinstance(edited, bool) and edited.caption == "new"
    with pytest.raises(TelegramBadRequest) as error:
        await bot.edit_message_caption(chat_id=-100_9, message_id=sent.message_id, caption="new")
    assert error.value.message == texts.MESSAGE_NOT_MODIFIED
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=7, message_id=999)
    assert await bot.edit_message_text("x", inline_message_id="inline-1") is True
    assert await bot.delete_message(-100_9, sent.message_id) is True
    with pytest.raises(TelegramBadRequest) as error:
        await bot.delete_message(-100_9, sent.message_id)
    assert error.value.message == texts.MESSAGE_TO_DELETE_NOT_FOUND


async def test_chat_commands_and_unknown_methods(telegram: FakeTelegram, bot: Bot) -> None:
    chat = await bot.get_chat(-5)
    assert (chat.id, chat.type) == (-5, "group")
    from aiogram.types import BotCommand

    assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    with pytest.raises(TelegramNotFound, match="method not found"):
        await bot.get_user_profile_photos(1)


async def test_rates_and_reset(telegram: FakeTelegram, bot: Bot) -> None:
    for n in range(3):
        await bot.send_message(n + 1, "a")
    await asyncio.sleep(1.05)
    await bot.send_message(9, "b")
    assert telegram.per_second("sendMessage") == [3, 1]
    assert telegram.max_per_second() == 3
    assert telegram.max_per_second(window=5) == 4
    assert telegram.names() == ["sendMessage"] * 4
    telegram.block(9)
    telegram.reset()
    assert len(telegram) == 0 and telegram.messages(9) == {}
    await bot.send_message(9, "after reset")
    assert telegram.texts(9) == ["after reset"]
