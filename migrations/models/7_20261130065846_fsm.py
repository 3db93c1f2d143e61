"""aiogram FSM storage (tt_storage.fsm.PostgresStorage): one row per StorageKey.

A new, empty table, so the index needs no CONCURRENTLY. The partial expression index holds only
rows whose every part expires (TTL'd or empty): the bounded cleanup reads it, oldest first, and
rows of bots without a TTL never enter it. Idempotent: re-running finds everything in place.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "tt_storage_fsm" (
    "key" VARCHAR NOT NULL PRIMARY KEY,
    "state" VARCHAR,
    "data" JSONB NOT NULL,
    "state_expires_at" TIMESTAMPTZ,
    "data_expires_at" TIMESTAMPTZ
);
COMMENT ON COLUMN "tt_storage_fsm"."key" IS 'bot:chat:user:thread:len(business_connection_id):business_connection_id:destiny';
COMMENT ON TABLE "tt_storage_fsm" IS 'aiogram FSM state and data of one StorageKey (tt_storage.fsm.PostgresStorage).';
CREATE INDEX IF NOT EXISTS "idx_fsm_expiry" ON "tt_storage_fsm"
    ((GREATEST("state_expires_at", "data_expires_at")))
    WHERE "state_expires_at" IS NOT NULL AND "data_expires_at" IS NOT NULL;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "tt_storage_fsm";"""


MODELS_STATE = (
    "eJztW21zGjcQ/iua+wQzjutgO3Zpmhns2g2NgYxNkk7qzlncCdBwSOSkM2Zc//eudG/cm3"
    "mxTQjhE7DaXe09K612V8e9MeQ2ccTu+VXjkljctY0qujcYHhL4kh3cQQYejeIhRZC442hu"
    "KU0huYt7xOyKoebtCOliS8JoFzuCAMkmwnLpSFLOlAymvOfiIYIpkJBYEoSZjWwsMeJdxB"
    "lBV77KD2SCSvEMuzDD7kcuZM8lImAp76o5bW7BpJT1nl/9NbtmNYbIcCQnaIRdiUqM+3p3"
    "0M3N/cPNjdZdRn0skOwTRO5G1J3A2CvKupRRObm5+Q01P11coCHBTKBrg5Fb4l4zzUnEtb"
    "GLGhRsVgChIwSocdTxqGP7CtWsFDtKMXALxUSZTe70YId78N1GlgO6vRFyCbbFNSu5fCzQ"
    "uM8FGASTBbYHM+6gzkRLO/AYbmBxeQf4qdVHGGlHIwszxiWyieVgl2igPUa/ecSUvEdA3A"
    "W4//kXyNocIsKfo4HZpcRJrqsBmSgNesCUk5Emfsau1cfuueZWjuyYFne8IZuSGE1kn7NI"
    "BBytqD3CCCBG7Kl1xjzHCRZmSPINBoJ0PRJZascEm3Sx56jVqqR9E2KaYZrNVtu8Omubpp"
    "FdyR0uq2C/rHqCuFXZV+BXHcJKHU9QBr6Cp2GMWIrfpHa5mk+vglpJ2SSzlF9APwyo/UmZ"
    "VO66f/CfOPaKphraN7XL0/e1S+NB88AS97m0l2O36p2woGMjmaVcGzgu8mzIErs2jjvL+z"
    "aUmHJHQFoOwRgxBWUWsL+uWs18tEL+FFg2tST6DzlUyGX2wzyoGW+7HtOLSIcjWEJiV037"
    "zlg9lgofpXkoxDdHEZoBuqVG7e+yGoGAbfmHUvP0onWiIQuieajgJOUKvRDNICiaWGbd8g"
    "cwSDokjyzklHzaTYGC3fDLRq3wdr1xdtWuNT4mXPNHrX2mRiqaOklRS29S7oqUoC/19nuk"
    "fqKvreZZ2oMRX/uroWzCnuQm42MT29OYhOSQlNl8T3B4jvjW3+vmb5WCdAdTp5UidLA1GG"
    "PXNjMjvMKLeLNDw8owTcEMEkU7QFPZGWTQDTiLrbzU2h94NK0eRiwzs+kWJLSaHZWwZ1OO"
    "FP+gjGw+Zg7HdjZBnktidqZ3b8RAGCpBgUzDn8tXQ2y1Q5RQnLhGqIWQUPvO1LaYWkO4Yc"
    "LdZGhpsE//0Dt5atIlZ5oxSWEGC0T/CZMR44T26kzmx4tIJBUlYKul40IQBFadw84dFcBY"
    "+Hj1a6Wyv39U2dt/c3x4cHR0eLx3DLza3uzQ0SOh5KT+Z73ZTkYGRXg83Uy6fCFfZERn+2"
    "T9Y/UqvRJ74ZbahC+8GaallsJ+qSR248CfCrXzYz8ltIV+Iegz2UTSE1k3nHOX0B77QCba"
    "FXWwGzMrr94N8oFPoEb8gD54CBdZSI3Do4vH0QE6vfbg4eGRifTLtBaqnbbrUNc9fJ8MzQ"
    "c+J0OLPFKcoXkRy8wMrYZ0DweNXHqr2pFaFJWojd6hvbLuTvZc7o182ltNc+iAZDO3J2la"
    "MKNzSY8KSdy5kyttjJkUmzuVcygbzD+J5l4ig1uP0LlN44zMKpnfHRnRbRq3bCbhYDApA/"
    "6jrdtQ5Hma8nM1IQnLthsD2oo6tmG4WQSnQOSn7HB3qUNMdWbm7GzO1UVVPmgJuRRyHRB8"
    "qSUWUabByz/MnwO0k1brItE/O6mntmrzU+Pk7LL0WjfOgInKgh2MbYDPYzkhtDB+Tousrh"
    "TYS8O79+RgWXl9cHRwvP/mIIqREeWx0FgAIndUf2Cxoygl+EOjueKjp+Nwa7DE6Z+UW+Oj"
    "3/jSJyy4oZdojAUKTP9lQNUHomqUCp3RoxIZcauPBAHn2KIcvC4w7kNAVDf6wAO2Z+uBF5"
    "pjfWrt4rpwqmYLe+WpVRSInX+4JI5+taK4Ao868htSgWebdeJpAH1WOjYJoJdsK/hg5bQV"
    "IhSL2wqxs+a7+dH8iLtIOPBN9Pl4xsXPLIEV3vv4z7qSi59gqsVmCZ9twUehQ1gWonAa9O"
    "X92eUZoiJgRL/rFbm9d1qD/GR777SOXknfOy1RjicFV9e8WKeqPIo4C1blCbltVT5HVQ6I"
    "jVxuwXlB8uL2DLATolu858ObMtjci/abEnJbpOdAej0uUH6as29797yxd8814lKrb+RUic"
    "HIzmNlIo55ZpWJxZA+4c8ceSGgcP9vWCXyxL5zcY1xC1sx6MIkkT0tzmtjkY1IamG/3JkO"
    "YT2ptkbl8HB2llsCrvT7/8FQxR9LdfthUy2AcMC+gei+3tubA13gKkRXjyXRhRklybuPKv"
    "5/y5TI6v/i8n0KtGf7M8t3fdX94X+fJajW"
)
