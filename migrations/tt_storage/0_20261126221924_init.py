"""The three tables, created only if missing.

Tables that already exist (made by ``Tortoise.generate_schemas()``, by another app's
``aerich init-db`` on the same connection, or by tt-bot) are checked first: in a shape the
later migrations build on they are kept as they are, in any other shape nothing is changed and
the migration fails naming each difference.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    from tt_storage.ops.adopt.shape import existing_shape_problems
    from tt_storage.core.errors import StorageError

    async with db.acquire_connection() as conn:
        problems = await existing_shape_problems(conn)
    if problems:
        raise StorageError(
            "tables or indexes tt-storage would create already exist in another shape, "
            "nothing was changed: " + "; ".join(problems)
        )
    return """
        CREATE TABLE IF NOT EXISTS "users" (
    "user_id" BIGINT NOT NULL PRIMARY KEY,
    "registered_at" BIGINT,
    "lang" VARCHAR NOT NULL DEFAULT 'en',
    "link" VARCHAR,
    "file_mode" BOOL NOT NULL DEFAULT False,
    "ad_count" INT NOT NULL DEFAULT 0,
    "ad_cooldown" BIGINT NOT NULL DEFAULT 0
);
COMMENT ON TABLE "users" IS 'A chat: private users (id > 0) and groups (id < 0) alike.';
CREATE TABLE IF NOT EXISTS "music" (
    "pk_id" BIGSERIAL NOT NULL PRIMARY KEY,
    "downloaded_at" BIGINT,
    "video_id" BIGINT NOT NULL,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("user_id") ON DELETE NO ACTION
);
COMMENT ON TABLE "music" IS 'One music (audio track) download.';
CREATE TABLE IF NOT EXISTS "videos" (
    "pk_id" BIGSERIAL NOT NULL PRIMARY KEY,
    "downloaded_at" BIGINT,
    "video_link" VARCHAR NOT NULL,
    "is_images" BOOL NOT NULL DEFAULT False,
    "is_processed" BOOL NOT NULL DEFAULT False,
    "is_inline" BOOL NOT NULL DEFAULT False,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("user_id") ON DELETE NO ACTION
);
COMMENT ON TABLE "videos" IS 'One video or slideshow download.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztmW1PGzkQx7+Kta+CxFUhQEOrU6UElbtcSyJRik6qqpWz62ysOPbW9kJRy3ev7X1+It"
    "mktCHddzCev7F/sx7PmG/WkrmIiBeXgcCO9Rp8syhcIvVDfuAQWND3U7M2SDgloWfiMhWS"
    "Q0cq4wwSgZTJRcLh2JeYUe06oQgYd9CBgYsZ0P6LA+CyO0oYdF/oaVzmqHkw9dZWBBR/CZ"
    "AtmYfkHHGl+/RZmTF10Vck4l/9hT3DiLi5bSojdvUcZsiW974xD7E3ovLCuOslTW2HkWBJ"
    "cxL/Xs4ZTTSYSm31EEUcSqT/juSBpkADQiJaMZhwyalLuNaMxkUzGBDNUqvDNaQ2y7bHk2"
    "v7w9tr27ZKnGNFBmRkchjVMVJLFQaDp5fw16te7/i43+sevzw7Pen3T8+6Z8rXrLc81H8I"
    "F5MCC6cy2Eb/jMbXekFMhSn8PLThwWighKHKhCSNQRxL5NpQNotFSbo6JnEEMkGJkCcxiV"
    "3SoKTf855FJY3CLXYRa3wYsqqN2JcOxB8JPxCIN2afEbXoG6HX18FsUZmMNNRyGC4YR9ij"
    "79C9CcVIrRtSB1Wgj+7Nj2oa8Qxj8BB/ZLE1TY8c3iUXaPbbU5tXW0bSbH88AYPz69FkbB"
    "nIU3VZ30Hu2jnaeoT1WMGS+JaHlr1l0QIp9AwevQ+96hz4ikomiUh9JRMkLisrmQFw5lC+"
    "Bj7Htyq6wEhBB7vgDegeAEhd4HEW+KHtb2MjeIHKFc5WM21R+exGymnLH4sjDwuJ+AblT0"
    "nalj+b3sAEqiWV4N9Ark4nr6YfSwrQ1V6eKvFbiFol6pFtq3xfxe1mcHX+7+CqyAnTRVNO"
    "kWQjTjv2cTbmNcME2fquqTjZjBEEaTW0nK5AbqqET/WJJZYsvOpL8GdAG04m7/VWlkJ8Ie"
    "FpLRzV8cfL4durztGBNisnLGtOMHQVvoBWpNDa/JmV/LoSulvE2906WfaOTvonZ8cvT5Ic"
    "mVgeS401EBnRfXWzq6ggfNY0f0cHUl8tZyrZ+KWtEJZIdvHuChFo9lyOQPE9b0/6kvITht"
    "gO0I2eY58APWWzFcKqaLYSivXNVhqs9d6NjT9gHAiifhJzdrfi2XiVoH013vksedi+Gu9k"
    "VIqvxhs0BXnhr2uhdqk3wMLGS5VZq66sx3qDnK7tDdboDRQxnzMHCYGq8vYK2Dlpy3s93p"
    "iqw920683pWtJrkN6NZ9w/5u5r/3O0t/85GiCOnblV0c1EI4ePtTMw9VnVztQj3aIlqUoB"
    "ted/zzqRLV+/6nuMW3UUo9eCPNnz+ro2lexFUavOy1ebIOpJfTR6p6erq9yO8jooXGfRUC"
    "8cK7w5qkPVgHDkvod0j7rdNegqr1q6ZixPV/1Fiapexf/7MBlXE85ICpRd7EjwHRAsnmOZ"
    "8AhcDSNXkcVMO5eD/4u4z99PhgYOE9LjZhYzwbDZw+7Pv8wefgCjLkR9"
)
