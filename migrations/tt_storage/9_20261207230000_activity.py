"""Active chats: one row per chat and UTC day it used the bot (``tt_storage_activity``).

The middleware writes a chat's row at most once per UTC day per process (it remembers the days
it recorded; INSERT … ON CONFLICT DO NOTHING makes a second process's write a no-op), so the
table grows by the daily active chats, not by the updates. ``day`` is the day's start in epoch
seconds (UTC), like every timestamp here; ``registered_at`` is the chat's, copied at the write
so that new-vs-returning needs no join with ``users``; ``previous_day`` (the chat's last day
before this one, NULL: none; looked up at the write) marks each chat's first row of any window,
so a window's distinct, new, returning and retained chats are one range scan with no grouping. The primary key (day, chat_id) serves the
per-day and per-window counts; the index on chat_id serves a chat's last activity and
``forget_chat``. No foreign key to ``users``: a group's activity under its old id stays history
after a migration to a supergroup, and the write path takes no lock a migration would wait on.
Tortoise has no composite keys, so the table has no model (like ``tt_storage_hourly``).

Also: the rollup's reset trigger (migration 4) lets a ``forget_chat`` transaction delete
downloads without emptying the rollup (it subtracts its rows itself). A function replacement
and a new, empty table: nothing here rewrites or locks ``users`` or ``videos``.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        SET LOCAL lock_timeout = '5s';
        CREATE TABLE IF NOT EXISTS "tt_storage_activity" (
            "day" BIGINT NOT NULL,
            "chat_id" BIGINT NOT NULL,
            "registered_at" BIGINT,
            "previous_day" BIGINT,
            PRIMARY KEY ("day", "chat_id")
        );
        CREATE INDEX IF NOT EXISTS "tt_storage_activity_chat"
            ON "tt_storage_activity" ("chat_id", "day");
        COMMENT ON TABLE "tt_storage_activity" IS 'tt-storage: chat_id used the bot on the UTC day starting at day (epoch seconds); registered_at is the chat''s, copied when the row was written; previous_day: the chat''s active day before this one.';
        CREATE OR REPLACE FUNCTION "tt_storage_hourly_reset"() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- forget_chat subtracts the rows it deletes from the rollup itself, in its own
            -- transaction, under the fold's lock: no reason to refold millions of rows.
            IF TG_OP = 'DELETE'
                AND current_setting('tt_storage.rollup_adjusted', true) = 'on' THEN
                RETURN NULL;
            END IF;
            -- The lock the folding transaction holds: a reset never interleaves with a fold.
            PERFORM pg_advisory_xact_lock(hashtext('tt_storage_hourly'), hashtext(TG_TABLE_NAME));
            DELETE FROM "tt_storage_hourly" WHERE kind = TG_TABLE_NAME;
            DELETE FROM "tt_storage_hourly_state" WHERE kind = TG_TABLE_NAME;
            RETURN NULL;
        END
        $$;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "tt_storage_activity";
        CREATE OR REPLACE FUNCTION "tt_storage_hourly_reset"() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- The lock the folding transaction holds: a reset never interleaves with a fold.
            PERFORM pg_advisory_xact_lock(hashtext('tt_storage_hourly'), hashtext(TG_TABLE_NAME));
            DELETE FROM "tt_storage_hourly" WHERE kind = TG_TABLE_NAME;
            DELETE FROM "tt_storage_hourly_state" WHERE kind = TG_TABLE_NAME;
            RETURN NULL;
        END
        $$;"""


