"""tt-storage inside an application's own Tortoise setup: its models next to ours (one context,
one pool, keys to ``Users``), the app label, schemas made in any order, the start-up check."""

from __future__ import annotations

import asyncio
import contextvars
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiogram import Dispatcher
from aiogram.types import Message
from tortoise import Tortoise
from tortoise.context import TortoiseContext

import tt_storage as tt
from tests.support import database
from tests.support import telegram as support_telegram
from tests.support.plugin_models import Note
from tests.support.schema_dump import difference, schema_of
from tt_storage import Users, UserSettings
from tt_storage.core.app import APP, LEGACY_APP, migrations_location, packaged_migrations
from tt_storage.core.config import migration_config, tortoise_config
from tt_storage.testing import updates as events

MODELS = ["tests.support.plugin_models"]


@asynccontextmanager
async def library_on(url: str, session_url: str, **options: Any) -> AsyncIterator[None]:
    """tt_storage bound to ``url`` for the block, then to the session database again."""
    await tt.close_storage()
    try:
        await tt.init_storage(url, max_size=5, **options)
        yield
    finally:
        await tt.close_storage()
        await tt.init_storage(session_url, max_size=20)


async def in_own_context(work: Callable[[], Awaitable[Any]]) -> Any:
    """``work()`` in a Tortoise context of its own (as another process would run it)."""

    async def isolated() -> Any:
        with TortoiseContext():
            return await work()

    return await asyncio.create_task(isolated(), context=contextvars.Context())


async def generate_schemas(url: str) -> None:
    """What an application calling ``Tortoise.generate_schemas()`` with both apps does."""

    async def work() -> None:
        await Tortoise.init(config=tortoise_config(url, models=MODELS, max_size=2))
        try:
            await Tortoise.generate_schemas(safe=True)
        finally:
            await Tortoise.close_connections()

    await in_own_context(work)


# --- the configuration ---------------------------------------------------------------------------


def test_config_merges_the_apps_on_one_connection() -> None:
    config = tortoise_config("postgresql://u@h/db", models={"bot": ["mybot.models"]})
    assert list(config["apps"]) == [APP, "bot"]  # aerich without --app: tt-storage's
    assert config["apps"]["bot"] == {"models": ["mybot.models"], "default_connection": "default"}
    assert list(config["connections"]) == ["default"]
    plain = tortoise_config("postgresql://u@h/db", models=["mybot.models"])
    assert plain["apps"]["models"]["models"] == ["mybot.models"]  # Tortoise's default label


@pytest.mark.parametrize(
    "models",
    [
        "mybot.models",
        {APP: ["mybot.models"]},
        ["tt_storage.core.models"],
        ["aerich.models"],
        {"bot": "mybot.models"},
    ],
)
def test_bad_models_fail_at_the_call(models: Any) -> None:
    with pytest.raises(ValueError):
        tortoise_config("postgresql://u@h/db", models=models)
    with pytest.raises(ValueError):
        tt.setup_storage(Dispatcher(), "postgresql://u@h/db", models=models)


# --- fail fast -----------------------------------------------------------------------------------


async def test_unmigrated_database_is_refused_at_start(
    fresh: Callable[[], Awaitable[str]], db_url: str
) -> None:
    url = await fresh()
    await tt.close_storage()
    try:
        with pytest.raises(tt.StorageError) as empty:
            await tt.init_storage(url)
        await tt.ops.apply_migrations(url)
        last = packaged_migrations()[-1]
        conn = await database.connect(url)
        await conn.execute("DELETE FROM aerich WHERE version = $1", last)
        await conn.close()
        with pytest.raises(tt.StorageError) as behind:
            await tt.init_storage(url)
        assert not tt.default_storage().initialized
        await tt.init_storage(url, migrate=True)  # the fix it names
        await tt.close_storage()
    finally:
        await tt.init_storage(db_url, max_size=20)
    assert "no tt-storage schema" in str(empty.value)
    assert last in str(behind.value)
    for text in (str(empty.value), str(behind.value)):
        for fix in ("migrate=True", "tt-storage migrate", "aerich upgrade"):
            assert fix in text


