"""`import tt_storage` and the CLI stay cheap: aiogram only once a name needs it. The layout's
rooms import only downwards, and the old flat module paths still work, with a warning."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tt_storage"


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
        "import tt_storage.ops.cli",
        "from tt_storage import init_storage, get_user_settings, add_video, Users, Storage",
        "from tt_storage.ops import tortoise_config, apply_migrations",
        "from tt_storage.admin import get_quick_stats, iter_user_ids",
        "import tt_storage.ops.cli; tt_storage.ops.cli.build_parser().format_help()",
        "from tt_storage.media import Produced, MediaItem, lookup_media, media_flight",
    ],
)
def test_no_aiogram_until_an_aiogram_name_is_used(code: str) -> None:
    loaded = modules_after(code)
    assert "tt_storage" in loaded
    assert "aiogram" not in loaded


@pytest.mark.parametrize(
    "code",
    [
        "from tt_storage import setup_storage",
        "from tt_storage.admin.broadcast import broadcast",
        "from tt_storage.media import send_cached",
    ],
)
def test_an_aiogram_facing_name_loads_it_on_use(code: str) -> None:
    assert "aiogram" in modules_after(code)


def test_lazy_names_are_the_real_objects() -> None:
    import tt_storage
    import tt_storage.admin.broadcast
    from tt_storage.bot.middleware import StorageMiddleware, setup_storage

    assert tt_storage.StorageMiddleware is StorageMiddleware
    assert tt_storage.setup_storage is setup_storage
    assert set(tt_storage.__all__) <= set(dir(tt_storage))
    for name in tt_storage.__all__:
        assert getattr(tt_storage, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = tt_storage.nothing


def test_admin_and_operator_names_moved_to_their_rooms_with_a_warning() -> None:
    import tt_storage

    moved = dict(tt_storage._MOVED)
    for room in tt_storage._MOVED_TO_ROOMS:
        moved |= dict.fromkeys(importlib.import_module(f"tt_storage.{room}").__all__, room)
    assert len(moved) == 24  # the admin and operator names of 0.1's top level
    assert not set(moved) & set(tt_storage.__all__)
    for name, room in moved.items():
        with pytest.warns(
            DeprecationWarning, match=f"tt_storage.{name} moved to tt_storage.{room}"
        ):
            old = getattr(tt_storage, name)
        assert old is getattr(importlib.import_module(f"tt_storage.{room}"), name)
    for room in ("admin", "ops"):
        module = importlib.import_module(f"tt_storage.{room}")
        for name in module.__all__:
            assert getattr(module, name) is not None, (room, name)
    # The rooms are attributes of the package without an import of their own.
    code = "import tt_storage; print(tt_storage.admin.get_quick_stats.__module__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "tt_storage.services.analytics"


#: Each room of the package imports only from the rooms below it.
ROOMS = ["core", "services", "bot", "admin", "ops"]
BELOW = {
    "core": {"core"},
    "services": {"core", "services"},
    "bot": {"core", "services", "bot"},
    "admin": {"core", "services", "admin"},
    "ops": {"core", "services", "ops"},
}


def imported_rooms(path: Path) -> set[str]:
    """The rooms (``core``, ``bot``, …) that the module at ``path`` imports from, lazily or not."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = parts[:-1]
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[tuple[str, ...]] = []
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = (*base, *(node.module.split(".") if node.module else ()))
            targets = [module] if node.module else [(*module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [tuple(a.name.split(".")) for a in node.names]
        for target in targets:
            if len(target) > 1 and target[0] == "tt_storage" and target[1] in ROOMS:
                rooms.add(target[1])
            elif target and target[0] == "tt_storage":
                rooms.add("top")
    return rooms


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_the_rooms_below_it(room: str) -> None:
    modules = sorted((PACKAGE / room).rglob("*.py"))
    assert modules
    wrong = {
        str(m.relative_to(PACKAGE)): sorted(imported_rooms(m) - BELOW[room])
        for m in modules
        if imported_rooms(m) - BELOW[room]
    }
    assert wrong == {}


#: The flat module paths before the layout (0.1), still importable for one release.
OLD_PATHS = {
    "adopt": "ops.adopt",
    "blocking": "bot.blocking",
    "broadcast": "admin.broadcast",
    "cache": "core.cache",
    "cli": "ops.cli",
    "config": "core.config",
    "db": "core.db",
    "embedded": "core.embedded",
    "errors": "core.errors",
    "fsm": "bot.fsm",
    "i18n": "bot.i18n",
    "isolation": "bot.isolation",
    "lifecycle": "services.storage",
    "middleware": "bot.middleware",
    "models": "core.models",
    "outbox": "core.outbox",
    "settings": "core.user_settings",
}


@pytest.mark.parametrize(("old", "new"), sorted(OLD_PATHS.items()))
def test_an_old_module_path_warns_and_is_the_new_module(old: str, new: str) -> None:
    code = (
        "import warnings, importlib\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "import tt_storage\n"
        f"new = importlib.import_module('tt_storage.{new}')\n"
        "try:\n"
        f"    importlib.import_module('tt_storage.{old}')\n"
        "except DeprecationWarning as w:\n"
        "    print(w)\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        f"old = importlib.import_module('tt_storage.{old}')\n"
        "print(old is new)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    message, same = done.stdout.splitlines()
    assert message.startswith(f"tt_storage.{old} moved to tt_storage.{new}")
    assert same == "True"


def test_an_old_path_gives_the_same_names_and_keeps_the_broadcast_function() -> None:
    import tt_storage
    from tt_storage.bot.middleware import setup_storage
    from tt_storage.core.config import migration_config

    with pytest.warns(DeprecationWarning, match=r"tt_storage\.middleware moved"):
        old = importlib.import_module("tt_storage.middleware")
    assert old.setup_storage is setup_storage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("tt_storage.broadcast")
        old_config = importlib.import_module("tt_storage.config")
        # The submodule import must not replace the (moved) function of the same name.
        assert callable(tt_storage.broadcast)
        assert tt_storage.broadcast.__module__ == "tt_storage.admin.broadcast"
    assert old_config.migration_config is migration_config


@pytest.mark.parametrize(
    "code",
    [
        "import tt_storage; tt_storage.setup_storage; tt_storage.ops.adopt_database; "
        "tt_storage.PostgresStorage; tt_storage.AdvisoryLockIsolation",
        "import tt_storage.admin.broadcast; tt_storage.admin.get_quick_stats",
        "import tt_storage.ops.cli, tt_storage.bot.i18n, tt_storage.core.routing",
    ],
)
def test_the_package_itself_never_uses_an_old_path(code: str) -> None:
    subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        check=True,
        timeout=120,
    )


def test_python_m_an_old_path_still_runs_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tt_storage.adopt", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "python -m tt_storage.ops.adopt" in done.stdout
    assert "python -m tt_storage.adopt is now python -m tt_storage.ops.adopt" in done.stderr


#: What the tests may import of benchmarks/ outside tests/test_benchmarks.py (which runs the
#: benchmarks): the parts that are no benchmark, shared with the tests.
SHARED_WITH_TESTS = ("benchmarks.database", "benchmarks.seed_models")


def absolute_imports(path: Path) -> set[str]:
    """The dotted names the module at ``path`` imports absolutely (``from a.b import c``: a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_benchmarks_never_import_the_tests_and_the_tests_only_their_shared_parts() -> None:
    root = PACKAGE.parent
    wrong = [
        f"{path.relative_to(root)}: {name}"
        for path in sorted((root / "benchmarks").rglob("*.py"))
        for name in absolute_imports(path)
        if name.split(".")[0] == "tests"
    ]
    wrong += [
        f"{path.relative_to(root)}: {name}"
        for path in sorted((root / "tests").rglob("*.py"))
        if path.name != "test_benchmarks.py"
        for name in absolute_imports(path)
        if name.split(".")[0] == "benchmarks"
        and not any(name.startswith(shared + ".") for shared in SHARED_WITH_TESTS)
    ]
    assert wrong == []
