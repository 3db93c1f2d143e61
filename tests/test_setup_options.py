"""``setup_storage`` rejects what nothing takes at the call, not when the bot starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiogram import Dispatcher

from tt_storage import StorageMiddleware, setup_storage


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"langs": ["en", "ru"]}, "'langs': did you mean 'languages'?"),
        ({"max_szie": 3}, "'max_szie': did you mean 'max_size'?"),
        ({"migrte": True}, "'migrte': did you mean 'migrate'?"),
        ({"zzz": 1}, "'zzz': it takes acquire_timeout, cache_max_silence, cache_size"),
    ],
)
def test_unknown_option_is_a_type_error_at_the_call(
    options: dict[str, object], message: str
) -> None:
    dp = Dispatcher()
    before = list(dp.update.outer_middleware)
    with pytest.raises(TypeError, match=re.escape(message)):
        setup_storage(dp, "postgresql://u@127.0.0.1/x", **options)
    # Nothing was registered: the dispatcher is as it was.
    assert "tt_storage" not in dp.workflow_data
    assert list(dp.update.outer_middleware) == before
    assert not dp.startup.handlers


def test_bad_pool_sizes_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="pool sizes"):
        setup_storage(Dispatcher(), min_size=5, max_size=2)


def test_every_documented_kind_of_option_is_accepted() -> None:
    dp = Dispatcher()
    middleware = setup_storage(
        dp,
        "postgresql://u@127.0.0.1/x",
        languages=["en"],  # a middleware option
        migrate=True,  # an init_storage keyword
        max_size=3,  # a pool option
        outbox_size=10,
        key="storage",
        track_blocks=False,
    )
    assert dp["storage"] is middleware
    assert len(dp.startup.handlers) == 1


def test_the_middleware_setup_checks_its_init_options_too() -> None:
    with pytest.raises(TypeError, match=re.escape("'replica': did you mean 'replica_url'?")):
        StorageMiddleware().setup(Dispatcher(), replica="postgresql://u@h/x")


def test_a_second_setup_storage_on_one_dispatcher_is_an_error_naming_the_first() -> None:
    dp = Dispatcher()
    first = setup_storage(dp, "postgresql://u@127.0.0.1/x", key="first")
    before = (list(dp.update.outer_middleware), list(dp.startup.handlers), dp.fsm.storage)

    def setup_again() -> None:
        setup_storage(dp, "postgresql://u@127.0.0.1/y", fsm=True)

    def middleware_again() -> None:
        StorageMiddleware().setup(dp)

    for again in (setup_again, middleware_again):
        with pytest.raises(ValueError, match=re.escape("already called on this dispatcher")) as e:
            again()
        assert "dispatcher['first']" in str(e.value)
    # Nothing changed: one middleware, one startup hook, aiogram's own FSM storage.
    assert (list(dp.update.outer_middleware), list(dp.startup.handlers), dp.fsm.storage) == before
    assert dp["first"] is first


async def test_fsm_true_keeps_a_storage_that_holds_states() -> None:
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.fsm.storage.memory import MemoryStorage

    theirs = MemoryStorage()
    await theirs.set_state(StorageKey(42, 1, 1), "Form:name")
    dp = Dispatcher(storage=theirs)
    with pytest.raises(ValueError, match="MemoryStorage holding FSM states"):
        setup_storage(dp, "postgresql://u@127.0.0.1/x", fsm=True)
    assert dp.fsm.storage is theirs
    assert not any(isinstance(m, StorageMiddleware) for m in dp.update.outer_middleware)


def test_fsm_true_says_when_it_replaces_a_memory_storage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tt_storage.bot.fsm import PostgresStorage

    caplog.set_level("INFO", logger="tt_storage")
    dp = Dispatcher()
    setup_storage(dp, "postgresql://u@127.0.0.1/x", fsm=True)
    assert isinstance(dp.fsm.storage, PostgresStorage)
    assert "replaces the dispatcher's MemoryStorage" in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"languages": ["en", "ru"], "default_lang": "uk"}, "default_lang 'uk' is not one of"),
        ({"languages": ["ru"]}, "default_lang 'en' is not one of languages (ru)"),
    ],
)
def test_default_lang_outside_languages_fails_at_the_call(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        setup_storage(Dispatcher(), "postgresql://u@127.0.0.1/x", **options)
    with pytest.raises(ValueError, match=re.escape(message)):
        StorageMiddleware(**options)  # type: ignore[arg-type]


def test_default_lang_inside_languages_in_another_spelling_is_accepted() -> None:
    middleware = StorageMiddleware(languages=["en", "pt-BR"], default_lang="pt_br")
    assert middleware.default_lang == "pt_br"


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (["nope.models"], "no models module 'nope.models'"),
        (["tests.no_such_module"], "no models module 'tests.no_such_module'"),
        ({"bot": ["tests.support.plugin_models", "json.nope"]}, "app 'bot': no models module"),
    ],
)
async def test_a_models_module_that_cannot_be_imported_fails_at_the_call(
    models: object, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        setup_storage(Dispatcher(), "postgresql://u@127.0.0.1/x", models=models)
    from tt_storage import Storage

    with pytest.raises(ValueError, match=re.escape(message)):
        await Storage().init("postgresql://u@127.0.0.1:1/x", models=models)  # type: ignore[arg-type]


def test_an_importable_models_module_is_accepted_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    (tmp_path / "tt_found_not_imported.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    setup_storage(Dispatcher(), "postgresql://u@127.0.0.1/x", models=["tt_found_not_imported"])
    assert "tt_found_not_imported" not in sys.modules
