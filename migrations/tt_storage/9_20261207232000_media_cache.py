"""The media cache: entries per source key, file sets per bot and variant, history links.

* ``tt_storage_media``: one row per normalized source key, its metadata (JSONB) and refresh
  time, first/last use (epoch seconds) and a use count; ``idx_tt_storage_media_last_used`` is
  what ``prune_media`` walks.
* ``tt_storage_media_files``: the ordered files of an entry for one (bot, variant), NULL once
  invalidated, and a version bumped by every store and every invalidation (compare-and-swap).
  A CHECK (``tt_storage_media_files_valid``) holds ``files`` to a 1-100 item array of
  ``{"kind", "file_id", "file_unique_id"}`` objects. Deleting an entry deletes its sets.
* ``videos`` / ``music`` gain ``media_id`` and ``cache_hit``, nullable without a default: a
  catalog-only change (no rewrite, no scan) under a lock held for milliseconds, and bounded by
  ``lock_timeout`` so that a long transaction on the table makes this fail instead of queueing
  every download behind it. ``media_id`` has no foreign key: validating one would scan the
  table, every download would pay its check, and pruning an entry would have to rewrite (SET
  NULL) or keep (RESTRICT) its whole history. The link of a pruned entry stays as a historical
  id (ids are never reused). No index on it either: nothing reads history by media.
* The hourly rollup (migration 4) also folds cache hits and misses (kinds ``videos_hits``,
  ``videos_misses``, ``music_hits``, ``music_misses``): its reset function empties those too,
  and re-timing ``cache_hit`` resets it like re-timing ``downloaded_at``.
* ``idx_videos_cache_hit`` / ``idx_music_cache_hit``: partial indexes on (user_id, cache_hit)
  of the downloads sent through the cache, for the all-time hit counts. Built with CREATE INDEX
  CONCURRENTLY one statement at a time outside any transaction, like migration 1: on a filled
  table the build reads every row once but blocks no write.

The tables are created as ``Tortoise.generate_schemas()`` creates them (models
``tt_storage.core.models.Media`` and ``MediaFiles``), so either may come first.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False

# One implicit transaction (a multi-statement script). videos and music last: their ACCESS
# EXCLUSIVE lock is held from the ALTER to the commit, a few milliseconds.
SCHEMA = """
    SET LOCAL lock_timeout = '5s';
    CREATE TABLE IF NOT EXISTS "tt_storage_media" (
        "id" BIGSERIAL NOT NULL PRIMARY KEY,
        "key" VARCHAR NOT NULL UNIQUE,
        "metadata" JSONB,
        "metadata_at" BIGINT,
        "first_used_at" BIGINT NOT NULL,
        "last_used_at" BIGINT NOT NULL,
        "use_count" BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS "idx_tt_storage_media_last_used" ON "tt_storage_media" ("last_used_at");
    COMMENT ON TABLE "tt_storage_media" IS 'tt-storage: media cache entries, one per source key; times in epoch seconds.';
    CREATE TABLE IF NOT EXISTS "tt_storage_media_files" (
        "id" BIGSERIAL NOT NULL PRIMARY KEY,
        "bot_id" BIGINT NOT NULL,
        "variant" VARCHAR NOT NULL,
        "version" BIGINT NOT NULL DEFAULT 1,
        "files" JSONB,
        "stored_at" BIGINT NOT NULL,
        "media_id" BIGINT NOT NULL REFERENCES "tt_storage_media" ("id") ON DELETE CASCADE,
        CONSTRAINT "uid_tt_storage__media_i_76fbdf" UNIQUE ("media_id", "bot_id", "variant")
    );
    COMMENT ON TABLE "tt_storage_media_files" IS 'tt-storage: the ordered Telegram files of a media entry per bot and variant; files NULL once invalidated; version bumped by every store and invalidation.';
    CREATE OR REPLACE FUNCTION "tt_storage_media_files_valid"(files jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN jsonb_typeof(files) = 'array'
            AND jsonb_array_length(files) BETWEEN 1 AND 100
        THEN NOT EXISTS (SELECT FROM jsonb_array_elements(files) AS f(e) WHERE NOT coalesce(
            CASE WHEN jsonb_typeof(e) = 'object' THEN
                e - 'kind' - 'file_id' - 'file_unique_id' = '{}'
                AND jsonb_typeof(e -> 'kind') = 'string'
                AND e ->> 'kind' IN ('video', 'photo', 'audio', 'document', 'animation', 'voice')
                AND jsonb_typeof(e -> 'file_id') = 'string' AND e ->> 'file_id' <> ''
                AND jsonb_typeof(e -> 'file_unique_id') IN ('string', 'null')
            ELSE false END, false))
        ELSE false END
    $$;
    ALTER TABLE "tt_storage_media_files" DROP CONSTRAINT IF EXISTS "tt_storage_media_files_shape";
    ALTER TABLE "tt_storage_media_files" ADD CONSTRAINT "tt_storage_media_files_shape"
        CHECK ("files" IS NULL OR "tt_storage_media_files_valid"("files"));
    CREATE OR REPLACE FUNCTION "tt_storage_hourly_reset"() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- The lock the folding transaction holds: a reset never interleaves with a fold.
        PERFORM pg_advisory_xact_lock(hashtext('tt_storage_hourly'), hashtext(TG_TABLE_NAME));
        DELETE FROM "tt_storage_hourly"
            WHERE kind IN (TG_TABLE_NAME, TG_TABLE_NAME || '_hits', TG_TABLE_NAME || '_misses');
        DELETE FROM "tt_storage_hourly_state" WHERE kind = TG_TABLE_NAME;
        RETURN NULL;
    END
    $$;
    ALTER TABLE "music" ADD COLUMN IF NOT EXISTS "media_id" BIGINT,
        ADD COLUMN IF NOT EXISTS "cache_hit" BOOL;
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_music_update"
        AFTER UPDATE OF downloaded_at, pk_id, cache_hit ON "music"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
    ALTER TABLE "videos" ADD COLUMN IF NOT EXISTS "media_id" BIGINT,
        ADD COLUMN IF NOT EXISTS "cache_hit" BOOL;
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_videos_update"
        AFTER UPDATE OF downloaded_at, pk_id, cache_hit ON "videos"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();"""

# (index name, statement). An interrupted concurrent build leaves an INVALID index that
# IF NOT EXISTS would accept as done: those are dropped and rebuilt.
INDEXES = (
    ("idx_videos_cache_hit",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_videos_cache_hit" ON "videos" ("user_id", "cache_hit") '
     "WHERE cache_hit IS NOT NULL"),
    ("idx_music_cache_hit",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_music_cache_hit" ON "music" ("user_id", "cache_hit") '
     "WHERE cache_hit IS NOT NULL"),
)

IS_INVALID = (
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE c.relname = $1 AND NOT i.indisvalid"
)
DROP_INVALID = {
    name: 'DROP INDEX CONCURRENTLY IF EXISTS "' + name + '"' for name, _ in INDEXES
}


async def upgrade(db: BaseDBAsyncClient) -> str:
    await db.execute_script(SCHEMA)
    for name, create in INDEXES:
        invalid, _ = await db.execute_query(IS_INVALID, [name])
        if invalid:
            await db.execute_script(DROP_INVALID[name])
        await db.execute_script(create)
    # aerich runs whatever is returned, and asyncpg rejects an empty script.
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        SET LOCAL lock_timeout = '5s';
        DROP INDEX IF EXISTS "idx_videos_cache_hit";
        DROP INDEX IF EXISTS "idx_music_cache_hit";
        CREATE OR REPLACE TRIGGER "tt_storage_hourly_videos_update"
            AFTER UPDATE OF downloaded_at, pk_id ON "videos"
            FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
        CREATE OR REPLACE TRIGGER "tt_storage_hourly_music_update"
            AFTER UPDATE OF downloaded_at, pk_id ON "music"
            FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
        DELETE FROM "tt_storage_hourly" WHERE kind LIKE '%\\_hits' OR kind LIKE '%\\_misses';
        ALTER TABLE "videos" DROP COLUMN IF EXISTS "media_id", DROP COLUMN IF EXISTS "cache_hit";
        ALTER TABLE "music" DROP COLUMN IF EXISTS "media_id", DROP COLUMN IF EXISTS "cache_hit";
        DROP TABLE IF EXISTS "tt_storage_media_files";
        DROP FUNCTION IF EXISTS "tt_storage_media_files_valid"(jsonb);
        DROP TABLE IF EXISTS "tt_storage_media";"""


MODELS_STATE = (
    "eJztXO1T2zgT/1c0/pTMAA/QF3rhrjOB0qdcC9xA2j5zlxtHsZVEgyPlJKVppg//+61k2f"
    "FLTOIQIFB/Il7vrta/XUu7WpkfjlKuVFzgPtk5HmB1RvsCK8qZ00A/HIaHBH4UM20hB49G"
    "aRZNVLgbZCRdDyTdYSQqjWxXKoE9BZw9HEgCJJ9IT9CRNQHkt618A2kFiAe+S33UJR7Yhh"
    "iZ6KtaX/DxCG2/RXI8IsJc1RFwh8MR34XfNTLi3gBJ4nHmy/ohmgiqiEQ9LiKtfY4Ut0p3"
    "tIE+98BCyvraliYKh1HaDmsAToyIap2OHdA8bKdTbyQH6XTCYTodO5AamCdoM829g96RgC"
    "gYK6KHD+xrKmjQRMKUmBrDxoz+Myau4n0CNwSY99ffQKbMJ9+JjC5H126PksBPOTM0Qisx"
    "91w1HRn6Ee2fMvXe8OtH77oeD8ZDlpYZTdWAs1iIMqWpfcKIATrhSTYOAhsGESm0GghKjE"
    "lsrj8j+KSHx4GOBy0dWjGjOa57ftFyr05aruvkYiWSSLjMksDhOs7AVmmQ6GsTtn/Z33/x"
    "4mB/98XrN69eHhy8erP7BniNvflbBzehMTPIQlUGuNP/np63tEEQqF4Y95pwY2SwwqGU8c"
    "rMDYnQLOeLjOB6HBIRZh6ZvZDPzCUzF4Qvejn0ZzIV8KWA1/NR73ruqwCY5p3wngtC++wj"
    "mRpHnILZmHlkDvKJ1emzJEI+QTfcRGEWUWdTosCTeBJPRB88f7gyaPJx8+q4+e7EMSB3sX"
    "c9wcJ3U2jrO3yfZygxb/7WcH+YpWAGGPv2IbTJCeTfX51dwsoq0mvNXIYySUNPDpdLFDDl"
    "MC0OEQyDIFIULM3MR3r2RbyHOCPoKlQJAYVqCbtghJ0/uFR9QaRlqefX/vWqb7M2azJEhi"
    "M1RSMsIDlhPNS7BWnCjxtIEbTuOhpgu/J/H1ExhXvblPUoo2ra6Ryi88+fPqEhwUyiNsTG"
    "NyLazHAS2XZ2UJynoQMEqHHUHVPwp1GoR6U40IqBW2omE/vmZpeP4beP4AXGDBIbQbAv26"
    "wm+ESiyYBLMAgGs7bbEbdQd2qkA3gMYS2ubwE/hbQLoyGHgEUeZozrrMYLsCB3zWWuyTQ/"
    "c3zBAjInMX/+thKZKQQcvSlpjNPlqqEzv8YYJrOGGmjwGwFhte5YUga+0tMEI57mh8mg3p"
    "hPb4BayCanuVC+B/3zZ7N568OX5uXxh+blgtzIvAklHRvLrORa67gNWw8WIThDTEOZB+z3"
    "q4vz+WhF/BmwfOop9H8UUHlvyYzza2/MTBCZ6QhCSO7oYd86D4+lxkdrHkr5T6AJ5xbd2l"
    "nzf/V0FnN+/OniyEBmZ/NIwVHGFSYQXTspzs3u3wGDokNySyBn5LNusgp2oh/PKsJbp2cn"
    "V63m2R8p17xrtk70nX1DnWaotdcZd8VK0NfT1gekL9GfF+cnWQ/GfK0/HW0THivuMj5xsZ"
    "/EJCJHpNzLdweHzxGv/L1p/s6VL4+Xap8Rn+KiNDu8WSbFHsYSpXbjjBikc57dl6I6A9SJ"
    "8AiSP8nHwiMIkq1DpONVQnKJUvtv87bXsiqnDaNwpkzvsCWe1fB3OpBjUiVBWmH9KoVXkN"
    "wsmVz+cGbYOwGWygVZs7uiGWf5ceycCHXqf3ezOLqxAgO3fX8dowjANRc3hels2c2IZTci"
    "7FxQ7cjdmnU+w2Li/hLO6G0rk3QmZe6UeD6dte1eMswIx/Jbx2nBlXYwNwz7x9k57lGRWC"
    "dK+SAnWu0jr+yG1GpdygtZycoJKzsBUARgx6ykB1JiDwf/bhb73aeAd4nqIzlJBcSVRMk5"
    "jrGi7z9ekiBu5Rf3VUxV8R70Pafmys2DFGohardVazGu5Uo2txfLlSrc9BY9Fz4RxEctEh"
    "DT1zC6dCsD2yrM1F+mlutyZZod37CgmKlDy2t6D5xBYUbZNxxQvTXhH6JvRMhwb284ggG6"
    "U9sp0MOHTZOYHdjyVWALrMtbpcvApF3mzAYjWdu2dJkpCfP1KQrzjKbV0ukYRZ0OohIeUK"
    "dUCAuBp1p1p/Oj7VxDaLbBlnb40tDkha0gNU33ZWoYHX84Of4Ism0WH2dBv6AB170VqsKT"
    "HVghOcAjUj+cj9QODGyx0udBws4KVYMQrjab4RXil0RtC0pieA6PD0dYkG1g2pYTPEK6h6"
    "OQ6QMheEEl0U/LyEQX5EQVlcN/OfEOAMBp24sWUOfvZTsxVen6mKXrzHHLe2AmUyU/Kyc/"
    "0XuSQ/7WfYOE1Hr2DjZjhV1+98DOfOUCNiH0cBG7l4Vs76mFaJwmLLtNEwtUezR36QLC+l"
    "2+Lk2JVfPyykEfZshll8SkVAX+uo73xenlGg74xe2tJ+aIZQ/4JSNw0474nY0l9ZyiStbc"
    "3FpUxA5jtoU164Wu+TQ7lFxjn0JRBfzXdeTzCQs4nnNAfymJkg1BfUjK+iNSs3Rz0NjiGg"
    "1R076gI6inrsSgK460YJDC2g2IZWfKWKSq4NZTwaVdXsoXOdGqr7NyOUd9wku/DEmpKm14"
    "ajlbFfhAMYdu3AGdN/Vwro+Bz0c/JZeBvwuCTw//26C8uPiUKhSPTjPAnn8+Ozq5rO2Zqh"
    "GYqCpumonSoZ4QqqaZdVUnGtQ1FSfP/eujRPylapPzC9Q8bp1enD9mdRKCX1CdxJ65vToZ"
    "x2wLq5Om+Tq3gUaCftOfAxlRVKM+eot266ZxYz4KDmm/GlpAr8m8c4930FSymhGkT6UiYu"
    "nCwhjjpsWKK4xMGRNQdr38IIa7WHdh9bIZU2lVwji5KFneHTnRKpNb/UwUmJQD/9Z2VCTy"
    "cL0ohzAnh7qlPVALKppuyuBkRX7KL8zMWQj9DWfJCiElt1qFsFKIxZQkePMX8w2rDbBfdJ"
    "6ucP5Mijzps3T7ey8PXr558fplPEfGlNumxgIQeaD3xsotRRnBJ43mAy893YB71yus/mm5"
    "DV76na8DwuwX8gpNsETW9P9cU/1HHz9TAyrD/9yT+4dD5iDYZAATov6iHnjA9nw9cE9jbE"
    "7tvczZ1bhPdMdzq5GaZ1KR5zer13C494vW85xAuu+thhCwgq2GGM3btxpmzluuE2r4ERdI"
    "BvBLDvhkQSN0kcAD9kHDZ32QRqgdqtwo0bOVfBQ6BKfKwmHQ1w8nlyeISsuIfjPRWfVhNy"
    "Bnqfqwm+iVbB92hRI9LfhzHq6NZ5ySlXpKrqrUl6jUAbGR4B6sF2TevL0A7JRohfdyeFMG"
    "L3fZPaiUXIX0EkhXZzEeb/GrzmJUZzGecahXZzGe/VmMJhHUGzgFOyT27taiLRI841u0RV"
    "IM7x3+uei8KeFn+Z71jn2Y4vq68Mu/4+KarvC7v6dZ0MG7890NCOsr/Yrsv3q1uMKrAVf2"
    "SzR7az+8l+l+wYtVAmHL/gzR3dvdXQJd4CpE19zLJGicKTKvP1v8TWVC5OH/5erjZGhr+6"
    "yyRANp/Qvbzb9SqVXf"
)
