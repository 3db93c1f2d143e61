"""The guide's "Your own models" (docs/models.md), followed by a newcomer: the built wheel in
a fresh venv outside the checkout (the aerich, Tortoise, asyncpg and aiogram versions this
suite runs on: the newest, or the oldest allowed under ``make test-lowest``), a bot project
with models of its own (keys to ``Users``), its handlers fed updates through a Dispatcher, and
its schema grown by five successive migrations on each path: aerich (then replayed in every
order the guide allows on fresh databases, same schema each time) and Tortoise's own
migrations. Both paths end with the same tt-storage schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from tortoise.models import Model

from tests.support import database
from tests.support.schema_dump import difference, schema_of
from tt_storage.core import models as tt_models

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "models.md").read_text()

# The bot project, file for file as the guide shows it.
PYPROJECT = """\
[tool.aerich]
tortoise_orm = "mybot.db.TORTOISE_ORM"
location = "./migrations"
src_folder = "./."
"""

MODELS = """\
from tortoise import fields
from tortoise.models import Model


class Note(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("tt_storage.Users", related_name="notes")
    text = fields.TextField()
"""

DB = """\
from tt_storage.core.config import migration_config

MODELS = ["mybot.models"]
TORTOISE_ORM = migration_config(models=MODELS)  # what aerich loads
"""

BOT = """\
from aiogram import Dispatcher
from aiogram.types import Message
from tt_storage import UserSettings, Users, setup_storage

from mybot.models import Note

dp = Dispatcher()
setup_storage(dp, models=["mybot.models"])  # on DB_URL


@dp.message()
async def remember(message: Message, user_settings: UserSettings) -> None:
    await Note.create(user_id=user_settings.chat_id, text=message.text)
    user = await Users.get(user_id=user_settings.chat_id).prefetch_related("notes")
    same_language = await Note.filter(user__lang=user.lang).count()
    await message.answer(f"{len(user.notes)} notes, {same_language} in {user.lang}")
"""

# Not in the guide: feeds updates to the bot's Dispatcher offline and prints what it did.
FEED = """\
import asyncio, json, sys
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.types import Update
from tortoise import Tortoise

from mybot.bot import dp
from mybot.models import Note


class Offline(BaseSession):
    sent = []

    async def make_request(self, bot, method, timeout=None):
        self.sent.append(method.text)
        return method.__returning__.model_validate(
            {"message_id": 1, "date": 0, "chat": {"id": method.chat_id, "type": "private"}}
        )

    async def stream_content(self, *args, **kwargs):
        yield b""

    async def close(self):
        pass


def message(update_id, chat_id, text, lang):
    user = {"id": chat_id, "is_bot": False, "first_name": "u", "language_code": lang}
    return Update.model_validate({"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": text,
        "chat": {"id": chat_id, "type": "private"}, "from": user}})


async def main():
    bot = Bot("42:TEST", session=Offline())
    await dp.emit_startup(bot=bot)
    try:
        for n, (chat, text, lang) in enumerate(json.loads(sys.argv[1]), 1):
            await dp.feed_update(bot, message(n, chat, text, lang))
        joined = await Note.filter(user__lang="uk").values_list("text", flat=True)
        in_context = Tortoise.get_connection("default") is not None
    finally:
        await dp.emit_shutdown(bot=bot)
    print(json.dumps({"sent": Offline.sent, "uk_notes": sorted(joined), "one_pool": in_context}))


asyncio.run(main())
"""

# Not in the guide: an application that creates its tables with Tortoise itself.
GENERATE = """\
import asyncio
from tortoise import Tortoise
from tt_storage.ops import tortoise_config
from mybot.db import MODELS


async def main():
    await Tortoise.init(config=tortoise_config(models=MODELS))
    await Tortoise.generate_schemas()
    await Tortoise.close_connections()


asyncio.run(main())
"""

# The Tortoise path's two differences, as the guide shows them.
TORTOISE_PYPROJECT = """\
[tool.tortoise]
tortoise_orm = "mybot.db.TORTOISE_ORM"
"""

TORTOISE_DB = """\
from tt_storage.core.config import migration_config

