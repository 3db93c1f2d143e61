"""users.blocked_at: additive and nullable, so instant on a big table (no rewrite).

An existing column (``generate_schemas()`` or another app's ``aerich init-db`` made the table
with it) is kept if it is the same nullable BIGINT, refused otherwise.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

EXISTING = (
    "SELECT data_type::text AS type, is_nullable = 'YES' AS nullable"
    " FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND table_name = $1 AND column_name = $2"
)


async def upgrade(db: BaseDBAsyncClient) -> str:
    from tt_storage.core.errors import StorageError

    async with db.acquire_connection() as conn:
        found = await conn.fetchrow(EXISTING, "users", "blocked_at")
    if found is not None and (found["type"], found["nullable"]) != ("bigint", True):
        state = "NULL" if found["nullable"] else "NOT NULL"
        raise StorageError(
            f"users.blocked_at already exists as {found['type']} {state}; tt-storage needs a "
            "nullable bigint: drop or rename that column"
        )
    return """
        ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "blocked_at" BIGINT;
        COMMENT ON COLUMN users."blocked_at" IS 'When the bot was blocked/kicked in this chat (epoch seconds); NULL while reachable.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "users" DROP COLUMN "blocked_at";"""


MODELS_STATE = (
    "eJztWW1PGzkQ/ivWfgoS14YAhbankwIqd1whkShwJ51OK2fXbKw49nbtJSCO/35j7/sb2Y"
    "SCQppP2YznscfP2J4Z+8GaCpcw+e48lNSxPqEHi+MpgY9iwzaysO9nYi1QeMQizVRlJFWA"
    "HQXCG8wkAZFLpBNQX1HBteqQE2TUUQeHLhVI60+2kCtmnAnsvtPduMKBfij3WiNCTr+HxF"
    "bCI2pMAsD98y+IKXfJHZH674N1QwlzzbcVShLY1I3Girohro2VpUHkzg+IlGCwTPpJKKHu"
    "nW1ssU0PioJYE3Hvm2bLoME+8+dxGxUGXXKkOYNokD+xzTgF94EwmqFpshP4EfVOuTox6n"
    "r6I9sRLJzyAsS/V2PBUwzlSks9wkmAFdHjqCDU3uUhY/EqSBweuSJTiXyQw7jkBodMrxGN"
    "jmzIZJZtD4aX9rcvl7ZtVdZPgsgtkFjkAIlACpgqDQ2eNuGXj73e7u5Br7v74XB/7+Bg/7"
    "B7CLrG3mrTwWNkTEZY1JWh7fT308GlNkjA8ouWvRY8GgxW2M48nfmg6PKFfFGBzvdJ4oGc"
    "U2LKU58kKplTsn26Zl7JvHBLXSIW3gx51FLcVzbET0l+7qhtz30OtKF+Iep1OLiZ1B5Gmt"
    "SqG05EQKjHv5J744pTsBtzh9RQH+cDV9CNfIM+eEwWWSLNjscAz9IAml97MHmYMlFm+oMh"
    "6h9fng4HUcwdQRIyw4FrF9jWLaInSpJUt9o07U3LEsyxZ+jR89BWF4ivydBSjzRnaGGqMj"
    "dD6yNnjNUn5Af0FryLDBR1qIt+Q90thLmLvECEfiT71cgYnZBq5vasnhbM6ALiUalI0Dq5"
    "MsbYRVjrVI5RPmk/iNFeIoNbjaNzk8ZZlVXS3h0V6CaNWzaTYBhMqpB/jQM4ZYJ69hNIiX"
    "SYy0sFMItwq8J6LHtW3Krj7bp/cfxH/6LMU3zcLMJTDFmKpxVbnAvzdUMZsXXMrNnZQjCC"
    "eT1pBVyJuREAX2qJpZI8efXB/EeQdjQcnumpTKX8zqLdWtqqg6vzoy8XnZ0tLQYlqhp2MH"
    "aBvpDXHKGN52ce8nqlQLdMb/fZh2VvZ+9g73D3w156RqaSp47GBhIF0/cDi4WiEvBNs/nK"
    "oWfEhDNZIvoXcSsc+q2/xoQjSLTRSCg0wxLFpr+fUP2DqG6l0mT0qEN84YyRJOAcV259Ro"
    "OrszM0G8OBiAKCQQdsr9YDLzTG6tTazXVhrmZL7spLqyiGnXy9IAwbr1RXTPlGfk0q8Opl"
    "nXweQde6j3Ui6CWvFSKyaq4VUhabrxUyZ7V7+TH6SARIMviSYzGb8/AzD/CK7z7RXF/l4S"
    "ceavPys+oZwublZxW9Un75WaIgLgJf7/pglepiKm06hZhRF4yfqosLuE1d3KIuBsb8QDgQ"
    "EUjduT2H7AJ0w3c7vimHzb3ojU8Bt2G6BdOr8YTx08S+zevv2r7+9klAnbFVU6fFLdtPFW"
    "o405lXqDVTOr/YaixJ6o6Axv2/ZpXIM29+m2uMW9iK8T1Ikdnj5rw2g6xFUgv75c5mhHtK"
    "b43e/v78LLcDWlulcBY39aK20n07bKoFGI7V15DdnW63Bbug1ciuaSuyCyMqUvci9Oe34a"
    "Ce4RykxLJLHYX+Q4zKt5gmPEGuJqOQkSWcds77f5fpPj4bHhlyhFReYHoxHRwtdmX944PZ"
    "4/8Jab0W"
)
