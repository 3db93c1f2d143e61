"""The schema `aerich upgrade` builds: the seed's columns exactly, plus the indexes."""

from __future__ import annotations

import asyncpg

EXPECTED_COLUMNS = {
    # table: {column: (data_type, is_nullable, default)}
    "users": {
        "user_id": ("bigint", "NO", None),
        "registered_at": ("bigint", "YES", None),
        "lang": ("character varying", "NO", "'en'::character varying"),
        "link": ("character varying", "YES", None),
        "file_mode": ("boolean", "NO", "false"),
        "ad_count": ("integer", "NO", "0"),
        "ad_cooldown": ("bigint", "NO", "0"),
        # Added by tt-storage (migration 3): nullable, so adopting a seed database is instant.
        "blocked_at": ("bigint", "YES", None),
    },
    "videos": {
        "pk_id": ("bigint", "NO", "nextval('videos_pk_id_seq'::regclass)"),
        "user_id": ("bigint", "NO", None),
        "downloaded_at": ("bigint", "YES", None),
        "video_link": ("character varying", "NO", None),
        "is_images": ("boolean", "NO", "false"),
        "is_processed": ("boolean", "NO", "false"),
        "is_inline": ("boolean", "NO", "false"),
    },
    "music": {
        "pk_id": ("bigint", "NO", "nextval('music_pk_id_seq'::regclass)"),
        "user_id": ("bigint", "NO", None),
        "downloaded_at": ("bigint", "YES", None),
        "video_id": ("bigint", "NO", None),
    },
}

INDEXES = {
    "idx_users_registered_at": ("users", "(registered_at)"),
    "idx_users_link": ("users", "(link)"),
    "idx_videos_user_time": ("videos", "(user_id, downloaded_at)"),
    "idx_videos_time": ("videos", "(downloaded_at)"),
    "idx_music_user_time": ("music", "(user_id, downloaded_at)"),
    "idx_music_time": ("music", "(downloaded_at)"),
    # Migration 4: slideshows per chat from the index alone (get_user_stats, all-time stats).
    "idx_videos_user_images": ("videos", "(user_id) WHERE (is_images = true)"),
}


async def test_columns_are_the_seeds_plus_blocked_at(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name IN ('users', 'videos', 'music')"
    )
    found: dict[str, dict[str, tuple[str, str, str | None]]] = {}
    for r in rows:
        found.setdefault(r["table_name"], {})[r["column_name"]] = (
            r["data_type"],
            r["is_nullable"],
            r["column_default"],
        )
    assert found == EXPECTED_COLUMNS


async def test_primary_and_foreign_keys(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "SELECT conrelid::regclass::text AS tbl, contype::text, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
        "AND contype IN ('p', 'f', 'u') "
        "AND conrelid::regclass::text IN ('users', 'videos', 'music') "
        "ORDER BY 1, 2, 3"
    )
    assert [(r["tbl"], r["contype"], r["def"]) for r in rows] == [
        ("music", "f", "FOREIGN KEY (user_id) REFERENCES users(user_id)"),
        ("music", "p", "PRIMARY KEY (pk_id)"),
        ("users", "p", "PRIMARY KEY (user_id)"),
        ("videos", "f", "FOREIGN KEY (user_id) REFERENCES users(user_id)"),
        ("videos", "p", "PRIMARY KEY (pk_id)"),
    ]


async def test_secondary_indexes_exist_and_are_valid(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "SELECT c.relname AS name, t.relname AS tbl, i.indisvalid AS valid, "
        "pg_get_indexdef(i.indexrelid) AS def FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname IN ('users', 'videos', 'music') AND NOT i.indisprimary"
    )
    found = {r["name"]: (r["tbl"], r["def"].split(" USING btree ")[1], r["valid"]) for r in rows}
    assert found == {name: (tbl, cols, True) for name, (tbl, cols) in INDEXES.items()}


async def test_user_id_is_not_generated(db: asyncpg.Connection) -> None:
    seq = await db.fetchval("SELECT pg_get_serial_sequence('users', 'user_id')")
    assert seq is None


async def test_fsm_table_and_its_cleanup_index(db: asyncpg.Connection) -> None:
    """Migration 7: aiogram FSM storage (tt_storage.bot.fsm)."""
    rows = await db.fetch(
        "SELECT column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'tt_storage_fsm'"
    )
    assert {r["column_name"]: (r["data_type"], r["is_nullable"]) for r in rows} == {
        "key": ("character varying", "NO"),
        "state": ("character varying", "YES"),
        "data": ("jsonb", "NO"),
        "state_expires_at": ("timestamp with time zone", "YES"),
        "data_expires_at": ("timestamp with time zone", "YES"),
    }
    indexes = await db.fetch(
        "SELECT c.relname AS name, i.indisvalid AS valid, i.indisprimary AS pk,"
        " pg_get_indexdef(i.indexrelid) AS def FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
        " WHERE t.relname = 'tt_storage_fsm' ORDER BY c.relname"
    )
    assert [(r["name"], r["valid"], r["pk"]) for r in indexes] == [
        ("idx_fsm_expiry", True, False),
        ("tt_storage_fsm_pkey", True, True),
    ]
    assert indexes[0]["def"].endswith(
        "USING btree (GREATEST(state_expires_at, data_expires_at))"
        " WHERE ((state_expires_at IS NOT NULL) AND (data_expires_at IS NOT NULL))"
    )
