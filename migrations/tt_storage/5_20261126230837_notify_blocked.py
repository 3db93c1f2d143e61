"""Also NOTIFY when a chat's blocked_at changes.

A process that caches a chat as reachable must learn that another one (a broadcast, say)
marked it blocked: otherwise the chat's next message would be served from the cache and never
unblock it. Replaces migration 2's update trigger; the function stays the same.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        SET LOCAL lock_timeout = '5s';
        DROP TRIGGER IF EXISTS "tt_storage_settings_changed" ON "users";
        CREATE TRIGGER "tt_storage_settings_changed"
            AFTER UPDATE OF lang, file_mode, user_id, blocked_at ON "users"
            FOR EACH ROW
            WHEN (OLD.lang IS DISTINCT FROM NEW.lang
                  OR OLD.file_mode IS DISTINCT FROM NEW.file_mode
                  OR OLD.user_id IS DISTINCT FROM NEW.user_id
                  OR OLD.blocked_at IS DISTINCT FROM NEW.blocked_at)
            EXECUTE FUNCTION "tt_storage_notify_settings"();"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS "tt_storage_settings_changed" ON "users";
        CREATE TRIGGER "tt_storage_settings_changed"
            AFTER UPDATE OF lang, file_mode, user_id ON "users"
            FOR EACH ROW
            WHEN (OLD.lang IS DISTINCT FROM NEW.lang
                  OR OLD.file_mode IS DISTINCT FROM NEW.file_mode
                  OR OLD.user_id IS DISTINCT FROM NEW.user_id)
            EXECUTE FUNCTION "tt_storage_notify_settings"();"""


MODELS_STATE = (
    "eJztWW1PGzkQ/ivWfgoS1wsBGtrenRQQXLlCIlGgJ51OK2fXbKw49tb2EhDHfz/b+/5Gdk"
    "NBIc0nwngee/aZ8XjGfrCktIVkHHro3XkgsGN9BA8WhTOkfpQHt4EFfT8/pIUSjolBzBK1"
    "sZAcOlIJbyARSIlcJByOfYkZ1aojioBRBx0YuJgBrT/dAi6bU8Kg+05P4zJHzYOp1xgRUP"
    "w9QLZkHpITxBXun3+VGFMX3SGh/32wbjAirvltBQJxG7vhWuE0yLWhtDQI3fkcCaEMFvE8"
    "MTXYvbONLbaZQeJZSMS9b4Ytg1b2mX8et0Fu0SVXWrCIBvlT26yTc6MShl9ohuwYfoi9Uy"
    "pPjLr+/LHtMBLMaA7i38sJowkGU6mlHqKIQ4n0OpIH2rs0ICSKgtjhoStSldAHGYyLbmBA"
    "dIxodGhDKrNsezi6tL8eX9q2VYqfGJEJkEjkKBIVKcpUYWjwtAm/fOj1dnf7ve7u+4P9vX"
    "5//6B7oHSNveWh/mNoTEpYOJWh7fTP0+GlNkiFvxOGvRY8GgyU0E49nfog7/JWvihBF/sk"
    "9kDGKRHliU9ildQp6T5dM6+kXrjFLmKtN0MWtRT3pQ3xU5KfSbXNuc+ANtS3ol4fBzfTym"
    "SkSS274YRxhD36Bd0bV5wquyF1UAX1mbrgSk0l3qAfHuNAi6VpiuRwnhyi2fhTBLiIIGko"
    "GI7A4OjydDQMz92xKkTmkLt2jnE9wnqsIEl0y0Oz3qwogVTR7Ebfoa0ukV9TsSWeebpiCx"
    "K1hRXbADgTKD8Cn+Nb5WlgoKCDXfAH6G4BSF3gcRb4oew3IyN4isqV3LNmalnhceRhIRFv"
    "XGwZY+w8rHFpRzCdNl/EaC9R0a1GKt2UdVYpSpq7owTdlHXLVhYEKpNK5F9DrrIMr2Y/hh"
    "RIV9/yUoeZhahVYj2SPesMq+LtenBx9HlwUeQpSjdteIogS/G0YsHZmq8bTJA9Yy6q2NmM"
    "EQRpNWk5XIG5sQK+VIglkix51Yf5jyDtcDQ6058yE+I7CXdrYasOr84Pjy86O1tarJSwrN"
    "nB0FX0BbQihdbmzyzk9VqDbpHe7rOTZW9nr793sPt+L8mRieSp1FhDIiP6vqDdUVQAvmk2"
    "X/noGRPmTJc4/fO4FT76rW8TRIEqtMGYSTCHAkSm/zrF+g/AehQLU9GDDvKZMwECKee4Yu"
    "sTGF6dnYH5RCVEwBFUOsr2cj/wQmusTu9d3yOmoZTcnReiKIKdfLlABBqvlCOm6qZ+TTry"
    "8gWeeD5J13qedSLppa8aQsJqrhoSNp++akid1+x1yOgDxoEg6peYsPmCx6FFgFd8Gwq/9V"
    "Ueh6Kl2q0Sf1vLT8Ez5VRRuwz49vn44hhgESmC3010bt6mVqBm2bxNraJXim9TS7ToeeDr"
    "XWisUqeeZJyWnXoOt+nUG3TqijGfM0edF6gqby8gOwfd8N2Mb0zV5m57B5XDbZhuwPRqPK"
    "r8NGff5n167d+nB4hjZ2LVdI3R6PaithGmeovaxnp6F7d+tS1KVUqozQdr1pk88266vue4"
    "VdsyuqXJM3tUX+emkLUoctXeubMJop7UW6S3v7+46u0ora3C8RYN9cKxwouA2lgtGI7U15"
    "DdnW63AbtKq5ZdM5ZnV60oUdWb1V9fR8NqhjOQAssudiT4DxAs3mLZ8AS5moxchRZz2jkf"
    "/F2k++hsdGjIYUJ63MxiJjhsd6n+4w+2x/8BUVYBJQ=="
)
