"""Remember migrated chats, so that a write for a group's old id reaches its supergroup.

``tt_storage_chat_migrations`` maps an old chat id to its successor; ``migrate_chat`` writes it
in the transaction that moves the chat. Downloads and registrations look their id up in the
same statement as their write. A trigger refuses a ``users`` row for a migrated id with a
foreign-key violation (SQLSTATE 23503): a statement whose snapshot predates the migration's
commit fails instead of re-creating the old chat, and the library re-runs it, resolving again.
``new_id`` references ``users`` (ON DELETE CASCADE): deleting or truncating chats drops their
entries too. The table is ``tt_storage.models.ChatMigration``; the index on ``new_id`` (for that
cascade and for re-pointing a chain) is not in the model.
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
    "eJztW3tvGjkQ/yrW/gVSmktJ0uS4XiWSkCvXBKqEtqdeTovZNWCx2HTtDUG5fPcbex+wr/"
    "BIQiiHFCkwnrFnfzMez4yXe0NKU0ju4i7ZPe1heUm7LpaUM6OM7g2GBwQ+5DPtIAMPh3EW"
    "RZS47SQkTQskzUEoKrRsW0gXWxI4O9gRBEg2EZZLh4EKRgV1Xe4NkQRh1CYWKIQwEt6QuP"
    "5AodXy5/QXaLWKZTRyqSQCdbiLWi3u2Ca1Wy3U5UjCX48gRkZqdZtbsDxl3Zdc6IYp7l10"
    "RhwiYa2QjhQZ2YoKMygiYdId7yrFPEZ/eMSUvEtgwAX1/v4HyJTZ5I6I8Ouwb3YoceyYpX"
    "wl1CR6zJTjoaaf0G6NyXPNrx69bVrc8QYsLjMcyx5nkRBlUlG7hBH13PaUmZjnOIGNQ5Kv"
    "NRCk65FIXXtCsEkHe44ytpL2tZjQDNOsN5rmdbVpmkbKEUKJKZMFJAt8CZwIdBUaia5S4c"
    "2vpdL+/lFpb//d8eHB0dHh8d4x8Gp900NHD74yE8j8qTRwtT9q9aZSCLzY8p1aER60DJbY"
    "l9JWmZgh8BTbxHIxWyQEn8cgIWFikclu2zCTTEwAe2zhnTCR2QK/EPAqHnX6mVshCLZxI5"
    "xzl9Au+0TG2hA1UBszi2QgP3X0fBHEFT+hGR5CNwupk5Do4lEUxKe8D57fPxkU+bRyfVo5"
    "qxoa5Da2+iPs2mYMbTXCSzxBiXjTQ4PSIEnBDDC2g4dQKk8hf359eUUs7sbPmkyGRTKCjh"
    "jMlwVgyiEsDhAsg8BTJBzNzEYq+iLeQZwRdO1PCQ6FClN6wQq7n7mQXZeIgKW4mzr7n3f6"
    "G3bDKgyRwVCO0RC7EhUY9+fdgTTh/gFSBDV3EfVwcPLfDak7hrE3lHUoo3Lcav2G6l8uLt"
    "CAYCbQDfjGLXFvmOYk4sbYRVESho4QoMZR26NgTz2hWpViR00M3EIxad/Xg23uwWcbwQbG"
    "DBIbl2Bb3LCCy0cCjXpcgEKwWKB7sOIOao+1tAOP4QYaF3eAn1o9SJQGHBwWWZgxrrIay8"
    "EueWou0yfjdOT4il3InNzs+B1IJEIIGHpd0hijzWVZZX5lD4JZWfYU+GWHsELbE5SBrVSY"
    "YMRS/BAMiuVsehmmhWxynHLlF5g/O5plnQ9fK1enHytXM3IjvRMWNGwks5RpA8Ot2XkwC8"
    "EJYgrKNGB/Xjfq2WiF/AmwbGpJ9C9yqHixZMZ43/GYdiIdjsCFxK5a9oOxeiwVPmrmgRA/"
    "HEWoB+gWLit/FeNZTP30onGiIQuieTjBScIU2hHNIChmZvdnwCDpgDziyAn5pJmCCXbDDx"
    "vl4c3aZfW6Wbn8HDPNWaVZVSMlTR0nqIV3CXNFk6BvteZHpL6i7416NWnBiK/53VA6YU9y"
    "k/GRie1pTEJySEptvicYPEN8a+91s3eqfHm9VPsSzmMrL832B2em2IOIbWZm3YDkVrOjAv"
    "ZsypHi7xeRzUfM4dhOJ8tzSczO+u6NCSiGSlaC0iecxm+BKKFJEhshGEJD7TtT62LqGcLN"
    "E+4sQ0uDfvqL3tVTiy650oxFcrNZIC7ajohEZncjgoCwbcs9mnrGTb6QLVKiS3WI1ixuv0"
    "5n7pbahC+8Gaaltt25pcGfCrXzYz8ltIX+uRqjCtRtZ3SuzuiU/8Vao/UGqpw2a1DnvWJz"
    "1Ac/J2OLLPN4xuZFbHPciOr+Dhq69Fa1KrUoKlAbfUB7Rd251BeWPu29pjm0T9KZ3JNmWj"
    "DDc0mXCkncuZMtrYwZF5s7tXMo68+/iOZeIqNbj1C6TeuMlJfMb46U6DatWzazcDColAL/"
    "0bZuKPI8Dfu5GpSEpVuRAW1F3dww3CyCUyDyv+x+d6hDTHW/lLGzOVeXWNmgxeQSyLVB8K"
    "VcLKJMg5d9mD8HaCeNxkWst3ZSS2zV+pfLk+pV4a1uqgETlTk7GNsAn8cyQmhu/JwWWV1p"
    "sJeEd+/JwbL09uDo4Hj/3UEUIyPKY6ExB0TuqH7BYkdRQvCnRnPFR0/b4VZ/idM/LrfGR7"
    "/xrUdYcHsv0QgLFKj+S5+qf4iqUSr8twoLZMitHhIEjGOLYvAqwagHAVHd9gMP6J6uB15o"
    "jfWpvfNrxKk398LeecKLArHzT1fEid59za/Io079hlTk6QaeeDpIX9U8mwTSS7cafMByWg"
    "0Rmo+3GibGm+92SPMj7iLhwCfR46MZl0OzBFZ4N+Q/60ouh4KlFlslfLYFH4UOwKgidxn0"
    "7WP1qoqoCBjR79o7t3dTa5CzbO+m1tEqybupJUr0uODqGhrrVKlHEWfBSj0mt63U56jUAb"
    "Ghyy04L0hW3J4Bdkx0i/d8eFMGm3vRHlRMbov0HEivx6XK/+bs295Pb/z9dIW41OoZOVVj"
    "MLozq2zEE75ZZWM+vE/4MUhWSMiNBxtWmTyxN51fc9zCtgy6NHFkT/Pz3InIRiS5sHfuTI"
    "ewrlRbpHR4ODvrLQBX8vcDwVDJH0vcCMDGWgDhgH0D0X27tzcHusCVi64ei6MLK0qSdWeV"
    "//uYKZHV/0TmdQq2Z/sxzKu+Kv/wHyk/ZD8="
)
