"""``setup_storage`` rejects what nothing takes at the call, not when the bot starts."""

from __future__ import annotations

import re

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