async def test_missing_database_and_refused_login_say_so(admin_url: str, db_url: str) -> None:
    missing = database.with_database(admin_url, "tt_storage_no_such_database")
    role = "tt_storage_no_such_role"
    refused = missing.replace("postgres@", f"{role}@", 1).replace(
        "tt_storage_no_such_database", "postgres"
    )
    await tt.close_storage()
    try:
        with pytest.raises(tt.StorageError) as no_database:
            await tt.init_storage(missing, connect_timeout=5)
        with pytest.raises(tt.StorageError) as no_login:
            await tt.init_storage(refused, connect_timeout=5)
    finally:
        await tt.init_storage(db_url, max_size=20)
    assert "'tt_storage_no_such_database' does not exist" in str(no_database.value)
    assert "refused the login" in str(no_login.value) and role in str(no_login.value)
    assert "DBConnectionError" not in str(no_database.value) + str(no_login.value)


# --- the app label: databases migrated while it was "models" -----------------------------------


async def make_legacy(url: str) -> None:
    """A database as the label "models" left it: tt-storage's rows under the label "models" (their
    models state naming "models.Users"), and an application's own "models" app row."""
    await tt.ops.apply_migrations(url)
    conn = await database.connect(url)
    try:
        await conn.execute(
            "UPDATE aerich SET app = 'models', content = replace(replace(content::text,"
            " '\"tt_storage.', '\"models.'), '\"tt_storage\"', '\"models\"')::jsonb"
        )
        await conn.execute(
            "INSERT INTO aerich (version, app, content) VALUES ($1, 'models', '{}')",
            "0_20250101000000_theirs.py",
        )
    finally:
        await conn.close()


async def aerich_rows(url: str) -> list[tuple[str, str]]:
    conn = await database.connect(url)
    try:
        rows = await conn.fetch("SELECT app, version FROM aerich ORDER BY app, version")
        stale = await conn.fetchval(
            "SELECT count(*) FROM aerich WHERE app = $1 AND content::text LIKE '%\"models.%'", APP
        )
    finally:
        await conn.close()
    assert stale == 0
    return [(r["app"], r["version"]) for r in rows]


def relabelled() -> list[tuple[str, str]]:
    return sorted(
        [(LEGACY_APP, "0_20250101000000_theirs.py")] + [(APP, v) for v in packaged_migrations()]
    )


async def test_legacy_database_keeps_working(
    fresh: Callable[[], Awaitable[str]], db_url: str
) -> None:
    url = await fresh()
    await make_legacy(url)
    reference = await schema_of(url)
    async with library_on(url, db_url):  # the start-up check accepts the old label
        await tt.register_user(5, "en")
    assert await tt.ops.pending_migrations(url) == []
    assert await tt.ops.apply_migrations(url) == []
    assert await aerich_rows(url) == relabelled()  # the application's own row untouched
    after = await schema_of(url)
    assert (
        difference(
            [x for x in reference if not x.startswith("aerich")],
            [x for x in after if not x.startswith("aerich")],
        )
        == ""
    )


async def test_plain_aerich_upgrade_relabels_a_legacy_database(
    fresh: Callable[[], Awaitable[str]],
) -> None:
    # `aerich upgrade` from a shell, with the documented config (migration_config): aerich's
    # own start relabels the rows, then finds nothing pending.
    from aerich import Command

    url = await fresh()
    await make_legacy(url)
    before = await schema_of(url)

    async def upgrade() -> list[str]:
        config = migration_config(url)
        async with Command(config, app=APP, location=str(migrations_location())) as command:
            applied: list[str] = await command.upgrade(run_in_transaction=True)
        return applied

    assert await in_own_context(upgrade) == []
    assert await aerich_rows(url) == relabelled()
    schema = [x for x in await schema_of(url) if not x.startswith("aerich")]
    assert difference([x for x in before if not x.startswith("aerich")], schema) == ""


