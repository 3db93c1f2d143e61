"""Secondary indexes for every query tt-storage runs.

Built with CREATE INDEX CONCURRENTLY, one statement at a time outside any transaction, so an
adopted tt-bot database with tens of millions of rows keeps taking writes meanwhile. aerich
would send a returned multi-statement string as one implicit transaction, where CONCURRENTLY
fails: so upgrade() runs the statements itself and returns a no-op for aerich to run.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False

# (index name, statement). An interrupted concurrent build leaves an INVALID index that
# IF NOT EXISTS would accept as done: those are dropped and rebuilt.
INDEXES = (
    ("idx_users_registered_at",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_users_registered_at" ON "users" ("registered_at")'),
    ("idx_users_link",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_users_link" ON "users" ("link")'),
    ("idx_videos_user_time",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_videos_user_time" ON "videos" ("user_id", "downloaded_at")'),
    ("idx_videos_time",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_videos_time" ON "videos" ("downloaded_at")'),
    ("idx_music_user_time",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_music_user_time" ON "music" ("user_id", "downloaded_at")'),
    ("idx_music_time",
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_music_time" ON "music" ("downloaded_at")'),
)

IS_INVALID = (
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE c.relname = $1 AND NOT i.indisvalid"
)
DROP_INVALID = {
    name: 'DROP INDEX CONCURRENTLY IF EXISTS "' + name + '"' for name, _ in INDEXES
}


async def upgrade(db: BaseDBAsyncClient) -> str:
    for name, create in INDEXES:
        invalid, _ = await db.execute_query(IS_INVALID, [name])
        if invalid:
            await db.execute_script(DROP_INVALID[name])
        await db.execute_script(create)
    # aerich runs whatever is returned, and asyncpg rejects an empty script.
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_videos_time";
        DROP INDEX IF EXISTS "idx_videos_user_time";
        DROP INDEX IF EXISTS "idx_users_registered_at";
        DROP INDEX IF EXISTS "idx_users_link";
        DROP INDEX IF EXISTS "idx_music_user_time";
        DROP INDEX IF EXISTS "idx_music_time";"""


MODELS_STATE = (
    "eJztWVtv2zYU/iuEnhwgKxwnqbNiGGAHzea1sYE0DQYMg0BLjEyYJlWSygWp//tI6n6LJb"
    "vJHNdv8uH5ePkOeW5+shbMRUS8uwwEdqwP4MmicIHUR37gEFjQ91OxFkg4JaFmojIVkkNH"
    "KuEtJAIpkYuEw7EvMaNadUIRMOqgAwMXM6D15wfAZfeUMOi+09O4zFHzYOo1RgQUfwuQLZ"
    "mH5AxxhfvnXyXG1EUPSOifT9YtRsQ131YgELexG64VToNcG0pLg9CDz5EQasMiniemBLsP"
    "ttmLbWaQWIk1EY++GbYMWu3P/Fgegtyia660YhEN8ue2WSdnPiUMT2iG7Bg+xN6Iygujro"
    "8/tR1GggXNQfxHOWM0wWAqtdRDFHEokV5H8kBblwaERLcgNnhoilQltEEG46JbGBB9RzQ6"
    "3EMqs2x7PLm2v3y8tm2rdH9iROaCRCJHkahIUVsVhgZPb+GXX3u94+N+r3v8/uz0pN8/Pe"
    "ueKV2z3/JQfxluJiUsnMrQNvpjNL7WG2Lq+oXXXguWBgMltFNLpzbIm7yVLUrQ1TaJLZAx"
    "SkR5YpNYJTVK+k53zCqpFe6wi1jrx5BFrcV96UH8lORnXG1z7jOgPfWtqNfh4HZe6Yw0qW"
    "UzXDCOsEc/oUdjipHaN6QOqqA+yge+qmnEG7TBMr5ksTR1jxzeJwE0e/fU4dWRkTTHH0/A"
    "4Px6NBmHMXeqkpB7yF07x7YeYT1WkCS65aFFb1GUQAo9Q48+h951jviKDC2xSH2GFiQqKz"
    "O0AXBmUH4APsd3yrrAQEEHu+B30D0AkLrA4yzwQ9lvRkbwHJUzt41mapnRceRhIRFvnFyZ"
    "zdh5WONUjmA6b76I0V4jg9sO17lP46zSLWlujhJ0n8atm0kQqLZUIv8GcuVleDX7MaRAuj"
    "rLSwUwC1GrxHok2yhuVfF2M7g6/3NwVeQpcjdteIoga/G0ZZezNV+3mCBbx8yKl80YQZBW"
    "k5bDFZibKuBLXbFEkiWvOpj/CNKGk8lnfZSFEN9I+FoLT3X89XL48apzdKDFSgnLmhcMXU"
    "VfQCtcaK3/zEJerxToFuntbuwse0cn/ZOz4/cniY9MJM+5xhoSGdH9gXahqAB802z+H5VU"
    "fdafycjjTmjBLBHs4tMVItCcuWyBYr91R+qrcitGbEbQjZ5jlwh6yaIxJKuiaExYrC8aU2"
    "M16+sbfcA4EER9iRm7X9HWXwV4xa5+eNZXaetHS+37+tvt/w/3ff2ttEqxr79GuZMHvl5x"
    "uE1VDxY2XqiYURWMn6t6crh91dOg6lGM+Zw5KiKgKr+9guwcdM93M74xVY+7bT2fw+2Zbs"
    "D0djSof5rYt/9vb2f/2xsgjp2ZVVGnRSOHzxVqMNVZVajVU7q62KotSapcQO3737FKZMO+"
    "Xn2NcaeeYtQHyTN7Xp/XppCdSGrVe3mwCaKe1E+jd3q6OsvtKK2DQjiLhnrhWKGbqh5VC4"
    "Yj9R1k96jbbcCu0qpl14zl2VUrSlTV7//ry2RczXAGUmDZxY4E3wHB4i2mCc+Qq8nIZWQx"
    "p53Lwd9Fus8/T4aGHCakx80sZoJhu5b1jw9my/8AmlAPmA=="
)
