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
    "eJztW21z2jgQ/isaf4KZNJeSpMnlep0hueTKNUAnoe1NLzeOsAVoMBK15BAml/9+K/ndxr"
    "wloZTyCVjtrtbPSqvdFX4wpDSF5C7ukt2L6/oVsbhrGyfowWB4QODLZIYdZODhMD2siBK3"
    "nYyU2REDzd8W0sWWhNEOdgQBkk2E5dKhpJwpGUx518UDBNMgIbEkCDMb2VhixDuIM4KufZ"
    "UfyBiVEnbBDLsfuZBdl4iApbyr5rS5BZNS1n1+9TfshlUZIoOhHKMhdiUqMe7r3UG3tw+P"
    "t7dadxn1sECyRxC5H1J3DGOvKOtQRuX49vY31Ph0eYkGBDOBbgxG7oh7wzQnETfGLqpTsF"
    "kBhI4QoMZR26OO7StUs1LsKMXALRQTZTa514Nt7sF3G1kO6PaGyCXYFjes5PKRQKMeF2AQ"
    "TBbYHsy4g9pjLe3AY7iBxeUd4KdWD2E04DZxkIUZ4xLZxHKwSzTQHqPfPGJK3iUg7gLc//"
    "wLZG0OEeHPYd/sUOKk11efjJUGPWDK8VATP2PX6mH3QnMrR7ZNizvegCUkhmPZ4ywSAUcr"
    "apcwAogRO7HOmOc4wcIMSb7BQJCuRyJL7Zhgkw72HLValbRvQkwzTLPRbJnX5y3TNPIruc"
    "3lCdgvTzxB3BPZU+CfOISV2p6gDHwFT8MYsRS/Se3yyWT6CaiVlI1zS/kF9MOA2p+USeWu"
    "h0f/iWOvaKqhfVO9OntfvTIeNQ8scZ9Lezl2q94JCzo2klnKtYHjIs+GLLFr47izvG9DiY"
    "Q7AtJyCMaIKSjzgP113WxMRivkz4BlU0ui/5BDhVxmP8yDmvG24zG9iHQ4giUkdtW074zV"
    "Y6nwUZoHQnxzFKERoFuqV/8uqxEI2JZ/KDXOLpunGrIgmocKTjOu0AvRDIKiiWXeLX8Ag6"
    "QDMmUhZ+SzbgoU7IZfNmqFt2r18+tWtf4x5Zo/qq1zNVLR1HGGWnqTcVekBH2ptd4j9RN9"
    "bTbOsx6M+FpfDWUT9iQ3GR+Z2E5iEpJDUm7zPcHhE8S3/l43f6sUpNNPnFaK0MZWf4Rd28"
    "yN8Aov4s0PDSqDLAUzSBTtAE1lZyKlrMN5bBWl2f7gzBR7ELHNzKybkNxqdlTCnk05Uvz9"
    "MrL5iDkc2/lkeS6J2VnfgxGDYqhkBbIOfy5fDbHVblFCcRIbIRhCQ+17U9tiag3h5gl3lq"
    "GlwT79Q+/qxKRLzjRjksJsFoj+E6ajxynt1picHDsikUzEgG2XjRFBQFh1Pjt3hABj4ePV"
    "r5XK/v5RZW//zfHhwdHR4fHeMfBqe/NDR1PCymntz1qjlY4SijA99Uy7fCFf5ERn+2T94/"
    "YqvRJ74Y7ahC+8GZJSS2G/VEK7ceAnQu382CeEttAvBH0us0h7Iu+GC+4S2mUfyFi7ogZ2"
    "Y2ZNqn0TecEnUCV+QD88hgstpMYh0sWj6BBNrj8AwCYOkX7Z1kTVs1YN6rzH75ex+eAXZG"
    "yRZ6ZnbF7ENjNjqyLd30FDl96pVqUWRSVqo3dor6w7l12Xe0Of9lbTHNon+UzuSZoWzPBc"
    "0qVCEnfuZEsbY6bF5k7tHMr680+iuZfI6NYjlG7TOiO3SuZ3R050m9Ytm1k4GEzKgT+1rR"
    "uKPE/Dfq4GJWH5VmRAW1E3Nww3i+AUiPyU3e8OdYip7pcm7GzO1SXWZNBSchnk2iD4Ukss"
    "oiTBm3yYPwdop83mZaq3dlrLbNXGp/rp+VXptW6qAROVBTsY2wCfxyaE0ML4mRRZXWmwl4"
    "V378nBsvL64OjgeP/NQRQjI8q00FgAIndUv2Cxoygj+EOjueKjp+1wq7/E6Z+WW+Oj3/jS"
    "Iyy4vZdohAUKTP+lT9UHomqUCp3RoxIZcquHBAHn2KIc/JVg1IOAqG77gQdsz9cDLzTH+t"
    "TexTVivJSi3nlmFQViFx+uiKP/djG9Io869RtSkecbeOLpIH1WejYJpJduNfiAFbQaIjSn"
    "txpi5813O6T5EXeRcOCb6PHRjMuhWQIrvBvyn3Ull0PBVIvNEj7bgo9CB+BUUTgN+vL+/O"
    "ocUREwot/16tzeTa1BzrK9m1pHr2TvppYo0dOCq2torFOlHkWcBSv1lNy2Up+jUgfEhi63"
    "4Lwgk+L2DLBTolu858ObMtjci/agUnJbpOdAej0uVX6as297P73x99NV4lKrZxRUjcHozq"
    "yyEcd8s8rGYnif8DLIpJBQGA82rDJ5Ym+6uOa4g20ZdGnSyJ4V57mxyEYkubB37k2HsK5U"
    "W6RyeDg76y0BV/b9gWCo4o9lbgRgYy2AcMC+gei+3tubA13gKkRXj6XRhRklmXRnVfx+TE"
    "Jk9a/IfJ+C7dlehvmuf5V//B/kBMl+"
)
