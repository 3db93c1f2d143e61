"""The media cache's rules that need neither a database nor Telegram: how a long set is split
into albums, and which Bot API errors mean a stored file_id is dead."""

from __future__ import annotations

import pytest

from tt_storage.media import ALBUM_LIMIT, DEAD_FILE_ID_TEXTS, album_chunks, dead_file_id
from tt_storage.testing import texts


@pytest.mark.parametrize("count", range(1, 101))
def test_albums_are_balanced_and_never_end_in_one_item(count: int) -> None:
    chunks = album_chunks(count)
    sizes = [len(c) for c in chunks]
    assert [i for c in chunks for i in c] == list(range(count))  # every item once, in order
    assert len(chunks) == -(-count // ALBUM_LIMIT)  # as few albums as the limit allows
    assert max(sizes) <= ALBUM_LIMIT and max(sizes) - min(sizes) <= 1
    assert count == 1 or min(sizes) >= 2


def test_album_examples() -> None:
    assert [len(c) for c in album_chunks(11)] == [6, 5]
    assert [len(c) for c in album_chunks(20)] == [10, 10]
    assert [len(c) for c in album_chunks(23)] == [8, 8, 7]
    with pytest.raises(ValueError):
        album_chunks(0)


@pytest.mark.parametrize(
    "description",
    [
        texts.WRONG_FILE_ID,  # Bad Request: wrong file identifier/HTTP URL specified
        texts.MALFORMED_FILE_ID,  # … wrong remote file identifier specified: can't unserialize it
        "Bad Request: wrong remote file identifier specified: wrong string length",
        texts.FILE_REFERENCE_EXPIRED,  # Bad Request: FILE_REFERENCE_EXPIRED
        "Bad Request: FILE_REFERENCE_INVALID",
        "Bad Request: file reference expired",
        texts.ALBUM_ITEM_FAILED.format(
            position=2, error="Wrong file identifier/HTTP URL specified"
        ),
    ],
)
def test_dead_file_id_texts(description: str) -> None:
    assert dead_file_id(description)


@pytest.mark.parametrize(
    "description",
    [
        texts.retry_after(5),
        texts.BAD_GATEWAY,
        texts.INTERNAL_SERVER_ERROR,
        texts.CHAT_NOT_FOUND,
        texts.BLOCKED,
        texts.MESSAGE_TEXT_EMPTY,
        texts.TOO_MANY_IN_ALBUM,
        "Bad Request: failed to get HTTP URL content",
    ],
)
def test_other_errors_are_not_dead_file_ids(description: str) -> None:
    assert not dead_file_id(description)


def test_the_matched_texts_are_the_documented_four() -> None:
    assert DEAD_FILE_ID_TEXTS == (
        "wrong file identifier",
        "wrong remote file identifier",
        "file reference",
        "file_reference_",
    )
