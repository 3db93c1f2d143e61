"""Remember migrated chats, so that a write for a group's old id reaches its supergroup.

``tt_storage_chat_migrations`` maps an old chat id to its successor; ``migrate_chat`` writes it
in the transaction that moves the chat. Downloads and registrations look their id up in the
same statement as their write. A trigger refuses a ``users`` row for a migrated id with a
foreign-key violation (SQLSTATE 23503): a statement whose snapshot predates the migration's
commit fails instead of re-creating the old chat, and the library re-runs it, resolving again.
``new_id`` references ``users`` (ON DELETE CASCADE): deleting or truncating chats drops their
entries too.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        SET LOCAL lock_timeout = '5s';
        CREATE TABLE IF NOT EXISTS "tt_storage_chat_migrations" (
            "old_id" BIGINT NOT NULL PRIMARY KEY,
            "new_id" BIGINT NOT NULL REFERENCES "users" ("user_id") ON DELETE CASCADE,
            "migrated_at" BIGINT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS "tt_storage_chat_migrations_new_id"
            ON "tt_storage_chat_migrations" ("new_id");
        COMMENT ON TABLE "tt_storage_chat_migrations" IS 'tt-storage: chat old_id became new_id (group -> supergroup) at migrated_at (epoch seconds); writes for old_id go to new_id.';
        CREATE OR REPLACE FUNCTION "tt_storage_refuse_migrated_chat"() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            successor BIGINT;
        BEGIN
            -- Volatile: this query takes a fresh snapshot, so it sees a migration that
            -- committed while the inserting statement was running.
            SELECT new_id INTO successor FROM "tt_storage_chat_migrations"
                WHERE old_id = NEW.user_id;
            IF FOUND THEN
                RAISE EXCEPTION 'chat % was migrated to %', NEW.user_id, successor
                    USING ERRCODE = 'foreign_key_violation',
                          HINT = 'write to the new chat id';
            END IF;
            RETURN NULL;
        END
        $$;
        CREATE OR REPLACE TRIGGER "tt_storage_refuse_migrated_chat"
            AFTER INSERT ON "users"
            FOR EACH ROW
            EXECUTE FUNCTION "tt_storage_refuse_migrated_chat"();"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS "tt_storage_refuse_migrated_chat" ON "users";
        DROP FUNCTION IF EXISTS "tt_storage_refuse_migrated_chat"();
        DROP TABLE IF EXISTS "tt_storage_chat_migrations";"""


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
