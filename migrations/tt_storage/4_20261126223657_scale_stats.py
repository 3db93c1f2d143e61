"""Scale: a slideshow index for per-chat stats, and the hourly download rollup for time series.

* ``idx_videos_user_images`` (partial, ``WHERE is_images``): ``get_user_stats`` and the all-time
  quick stats count a chat's slideshows from the index alone, not from every row's heap page.
  Built with CREATE INDEX CONCURRENTLY, one statement outside any transaction, like migration 1.
* ``tt_storage_hourly`` / ``tt_storage_hourly_state``: download counts per UTC hour of every row
  of ``videos`` / ``music`` up to ``folded_pk``, folded in by the library when it reads a series
  (no trigger on INSERT: the download hot path is untouched). Statement-level triggers empty a
  table's rollup whenever its rows are deleted, truncated or re-timed, so it is refolded from
  scratch rather than ever being wrong.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False

INDEXES = (
    ("idx_videos_user_images",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_videos_user_images" ON "videos" ("user_id") '
     "WHERE is_images = true"),
)

IS_INVALID = (
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE c.relname = $1 AND NOT i.indisvalid"
)
DROP_INVALID = {
    name: 'DROP INDEX CONCURRENTLY IF EXISTS "' + name + '"' for name, _ in INDEXES
}

ROLLUP = """
    CREATE TABLE IF NOT EXISTS "tt_storage_hourly" (
        "kind" VARCHAR(16) NOT NULL,
        "hour" BIGINT NOT NULL,
        "n" BIGINT NOT NULL,
        PRIMARY KEY ("kind", "hour")
    );
    COMMENT ON TABLE "tt_storage_hourly" IS 'tt-storage: downloads per UTC hour (epoch seconds) of the rows of table kind with pk_id <= folded_pk.';
    CREATE TABLE IF NOT EXISTS "tt_storage_hourly_state" (
        "kind" VARCHAR(16) NOT NULL PRIMARY KEY,
        "folded_pk" BIGINT NOT NULL,
        "pending_pk" BIGINT,
        "pending_xids" XID[],
        "pending_at" BIGINT
    );
    COMMENT ON TABLE "tt_storage_hourly_state" IS 'tt-storage: how far tt_storage_hourly has folded each table; rows up to pending_pk become foldable once the transactions pending_xids (running when it was seen) have ended.';
    CREATE OR REPLACE FUNCTION "tt_storage_hourly_reset"() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- The lock the folding transaction holds: a reset never interleaves with a fold.
        PERFORM pg_advisory_xact_lock(hashtext('tt_storage_hourly'), hashtext(TG_TABLE_NAME));
        DELETE FROM "tt_storage_hourly" WHERE kind = TG_TABLE_NAME;
        DELETE FROM "tt_storage_hourly_state" WHERE kind = TG_TABLE_NAME;
        RETURN NULL;
    END
    $$;
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_videos_truncate" AFTER TRUNCATE ON "videos"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_videos_delete" AFTER DELETE ON "videos"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_videos_update" AFTER UPDATE OF downloaded_at, pk_id ON "videos"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_music_truncate" AFTER TRUNCATE ON "music"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_music_delete" AFTER DELETE ON "music"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();
    CREATE OR REPLACE TRIGGER "tt_storage_hourly_music_update" AFTER UPDATE OF downloaded_at, pk_id ON "music"
        FOR EACH STATEMENT EXECUTE FUNCTION "tt_storage_hourly_reset"();"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    # Small and new: one implicit transaction is fine here.
    await db.execute_script(ROLLUP)
    for name, create in INDEXES:
        invalid, _ = await db.execute_query(IS_INVALID, [name])
        if invalid:
            await db.execute_script(DROP_INVALID[name])
        await db.execute_script(create)
    # aerich runs whatever is returned, and asyncpg rejects an empty script.
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_videos_user_images";
        DROP TRIGGER IF EXISTS "tt_storage_hourly_videos_truncate" ON "videos";
        DROP TRIGGER IF EXISTS "tt_storage_hourly_videos_delete" ON "videos";
        DROP TRIGGER IF EXISTS "tt_storage_hourly_videos_update" ON "videos";
        DROP TRIGGER IF EXISTS "tt_storage_hourly_music_truncate" ON "music";
        DROP TRIGGER IF EXISTS "tt_storage_hourly_music_delete" ON "music";
        DROP TRIGGER IF EXISTS "tt_storage_hourly_music_update" ON "music";
        DROP FUNCTION IF EXISTS "tt_storage_hourly_reset"();
        DROP TABLE IF EXISTS "tt_storage_hourly_state";
        DROP TABLE IF EXISTS "tt_storage_hourly";"""


MODELS_STATE = (
    "eJztWW1P4zgQ/itWPhWJ2ysFtuzu3UkFwS230EossCedTpGbmNRqamdjh4I4/vuNnfc3mp"
    "QFlW4/NR3PY4+fGdsz9oMx4zZxxbvzQFDL+IgeDIZnBD7yDdvIwJ6XipVA4rEbaiYqYyF9"
    "bEkQ3mBXEBDZRFg+9STlTKmOGEFaHXVwYFOOlP50C9l8zlyO7XeqG5tb0A9lTmNEwOj3gJ"
    "iSO0ROiA+4f/4FMWU2uSNC/X0wbihxbf1tBIL4JrXDscJuiG1iaSgQufN8IgQYLOJ+Ykqo"
    "fWdqW0zdg6QgVkTce7rZ0GiwT/953Ea5QZccacEgCuRNTT1Ozn0gDGeom8wYfkidUyZPtL"
    "qa/ti0uBvMWA7i3csJZwmGMqmkDmHEx5KocaQfKO+ywHWjKIgdHroiVQl9kMHY5AYHrooR"
    "hQ5tSGWGaQ5Hl+bX40vTNErxEyMyARKJLCARSAFThabBUSb88qHX293t97q77w/29/r9/Y"
    "PuAehqe8tN/cfQmJSwsCtN2+mfp8NLZRCH8AvDXgkeNQZLbKaeTn2Qd3krX5Sgi30SeyDj"
    "lIjyxCexSuqUdJ2umVdSL9xSm/DWiyGLWor70oL4KcnPbLXNuc+ANtS3ol4dBzfTys1IkV"
    "p2wwn3CXXYF3KvXXEKdmNmkQrqo3zgCroRb9AHj3GQxdJ0e/TxPDlAs7EHk4cpE6mnPxyh"
    "wdHl6WgYnrljSELm2LfNHNuqhfd4QZLolptmvVlRghl2ND1qHsrqHPEVGVrikfoMLUhUFm"
    "ZoA2RNsPyIPJ/egneRhqIOtdEfqLuFMLOR4/PAC2W/aZlLp6ScuT2rp5YZnU8cKiTxGydX"
    "2hgzD2ucyrmUTZsPorWXyOBWY+vcpHFGKUqau6ME3aRxy2YSLgaTSuRfYx92Gb+a/RhSIB"
    "3m8lIHmEGYUWI9kj3r3Kri7XpwcfR5cFHkKdpu2vAUQZbiacWCszVfN9QlpjozK1Y25y7B"
    "rJq0HK7A3BiALxViiSRLXvVh/iNIOxyNztRUZkJ8d8PVWliqw6vzw+OLzs6WEoMSlTUrGN"
    "tAX8AqttDa/TMLeb1SoFukt/vszbK3s9ffO9h9v5fskYnkqa2xhkTuqvuBdkdRAfim2Xzl"
    "o2fscmu6xOmfx63w0W98mxCGINFGYy7RHAsUmf7rlKofRFUrFTqjRx3icWuCBAHn2GLrEx"
    "penZ2h+QQ2ROQTDDpge7keeKExVqfWrq8LMzVbfFdeiKIIdvLlgrhYe6UcMcUb+TWpwMuX"
    "deJ5BF2rPtaJoJe8VgjJqrhWSFisv1ZIndXs5UfrI+4j4cKXmPD5goefRYBXfPcJ5/oqDz"
    "/RUO1GiefWcip0BmEhaodB3z4fXxwjKiJF9LuOyM270wrkJ5t3p1X0SvHdaYlyPA98vcuL"
    "VarKkx2nZVWew22q8gZVOTDm+dyC84JU7dsLyM5BN3w345syWNxt75tyuA3TDZhejQeUn+"
    "bs27w9r+3b84D41JoYFVVi1LL9VJmIU51FZWI9pYtLvdqSpGoLqF3/a1aJPPPeub7GuIWl"
    "GN3C5Jk9qs9rU8haJLWwXu5MlzBHqqXR299fnOV2QGurcJxFTb2wrXDbD4uqBcOR+hqyu9"
    "PtNmAXtGrZ1W15dmFESareo/76OhpWM5yBFFi2qSXRf8il4i2mCU+Qq8jIZWQxp53zwd9F"
    "uo/ORoeaHC6k4+tedAeH7S7Mf/xh9vg/vm7llg=="
)
