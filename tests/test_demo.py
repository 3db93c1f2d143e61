"""The demo's summary lines say what they count."""

from __future__ import annotations

from tests.support.examples import load_example

demo = load_example("demo.py", "tt_storage_example_demo")


def test_the_languages_line_accounts_for_every_chat() -> None:
    """300 chats, 68 of which picked a language with /lang: the line names both numbers, not a
    bare 232/232 that looks like a miscount of the 300."""
    ok, text = demo.language_check(232, 232, 300)
    assert ok
    assert "232/232 chats that kept it" in text
    assert "68 of the 300 chats picked another with /lang" in text
    assert not demo.language_check(231, 232, 300)[0]
