"""The guide's "Your own models" (docs/models.md), followed by a newcomer: the built wheel
in a fresh venv outside the checkout, a bot project with a model of its own (a key to
``Users``), its aerich commands in every order on fresh databases (same schema each time), and
its handlers fed updates through a Dispatcher in that venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.support.schema_dump import difference, schema_of

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

TT_FIRST = [["aerich", "upgrade"], ["aerich", "--app", "models", "upgrade"]]
THEIRS_FIRST = [["aerich", "--app", "models", "upgrade"], ["aerich", "upgrade"]]


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


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
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
    run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], tmp, dict(os.environ), timeout=900
    )
    root = tmp / "bot"
    (root / "mybot").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "mybot" / "__init__.py").write_text("")
    for name, text in (
        ("models", MODELS),
        ("db", DB),
        ("bot", BOT),
        ("feed", FEED),
        ("generate", GENERATE),
    ):
        (root / "mybot" / f"{name}.py").write_text(text)
    return Project(root, venv)


def test_guide_shows_the_project_verbatim() -> None:
    for text in (PYPROJECT, MODELS, DB, BOT):
        assert textwrap.dedent(text).strip() in GUIDE
    for cmd in (*TT_FIRST, ["aerich", "--app", "models", "init-db"]):
        assert " ".join(cmd) in GUIDE


async def test_every_order_gives_one_schema_and_the_handlers_use_both_models(
    project: Project, fresh: Callable[[], Awaitable[str]]
) -> None:
    # tt-storage first, then the first migration of the bot's own app (generated here, once:
    # it must hold only the bot's table).
    reference = await fresh()
    out = project(reference, ["aerich", "upgrade"], ["aerich", "--app", "models", "init-db"])
    assert "Success generating initial migration file" in out, out
    (first,) = (project.root / "migrations" / "models").glob("0_*.py")
    generated = first.read_text()
    assert 'CREATE TABLE IF NOT EXISTS "note"' in generated
    for theirs in ('"users"', '"videos"', '"music"', '"aerich"'):
        assert f"CREATE TABLE IF NOT EXISTS {theirs}" not in generated
    assert not (project.root / "migrations" / "tt_storage").exists()  # nothing copied
    # A change to the bot's model: a migration of its own, with that change only.
    models = project.root / "mybot" / "models.py"
    models.write_text(MODELS + "    pinned = fields.BooleanField(default=False)\n")
    project(reference, ["aerich", "--app", "models", "migrate", "--name", "notes"])
    (change,) = (project.root / "migrations" / "models").glob("1_*_notes.py")
    assert 'ALTER TABLE "note" ADD "pinned"' in change.read_text()
    for theirs in ("users", "videos", "music"):
        assert theirs not in change.read_text().split("MODELS_STATE")[0]
    project(reference, ["aerich", "--app", "models", "upgrade"])
    expected = await schema_of(reference)
    assert any(line.startswith("column | note | pinned") for line in expected)

    orders: dict[str, list[list[str]]] = {
        "tt-storage first": TT_FIRST,
        "the bot's app first": THEIRS_FIRST,
        "init-db on a new database (a fresh clone)": [["aerich", "--app", "models", "init-db"]],
    }
    for name, commands in orders.items():
        url = await fresh()
        project(url, *commands)
        assert difference(expected, await schema_of(url)) == "", name
    # An application that makes every table with Tortoise.generate_schemas(), then tt-storage's
    # migrations: they take over its users/videos/music, which end as in every other order.
    # (Its own table comes from generate_schemas then, not from its aerich migrations, so it is
    # left out of the comparison: Tortoise and aerich place a column added later differently.)
    url = await fresh()
    project(url, ["python", "-m", "mybot.generate"], ["aerich", "upgrade"])

    def tt_storage_part(schema: list[str]) -> list[str]:
        return [
            line
            for line in schema
            if not line.startswith("aerich | models |")
            and not line.split(" | ")[1].startswith("note")
        ]

    assert difference(tt_storage_part(expected), tt_storage_part(await schema_of(url))) == ""
    # A re-run changes nothing.
    again = project(reference, *TT_FIRST)
    assert again.count("No upgrade items found") == 2, again
    assert difference(expected, await schema_of(reference)) == "", "re-run"

    updates = [[501, "one", "uk"], [501, "two", "uk"], [502, "three", "en"]]
    fed = json.loads(
        project(reference, ["python", "-m", "mybot.feed", json.dumps(updates)])
        .strip()
        .splitlines()[-1]
    )
    assert fed["sent"] == ["1 notes, 1 in uk", "2 notes, 2 in uk", "1 notes, 1 in en"]
    assert fed["uk_notes"] == ["one", "two"]
