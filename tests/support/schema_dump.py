"""A database's schema as comparable text: columns, indexes, constraints, triggers, functions,
comments (what information_schema, pg_indexes and pg_constraint say), and aerich's rows."""

from __future__ import annotations

import asyncpg

from tests.support.database import connect

# A column's position is left out: every INSERT names its columns, and Tortoise's
# generate_schemas() puts foreign-key columns last, where a migration's ADD COLUMN (migration 9's
# videos.media_id) comes after them.
QUERIES = {
    "column": (
        "SELECT table_name, column_name, data_type, is_nullable,"
        " column_default, character_maximum_length, is_identity"
        " FROM information_schema.columns WHERE table_schema = 'public'"
    ),
    "index": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraint": (
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = 'public'"
    ),
    "trigger": (
        "SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND NOT t.tgisinternal"
    ),
    "function": (
        "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
    ),
    "comment": (
        "SELECT c.relname, a.attname, d.description FROM pg_description d"
        " JOIN pg_class c ON c.oid = d.objoid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid"
        " WHERE n.nspname = 'public'"
    ),
    "sequence": (
        "SELECT sequence_name, data_type FROM information_schema.sequences"
        " WHERE sequence_schema = 'public'"
    ),
    "aerich": "SELECT app, version FROM aerich",
}


async def dump(conn: asyncpg.Connection) -> list[str]:
    """Every line sorted: two databases built the same way give equal lists."""
    lines: list[str] = []
    for kind, query in QUERIES.items():
        for row in await conn.fetch(query):
            lines.append(kind + " | " + " | ".join(str(v) for v in row))
    return sorted(lines)


async def schema_of(url: str) -> list[str]:
    """``dump`` of the database at ``url``."""
    conn = await connect(url)
    try:
        return await dump(conn)
    finally:
        await conn.close()


def difference(a: list[str], b: list[str]) -> str:
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    return "\n".join([*("- " + x for x in only_a), *("+ " + x for x in only_b)])
