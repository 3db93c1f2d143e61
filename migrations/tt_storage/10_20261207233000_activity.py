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

Also: the rollup's reset trigger (migrations 4 and 9) lets a ``forget_chat`` transaction delete
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
            DELETE FROM "tt_storage_hourly"
                WHERE kind IN (TG_TABLE_NAME, TG_TABLE_NAME || '_hits', TG_TABLE_NAME || '_misses');
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
            DELETE FROM "tt_storage_hourly"
                WHERE kind IN (TG_TABLE_NAME, TG_TABLE_NAME || '_hits', TG_TABLE_NAME || '_misses');
            DELETE FROM "tt_storage_hourly_state" WHERE kind = TG_TABLE_NAME;
            RETURN NULL;
        END
        $$;"""


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
