"""Tell every bot process when a chat's settings change, so their caches stay coherent.

A trigger on users NOTIFYs channel tt_storage_settings with the chat id whenever lang or
file_mode really changes, or the row is deleted or re-keyed (chat migration): changes made
with plain SQL invalidate caches too. The notification is sent at commit, never for a
rolled-back change. Run again (CREATE OR REPLACE), it changes nothing.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE OR REPLACE FUNCTION "tt_storage_notify_settings"() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('tt_storage_settings', OLD.user_id::text);
            RETURN NULL;
        END
        $$;
        CREATE OR REPLACE TRIGGER "tt_storage_settings_changed"
            AFTER UPDATE OF lang, file_mode, user_id ON "users"
            FOR EACH ROW
            WHEN (OLD.lang IS DISTINCT FROM NEW.lang
                  OR OLD.file_mode IS DISTINCT FROM NEW.file_mode
                  OR OLD.user_id IS DISTINCT FROM NEW.user_id)
            EXECUTE FUNCTION "tt_storage_notify_settings"();
        CREATE OR REPLACE TRIGGER "tt_storage_settings_deleted"
            AFTER DELETE ON "users"
            FOR EACH ROW
            EXECUTE FUNCTION "tt_storage_notify_settings"();"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS "tt_storage_settings_deleted" ON "users";
        DROP TRIGGER IF EXISTS "tt_storage_settings_changed" ON "users";
        DROP FUNCTION IF EXISTS "tt_storage_notify_settings"();"""


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