MODELS_STATE = (
    "eJztW21z2jgQ/isaf4KZJJeStMnRXmfIS69cG9JJaHvTy40RtgANRqKWXMLk8t9vJcvGrw"
    "HySlM+Aatd7frZ1Wq1MleWlLaQ3Md9snU4wPKE9n0sKWdWHV1ZDI8IfCln2kAWHo/TLIoo"
    "cdfLSNoOSNqjSFRo2a6QPnYkcPawJwiQXCIcn46NCSC/aeTrSE2AuOfa1EVd4oBtiJGJ+l"
    "Xp+zwYo823SARj4utfVQTcoTri2vC9QsbcGSBBHM5cUX2NJj6VRKAe96NZ+xxJbibdUga6"
    "3AELKesrWxooVCOVHcYAnNCIKp2OUagfttOp1pNKOp1QTadjFMmBfoILpri30BHxiARdET"
    "18YFdRYQZFJEz6U21YwOj3gNiS9wkM+GDeP/8CmTKXXBIR/RwP7R4lnptyZmiEmkSP2XI6"
    "1vQD2m8y+U7zq0fv2g73ghFLy4yncsBZLESZVNQ+YUQDnfAkCzzPhEFECq0GgvQDEpvrzg"
    "gu6eHAU/GgpEMrZjTLtlunbfv8uG3bVi5WIomEywwJHK7iDGwVGom+MmHz91ptZ2evtr3z"
    "av/l7t7ey/3tfeDV9uaH9q5DY2aQhVNp4Jp/NlttZRAEqhPGvSJcaxkscSilvTJzQyI0l/"
    "NFRvB+HBIRZh6ZLchn5pKZC8KFvhz6M5k18EsBr/JRb1i4FADTvBPecZ/QPvtAptoRTTAb"
    "M4cUIJ/YnT4L4ouf0A3XUZhF1FlK9PEkTuKJ6IPnD3cGRT5snB82jo4tDXIXO8MJ9l07hb"
    "Ya4TWeocS8+aFRbZSlYAYYu+YhlMkJ5N+dn5zBzuqn95pChmWKhp4YLVYoYMohLY4QqEEQ"
    "KRK2ZuYilX0R7yHOCDoPp4SAQpWEXaBh6xMXsu8TYViq+b3/fqe/YBeswRAZjeUUjbEPxQ"
    "nj4bwbUCZcXUOJoOauogE2O//lmPpTGNukrEcZldNO5zVqff74EY0IZgJdQGz8IP4F05xE"
    "XFhbKK7T0B4C1DjqBhT8qSdUWin21MTALRSTjn092OUBfHcRLGDMoLDxCXbFBav4fCLQZM"
    "AFGATKjO1G4wbqTrW0B4/hG4urG8BPoezCaMQhYJGDGeOqqnE87JO71jJDMs1nji/Yh8rJ"
    "L87fRiKTQsDRq1LGWF0u66ryqweQzOpyoMCve4RVuoGgDHyl0gQjjuKHZFCtF9PrMC1Uk9"
    "NcKD/A/MXZrGh/+NI4O3zfOJtTG+mVsKRjY5lbudY4bsX2g3kIzhBTUOYB++v8tFWMVsSf"
    "AculjkT/IY+KBytmrDe9gOkg0ukIQkhsKbVvrcfHUuGjZh4J8d1ThJZBt3LS+LuarmJahx"
    "9PDzRkJptHExxkXKED0TZJsbC6PwIGSUfkhkDOyGfdZCbYir48qwhvN0+Oz9uNk08p1xw1"
    "2sdqpKap0wy18irjrngS9LXZfo/UT/TttHWc9WDM1/5mKZtwILnN+MTGbhKTiByRcovvDg"
    "4vEF/7e9X8nTu+PF2pfQL7sVNWZoeDc0vsUcw2t7I+heJWs6MKDlzKkeIfVpHLJ8zjuKBR"
    "tpDE/KrvypqBYqlixRx9omnCFogSmhWxMYIRNNS9tLUttp4hWjzRyrK0NNinf+hVnVB6S0"
    "1zlJRWs0Bcth0Ri8zvRpiEsG7L3Vh6pl2+lC9yorfqEK1Y3n6aztwP6hK+9GJISq27c7cG"
    "P5FqF8c+IbSG/r4aowrUdWd0oc5oIv5SrdHWKWoctptwznvC5mgIfknFFnvm5ootiNnmVm"
    "wNfXNYR2Of/lCtSi2KKtRFb9F2VXcu9YVlSHujaR4dkqIrzzvMtGSF55M+FZL4Cxdb2hg7"
    "LbZwaedRNlxciea+RUW3Gql0XdZZuShZ3B050XVZd9vKwsNgUg78G9u6kcj9NOwXalASlm"
    "9FGtojdXOjdLMMTkbkl+x+96hHbHW/VLCyOVeXWMWgpeQyyHVB8KFCLKYkwSvezO8DtIPT"
    "04+p3tpBM7NUW59PDo7PKi90Uw2YqCxZwdgF+AJWkEJL82dS5PGOBttZeLfvnCxrL3b3dv"
    "d3Xu3GOTKm3JQaS0DknuoXLLcVZQR/ajQfeevpetwZ3mL3T8ut8NZvfR0QZm7vJZpggYzp"
    "vw2p+kBUjVIRvlWYexlSv0owGUBCVLf9wAO2588DD6Rjdc7e5WfExJt7Ue88E0VG7N2HM+"
    "LFr8eWn8jjTv0zOZHnG3ji7iB9UfM8J5AeutUQAlbSaojRvLnVMHPeYrdDmh9xHwkPvokB"
    "n8y5HJon8Ih3Q+GzPsrlkFG1nJbo2ZZ8FDoCp4pSNejr++OzY0SFYUR/6Ohc302tQM2yvp"
    "taRa9k76ZucURPCz5eQ2OVTupxxlnypJ6SW5/UFzipA2JjnzuwX5CivD0H7JToGu/F8KYM"
    "FveyPaiU3BrpBZBejUuVX2bvW99PP/v76QbxqTOwSk6NZnRj3rERz/jmHRvL4b3Dn0GKUk"
    "JpPnhmJ5M79qbLzxw/YFmaLk0a2cPyOncm8iyKXFg7l7ZHWF+qJVJ7+XJ+1VsBruz/B8xQ"
    "LRzL3AjAwloCYcP+DNF9sb29ALrAVYquHkujCxolKbqzKv9/TELk8f8i8zQHtnv7M8yTvi"
    "p//T8ayHBz"
)
