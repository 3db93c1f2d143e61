"""The schema `aerich upgrade` builds: keys and indexes. (Its columns are the models':
tests/test_contract.py; the seed's are those, less tt-storage's additions: tests/test_adoption.py.)
"""

from __future__ import annotations

import asyncpg

INDEXES = {
    "idx_users_registered_at": ("users", "(registered_at)"),
    "idx_users_link": ("users", "(link)"),
    "idx_videos_user_time": ("videos", "(user_id, downloaded_at)"),
    "idx_videos_time": ("videos", "(downloaded_at)"),
    "idx_music_user_time": ("music", "(user_id, downloaded_at)"),
    "idx_music_time": ("music", "(downloaded_at)"),
    # Migration 4: slideshows per chat from the index alone (get_user_stats, all-time stats).
    "idx_videos_user_images": ("videos", "(user_id) WHERE (is_images = true)"),
    # Migration 9: the downloads sent through the media cache (all-time hit counts).
    "idx_videos_cache_hit": ("videos", "(user_id, cache_hit) WHERE (cache_hit IS NOT NULL)"),
    "idx_music_cache_hit": ("music", "(user_id, cache_hit) WHERE (cache_hit IS NOT NULL)"),
}


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