MODELS = ["mybot.models"]
TORTOISE_ORM = migration_config(models=MODELS, migrations="mybot.migrations")
"""

TT_FIRST = [["aerich", "upgrade"], ["aerich", "--app", "models", "upgrade"]]
THEIRS_FIRST = [["aerich", "--app", "models", "upgrade"], ["aerich", "upgrade"]]

# What a bot does to its models over time, one migration each: new models with keys to Users
# and to another tt-storage model, a new key column, a rename, an index, a dropped key column,
# a dropped model with a key to Users, a model with keys to Users and to one of the bot's own.
_NOTE = """

class Note(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("tt_storage.Users", related_name="notes")
    {text} = fields.TextField()
    pinned = fields.BooleanField(default=False)
"""
_AUTHOR = (
    '    author = fields.ForeignKeyField("tt_storage.Users", related_name="authored", null=True)\n'
)
_TAG = """

class Tag(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("tt_storage.Users", related_name="tags")
    name = fields.CharField(max_length=32{index})
"""
_CLIP = """

class Clip(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("tt_storage.Users", related_name="clips")
    video = fields.ForeignKeyField("tt_storage.Video", related_name="clips")
"""
_REMINDER = """

class Reminder(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("tt_storage.Users", related_name="reminders")
    note = fields.ForeignKeyField("models.Note", related_name="reminders")
    at = fields.BigIntField()
"""
_HEAD = "from tortoise import fields\nfrom tortoise.models import Model\n"
STEPS = [
    ("tags", _HEAD + _NOTE.format(text="text") + _TAG.format(index="")),
    ("authors", _HEAD + _NOTE.format(text="text") + _AUTHOR + _TAG.format(index="") + _CLIP),
    (
        "renames",
        _HEAD + _NOTE.format(text="body") + _AUTHOR + _TAG.format(index=", db_index=True") + _CLIP,
    ),
    ("no_author", _HEAD + _NOTE.format(text="body") + _TAG.format(index=", db_index=True") + _CLIP),
    ("reminders", _HEAD + _NOTE.format(text="body") + _CLIP + _REMINDER),
]
HOST_TABLES = ("note", "tag", "clip", "reminder")
# Every key column the last step has, and its target: both paths must have each one.
FOREIGN_KEYS = {
    ("note", "user_id"): "users(user_id)",
    ("clip", "user_id"): "users(user_id)",
    ("clip", "video_id"): "videos(pk_id)",
    ("reminder", "user_id"): "users(user_id)",
    ("reminder", "note_id"): "note(id)",
}
TT_TABLES = sorted(
    {
        m._meta.db_table
        for m in vars(tt_models).values()
        if isinstance(m, type) and issubclass(m, Model) and not m._meta.abstract
    }
)
TOUCHES_TT_TABLE = re.compile(
    r'(CREATE|ALTER|DROP|COMMENT ON) (TABLE|INDEX)[^"]*"('
    + "|".join([*TT_TABLES, "aerich"])
    + r')"'
    r'|ON "(' + "|".join(TT_TABLES) + r')"'
)


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


class Project:
    def __init__(self, root: Path, venv: Path) -> None:
        self.root, self.venv = root, venv

    def env(self, db_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["DB_URL"] = db_url
        return env

    def __call__(self, db_url: str, *commands: list[str]) -> str:
        out = ""
        for cmd in commands:
            exe = [str(self.venv / "bin" / cmd[0]), *cmd[1:]]
            out += run(exe, self.root, self.env(db_url))
        return out

    @property
    def models(self) -> Path:
        return self.root / "mybot" / "models.py"


def _write_project(root: Path, files: dict[str, str], pyproject: str) -> None:
    (root / "mybot").mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject)
    (root / "mybot" / "__init__.py").write_text("")
    for name, text in files.items():
        (root / "mybot" / f"{name}.py").write_text(text)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once, in a fresh venv with this run's versions of its dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        tmp,
        dict(os.environ),
        timeout=600,
    )
    (wheel,) = dist.glob("tt_storage-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp, dict(os.environ))
    pins = [f"{name}=={version(name)}" for name in ("aerich", "tortoise-orm", "asyncpg", "aiogram")]
    run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel), *pins],
        tmp,
        dict(os.environ),
        timeout=900,
    )
    return venv


@pytest.fixture(scope="module")
def project(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("bot")
    files = {"models": MODELS, "db": DB, "bot": BOT, "feed": FEED, "generate": GENERATE}
    _write_project(root, files, PYPROJECT)
    return Project(root, venv)


@pytest.fixture(scope="module")
def tortoise_project(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("tortoise-bot")
    _write_project(root, {"models": MODELS, "db": TORTOISE_DB}, TORTOISE_PYPROJECT)
    (root / "mybot" / "migrations").mkdir()
    (root / "mybot" / "migrations" / "__init__.py").write_text("")
    return Project(root, venv)


@pytest.fixture(scope="module")
async def databases(admin_url: str) -> Any:
    """Makes databases that live as long as this module's tests."""
    made: list[str] = []

    async def make() -> str:
        made.append(await database.create_database(admin_url, "tt_storage_wheel"))
        return made[-1]

    yield make
    for url in made:
        await database.drop_database(admin_url, url)


def test_guide_shows_the_project_verbatim() -> None:
    for text in (PYPROJECT, MODELS, DB, BOT, TORTOISE_PYPROJECT, TORTOISE_DB):
        assert textwrap.dedent(text).strip() in GUIDE
    for cmd in (*TT_FIRST, ["aerich", "--app", "models", "init-db"]):
        assert " ".join(cmd) in GUIDE
    for line in ("tortoise makemigrations", "tortoise migrate"):
        assert line in GUIDE


def assert_only_theirs(migration: Path) -> None:
    """A migration of the bot's app: none of tt-storage's tables made, changed or dropped."""
    upgrade = migration.read_text().split("MODELS_STATE")[0]
    assert not TOUCHES_TT_TABLE.search(upgrade), f"{migration.name}:\n{upgrade}"


def host_keys(schema: list[str]) -> dict[tuple[str, str], str]:
    """(table, column) -> target of every foreign key of the bot's tables in a schema dump."""
    found = {}
    for line in schema:
        kind, table, _name, *definition = line.split(" | ")
        match = re.match(r"FOREIGN KEY \((\w+)\) REFERENCES (\w+\(\w+\))", " | ".join(definition))
        if kind == "constraint" and table in HOST_TABLES and match:
            found[(table, match[1])] = match[2]
    return found


def tt_storage_part(schema: list[str]) -> list[str]:
    """A schema dump without the bot's tables and without the migration runners' rows of
    anything but tt-storage."""

    def theirs(name: str) -> bool:
        return name == "tortoise_migrations" or any(
            name == t or name.startswith(f"{t}_") for t in (*HOST_TABLES, "tortoise_migrations")
        )

    return [
        line
        for line in schema
        if not theirs(line.split(" | ")[1])
        and not (line.startswith("aerich | ") and not line.startswith("aerich | tt_storage |"))
    ]


@pytest.fixture(scope="module")
async def aerich_schema(project: Project, databases: Callable[[], Awaitable[str]]) -> list[str]:
    """The guide's aerich commands, then five migrations of the bot's own: the final schema.
    The bot's handlers run on the first one (its later migrations then run on rows)."""
    reference = await databases()
    out = project(reference, ["aerich", "upgrade"], ["aerich", "--app", "models", "init-db"])
    assert "Success generating initial migration file" in out, out
    folder = project.root / "migrations" / "models"
    (first,) = folder.glob("0_*.py")
    assert 'CREATE TABLE IF NOT EXISTS "note"' in first.read_text()
    assert_only_theirs(first)
    assert not (project.root / "migrations" / "tt_storage").exists()  # nothing copied

    updates = [[501, "one", "uk"], [501, "two", "uk"], [502, "three", "en"]]
    fed = json.loads(
        project(reference, ["python", "-m", "mybot.feed", json.dumps(updates)])
        .strip()
        .splitlines()[-1]
    )
    assert fed["sent"] == ["1 notes, 1 in uk", "2 notes, 2 in uk", "1 notes, 1 in en"]
    assert fed["uk_notes"] == ["one", "two"]

    for number, (name, models) in enumerate(STEPS, 1):
        project.models.write_text(models)
        migrate = ["aerich", "--app", "models", "migrate", "--name", name, "--no-input"]
        project(reference, migrate, ["aerich", "--app", "models", "upgrade"])
        (made,) = folder.glob(f"{number}_*_{name}.py")
        assert_only_theirs(made)
    text = "\n".join(p.read_text() for p in sorted(folder.glob("*.py")))
    assert 'RENAME COLUMN "text" TO "body"' in text
    assert 'DROP COLUMN "author_id"' in text
    # The notes fed above went through every migration.
    notes = await _fetch(reference, "SELECT user_id, body FROM note ORDER BY id")
    assert notes == [(501, "one"), (501, "two"), (502, "three")]
    return await schema_of(reference)


async def _fetch(url: str, query: str) -> list[tuple[Any, ...]]:
    conn = await database.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


async def test_aerich_host_migrations_in_every_order_give_one_schema(
    project: Project, aerich_schema: list[str], fresh: Callable[[], Awaitable[str]]
) -> None:
    expected = aerich_schema
    assert host_keys(expected) == FOREIGN_KEYS
    assert not any(" | tag | " in line for line in expected)
    orders: dict[str, list[list[str]]] = {
        "tt-storage first": TT_FIRST,
        "the bot's app first": THEIRS_FIRST,
        "init-db on a new database (a fresh clone)": [["aerich", "--app", "models", "init-db"]],
    }
    migrated = {}
    for name, commands in orders.items():
        url = migrated[name] = await fresh()
        project(url, *commands)
        assert difference(expected, await schema_of(url)) == "", name
    # An application that makes every table with Tortoise.generate_schemas(), then tt-storage's
    # migrations: they take over its users/videos/music, which end as in every other order.
    url = await fresh()
    project(url, ["python", "-m", "mybot.generate"], ["aerich", "upgrade"])
    generated = await schema_of(url)
    assert difference(tt_storage_part(expected), tt_storage_part(generated)) == ""
    # A re-run changes nothing.
    again = project(migrated["tt-storage first"], *TT_FIRST)
    assert again.count("No upgrade items found") == 2, again


async def test_tortoise_host_migrations_keep_their_keys_and_tt_storage_schema(
    tortoise_project: Project,
    aerich_schema: list[str],
    databases: Callable[[], Awaitable[str]],
) -> None:
    project = tortoise_project
    url = await databases()
    packaged = sorted(p.name for p in project.venv.rglob("tt_storage/_migrations/tt_storage/*.py"))
    out = project(url, ["tortoise", "makemigrations"], ["tortoise", "migrate"])
    folder = project.root / "mybot" / "migrations"
    assert [p.name for p in folder.glob("0*.py")] == ["0001_initial.py"], out
    for number, (_name, models) in enumerate(STEPS, 2):
        project.models.write_text(models)
        out = project(url, ["tortoise", "makemigrations"], ["tortoise", "migrate"])
        assert len(list(folder.glob(f"{number:04d}_*.py"))) == 1, out
    again = project(url, ["tortoise", "makemigrations"], ["tortoise", "migrate"])
    assert "No changes detected" in again, again
    # Only the bot's migrations were written: none for tt-storage, nothing into the package.
    assert packaged == sorted(
        p.name for p in project.venv.rglob("tt_storage/_migrations/tt_storage/*.py")
    )
    schema = await schema_of(url)
    assert host_keys(schema) == FOREIGN_KEYS
    assert difference(tt_storage_part(aerich_schema), tt_storage_part(schema)) == ""
    # `migrate` naming the bot's app alone, on a new database: tt-storage's migrations first,
    # the key columns kept (Tortoise PR #2278: a subset run can lose keys to a sibling app).
    alone = await databases()
    project(alone, ["tortoise", "migrate", "models"])
    assert difference(schema, await schema_of(alone)) == ""