async def test_aerich_migrate_sees_no_change(
    fresh: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # The models state recorded by the last migration (and, for a relabelled database, in
    # aerich's rows) must match the models, or `aerich migrate` writes a bogus migration.
    from aerich import Command

    location = tmp_path / "migrations"
    shutil.copytree(migrations_location() / APP, location / APP)
    for legacy in (False, True):
        url = await fresh()
        if legacy:
            await make_legacy(url)
        await tt.ops.apply_migrations(url)

        async def migrate(url: str = url) -> str | None:
            config = migration_config(url)
            async with Command(config, app=APP, location=str(location)) as command:
                made: str | None = await command.migrate("probe", no_input=True)
            return made

        assert await in_own_context(migrate) == ""
        found = (p.name for p in (location / APP).glob("*.py"))
        assert sorted(found, key=lambda n: int(n.split("_", 1)[0])) == packaged_migrations()


# --- schemas made in any order -------------------------------------------------------------------


async def test_generate_schemas_first_converges(fresh: Callable[[], Awaitable[str]]) -> None:
    ours_first, theirs_first = await fresh(), await fresh()
    await tt.ops.apply_migrations(ours_first)
    await generate_schemas(ours_first)
    await generate_schemas(theirs_first)  # users/videos/music made by Tortoise, not by us
    await tt.ops.apply_migrations(theirs_first)
    assert difference(await schema_of(ours_first), await schema_of(theirs_first)) == ""
    # A re-run of both changes nothing.
    await generate_schemas(theirs_first)
    assert await tt.ops.apply_migrations(theirs_first) == []
    assert difference(await schema_of(ours_first), await schema_of(theirs_first)) == ""


async def test_table_in_another_shape_is_refused(fresh: Callable[[], Awaitable[str]]) -> None:
    url = await fresh()
    conn = await database.connect(url)
    try:
        await conn.execute('CREATE TABLE "users" (user_id BIGINT PRIMARY KEY, lang INTEGER)')
        with pytest.raises(tt.StorageError) as refused:
            await tt.ops.apply_migrations(url)
        assert "users.lang is integer" in str(refused.value)
        assert "users.file_mode is missing" in str(refused.value)
        recorded = await conn.fetchval("SELECT to_regclass('aerich') IS NOT NULL")
        # Nothing recorded, nothing created: the transaction of migration 0 rolled back.
        assert not recorded or await conn.fetchval("SELECT count(*) FROM aerich") == 0
        assert await conn.fetchval("SELECT to_regclass('videos')") is None
    finally:
        await conn.close()


async def test_blocked_at_in_another_shape_is_refused(fresh: Callable[[], Awaitable[str]]) -> None:
    url = await fresh()
    conn = await database.connect(url)
    try:
        await conn.execute(
            'CREATE TABLE "users" (user_id BIGINT PRIMARY KEY, registered_at BIGINT,'
            " lang VARCHAR NOT NULL, link VARCHAR, file_mode BOOL NOT NULL,"
            " ad_count INT NOT NULL, ad_cooldown BIGINT NOT NULL, blocked_at TEXT)"
        )
        with pytest.raises(tt.StorageError) as refused:
            await tt.ops.apply_migrations(url)
        assert "users.blocked_at already exists as text" in str(refused.value)
    finally:
        await conn.close()


# --- their models in handlers --------------------------------------------------------------------


async def test_own_models_in_handlers(fresh: Callable[[], Awaitable[str]], db_url: str) -> None:
    url = await fresh()
    await tt.close_storage()
    dp = Dispatcher()
    seen: list[tuple[str, int, list[str], str]] = []

    @dp.message()
    async def note(message: Message, user_settings: UserSettings) -> None:
        await Note.create(user_id=user_settings.chat_id, text=message.text or "")
        same_lang = await Note.filter(user__lang=user_settings.lang).count()
        user = await Users.get(user_id=user_settings.chat_id).prefetch_related("notes")
        first = await Note.filter(user_id=user_settings.chat_id).select_related("user").first()
        assert first is not None
        notes = user.notes  # type: ignore[attr-defined]  # Note's reverse relation: not in Users
        seen.append((user.lang, same_lang, [n.text for n in notes], first.user.lang))

    await generate_schemas(url)  # the application's table (start-up checks it is there)
    tt.setup_storage(dp, url, models=MODELS, migrate=True, languages=["en", "uk"])
    telegram = support_telegram.server()
    bot = telegram.bot()
    try:
        await dp.emit_startup(bot=bot)
        await dp.feed_update(bot, events.message(501, "one", lang="uk"))
        await dp.feed_update(bot, events.message(501, "two", lang="uk"))
        await dp.feed_update(bot, events.message(502, "three", lang="en"))
        # Concurrent updates of new chats: the pool is shared, nothing is lost.
        await asyncio.gather(
            *(dp.feed_update(bot, events.message(600 + i, f"n{i}")) for i in range(20))
        )
        assert await Note.filter(user__user_id__gte=600).count() == 20
    finally:
        await dp.emit_shutdown(bot=bot)
        await tt.init_storage(db_url, max_size=20)
    assert seen[:3] == [
        ("uk", 1, ["one"], "uk"),
        ("uk", 2, ["one", "two"], "uk"),
        ("en", 1, ["three"], "en"),
    ]
    conn = await database.connect(url)
    try:
        notes = await conn.fetchval("SELECT count(*) FROM app_notes")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO app_notes (user_id, text) VALUES (1, 'x')")
    finally:
        await conn.close()
    assert notes == 23
