"""`import tt_storage` and the CLI stay cheap: aiogram only once a name needs it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def modules_after(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = (
        f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import tt_storage",
        "import tt_storage.cli",
        "from tt_storage import init_storage, get_user_settings, add_video, Users, tortoise_config",
        "import tt_storage.cli; tt_storage.cli.build_parser().format_help()",
    ],
)
def test_no_aiogram_until_an_aiogram_name_is_used(code: str) -> None:
    loaded = modules_after(code)
    assert "tt_storage" in loaded
    assert "aiogram" not in loaded


@pytest.mark.parametrize("name", ["setup_storage", "broadcast"])
def test_an_aiogram_facing_name_loads_it_on_use(name: str) -> None:
    assert "aiogram" in modules_after(f"from tt_storage import {name}")


def test_lazy_names_are_the_real_objects() -> None:
    import tt_storage
    import tt_storage.broadcast  # the submodule import must not replace the function
    from tt_storage.middleware import StorageMiddleware, setup_storage

    assert tt_storage.StorageMiddleware is StorageMiddleware
    assert tt_storage.setup_storage is setup_storage
    assert (
        callable(tt_storage.broadcast) and tt_storage.broadcast.__module__ == "tt_storage.broadcast"
    )
    assert set(tt_storage.__all__) <= set(dir(tt_storage))
    for name in tt_storage.__all__:
        assert getattr(tt_storage, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = tt_storage.nothing
