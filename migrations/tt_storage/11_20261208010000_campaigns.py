"""Broadcast campaigns that survive restarts and share the work between processes.

``tt_storage_campaigns`` holds what to send, to whom and how fast; ``tt_storage_campaign_chunks``
the recipients, fixed when a campaign starts, up to 1,000 chat ids a row, each row leased by one
worker at a time; ``tt_storage_bot_budget`` each bot's next send slot and 429 pause, shared by
all its workers. New, empty tables: nothing existing is rewritten or locked for long. The
partial index finds the chunks still to send without reading the finished ones.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        SET LOCAL lock_timeout = '5s';
        CREATE TABLE IF NOT EXISTS "tt_storage_bot_budget" (
    "bot_id" BIGINT NOT NULL PRIMARY KEY,
    "next_at" DOUBLE PRECISION NOT NULL,
    "paused_until" DOUBLE PRECISION NOT NULL
);
COMMENT ON TABLE "tt_storage_bot_budget" IS 'tt-storage: per-bot send slots and 429 pauses for campaigns.';
        CREATE TABLE IF NOT EXISTS "tt_storage_campaigns" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "bot_id" BIGINT NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "from_chat_id" BIGINT,
    "message_id" BIGINT,
    "sender" VARCHAR(100),
    "audience" VARCHAR(10) NOT NULL,
    "languages" JSONB,
    "rate" DOUBLE PRECISION NOT NULL,
    "state" VARCHAR(10) NOT NULL,
    "start_at" BIGINT NOT NULL,
    "created_at" BIGINT NOT NULL,
    "started_at" BIGINT,
    "finished_at" BIGINT,
    "total" BIGINT NOT NULL,
    "error" TEXT
);
COMMENT ON COLUMN "tt_storage_campaigns"."audience" IS 'private (chats with id > 0) or all (groups too).';
COMMENT ON COLUMN "tt_storage_campaigns"."languages" IS 'Only chats whose ``users.lang`` is one of these; NULL: every language.';
COMMENT ON COLUMN "tt_storage_campaigns"."rate" IS 'Messages per second for the bot (shared by every worker, ``BotBudget``).';
COMMENT ON TABLE "tt_storage_campaigns" IS 'tt-storage: broadcast campaigns (admin.campaigns).';
        CREATE TABLE IF NOT EXISTS "tt_storage_campaign_chunks" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "chunk" INT NOT NULL,
    "chat_ids" BIGINT[] NOT NULL,
    "position" INT NOT NULL,
    "worker" VARCHAR(64),
    "lease_until" DOUBLE PRECISION NOT NULL,
    "sent" INT NOT NULL,
    "blocked" INT NOT NULL,
    "migrated" INT NOT NULL,
    "failed" INT NOT NULL,
    "skipped" INT NOT NULL,
    "done" BOOL NOT NULL,
    "campaign_id" BIGINT NOT NULL REFERENCES "tt_storage_campaigns" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_tt_storage__campaig_a1b58a" UNIQUE ("campaign_id", "chunk")
);
COMMENT ON COLUMN "tt_storage_campaign_chunks"."lease_until" IS 'Epoch seconds (fractional) after which another worker may take the chunk over.';
COMMENT ON TABLE "tt_storage_campaign_chunks" IS 'tt-storage: a campaign''s recipients, one leased chunk a row.';
        CREATE INDEX IF NOT EXISTS "tt_storage_campaign_chunks_open"
            ON "tt_storage_campaign_chunks" ("campaign_id", "chunk") WHERE NOT "done";"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "tt_storage_campaign_chunks";
        DROP TABLE IF EXISTS "tt_storage_campaigns";
        DROP TABLE IF EXISTS "tt_storage_bot_budget";"""


MODELS_STATE = (
    "eJztXetT27gW/1c0+bJhbuBS+tx0784ATbfcFugA3d3ZzY6j2ArR4EhZy2ma6eV/v+dIfj"
    "9CHEIIWX8iyDqS/Duyztv+3vB9S/nSo9ds70j6RxPnmvmNNvneEHTE4EdxhxZp0PE4fRkb"
    "fdp3M1RWX/pWPybrK9+jNs4xoK5i0OQwZXt87HMpDOluQNomY+btAj1RTDhEudJXhMKvFw"
    "c/kjGdKKbIQHrEpqMx5ddC7eEMjrRhCi6ucbBzwQgM8IMKhrCHzJm4MKsaUo85pD8j7Cvz"
    "ZtEYZCq9G+YROSD+kPpI3IZfjAj2zScDj7GuiFajF0PNUggd+EBH9eKabCztIcxpS+GoFt"
    "DBLcP9UXdHr3Ei+N8TZvkSUBkyD1b651/QzIXDvjEV/ju+sQacuU6KHwgnd3AQfc3yZ2Pd"
    "fsSvT4T/XvdHFPqWLd3JSKRpxjN/KEVExIVmyjUTzKM+cxJcERPXDbgZNplVQ4PvTVi0XC"
    "ducNiATlzkLVKbVcRtDcs6O7+yLjtXltXI8T2kSHAvaAIMcc/AWpVG4hqXsPvjwcHz568P"
    "9p+/evPyxevXL9/sv4G+er35S69vzWJiyMxQGriTX07OrnBBsOlss32x4VbTUJ8aKs2VmA"
    "24HSzq5/nw3pW0hA0JmgwfBki0DCfChpgV8VMV4r7/QIyYg+m78y9Hnzrk80Xn+OTy5PwM"
    "ZxnN1N9ufBGboIH7GoCLzuEnjXiMsH6qHGsifO5WgjlLWGNdiDWeMIObxObGhj61b6bUc6"
    "zcFXkgy/rmL40ORtkWKuBEd4IbxNtJCJbj4PAtEzzR9SpyJ5IK1cVO35PUsanyY9FCmtQZ"
    "cbEXNezkhc1hASFp9nqJO8kM0uvttMkU5YwvtYRq4Y/pUI5aZCinsFbl73VFV/R6yoet2u"
    "u1IxnmkN2fiTcRAmYnTRRRHrP5mDOBUtJjZMBhlxLYQZLYw4m4USjHxA6SOVKwt11hnpQW"
    "LFbYzMUhUaANKMefsHDmedLr9YiiMwWrmu0QKbQwnNLZHul8A0DdGbQxIy4ZseV4BvJRTj"
    "yb4QADT44sG+4PxA+M8y/S642YUsgebNjR88G9wZ0znKhJ4SauuQJJCiuwqXkYQXrjpri3"
    "6KwqNhcVmYH0qyXmXIm5CYrLIkf4ljAioarg3xzsx6AAl6gpQf8M5HAjTxHyEf1muUxc+0"
    "P499n+/hw4fz28OP5weNGEXjtpUM+CSwfmWhrf5CFXbXtnKZfa5MFJsjGAP8oej6VKNQ6k"
    "6Wr8l8XfSPAqp0xMsdQ5s2moP/wxQycO6HZ2paM8SbPJx3lj7PGvsArSxNMQdE3uDwl3yM"
    "9kH3ROj4AiSJrXnpyMQYmVskD3XmaAO3i4EAvncDDLQJeK6wkcNirPwf9enp8VczBFlGGh"
    "w22f/I+4oC9vzBPTOBdgEgRMGErFQL0HI8NTe3gnoOJzlTAYFHtLzr58+tQOvHDh3RY58l"
    "Y17OKWNXJFW9MqsKZD7jZPD3/PMv740/mR5pFU/rWnR9EDHGV2AXKokjsjJFinG2MJvp8a"
    "SarQZxs4PrVzFs1CdOE2sx5X42htASMjvzJYhHnOr3Lg9XqwtMleSSb6xbzeqLN6aZm46v"
    "MU0PKKfbDzNL4kVW1ULq3w2R5DiCrDn6arGbC8xo37eAkGpOlqi2dZ/AdccDVcggEZwpoD"
    "y3LAlz4tiAzNwz4iWd/B81ARocfBXEcE8phfsW8liEcE22Dlz4HvqvP71XxbIdIeP52f/R"
    "J2zxoQGxmWO8boUeOO2Jzp1FoiQGeZ6FT1MB2Nomw/qETwq6UtQZdRhTEkHBt6enKaNy2+"
    "jDHc1usdf/hy9tG6PPmjA5ZkIooG1mQ8RysIqE2HTBDuEy1IYTIu0NEgPYd5OlR3GKaQ6B"
    "UoHEGvodnrmQswhy9vmEALRfcxoWqwUVo6BqjMogK/sILu6CfGGCDYlhyBgCYJ5Bg8g9XC"
    "1Iowag+JnPi2HDHj/UD7KCTARSIoXz6/O7zqmMwWwFcCuWBT1RXYWa8FUXUYdYKbAGDN6s"
    "G+9iksmkiwsfSC9AQD7mGwE8cDSIZAJ8AkM4tiTlnA7s+GnYjo6gkaf9VRvM058MujeHb4"
    "mKcZUK7vh/23SdU/ePbi9Ys3z1+9iKCPWuYhXmBFBc94HtBDz6OzMkhjogyqC7oCNw3WO3"
    "fpn39lk4OCg63CTkySbI36t7KdaI77Ks6qmGIbVLu0s+rViwWcVa9elDqr8FLG+R8L+kre"
    "3wzdBueyNTrJnFfSTOS8Brmx0yGHDhQ0hCH+Z7SkEZ1pzcLkD2ldA1WMvLK2+uHX7A1mos"
    "BTUO6nCbrXR1X2qOq70r5hBVpgeRpRTFHDmUud4Nfm1hfHM0lSA5rzDOr8yQpwxgQ1mDk3"
    "9w0fjyuhmaCo4czCiYm/BeazlKBniGI8Q5IMmH2geSg0o5Y12xrn559SPryjk6yT7svpUe"
    "ei+WwnLe0LDLvQt1XVW5Eh3CareQ2ei5zzNM+RAu1begwufGTG3j6BtdPinKmSkoQnxo7b"
    "cM+FrY3IGvPoNPK4Zbci4OAwl5kdf3x4eXz4rtO4fUTv9JD6p1oRMfdf7J1OdWpV8U6jl2"
    "UUki7hndZOUQn7jDukzwBMrCGc4n8mEQ3rMNRkzDz9HxgxPgn1Kgt+p0sId96SqQenjSl4"
    "DEa9lugpNoMWVaOYaUwZo1kATcyIDulgQn2zphYlnqTXM9P0esFEpgpy2hXYe4+8w82AtS"
    "dBu7lhs0V0qQkBC8ab3bdowyyi2iEa09T1jivy+ya2ZjVeZAhrgbZ8HYd+0KuhH9PUwK9K"
    "kwBMV6REfMEM1ifIhkU1iHj3bZry8P7y9EIHKcsUh7hDFaVhoEaLKQqUSzgWRwSmITrrUw"
    "dz8fTFoDOGai/NkLChSDOxLphh73OQYhx0KciZXXr4vvSLp9CRbUHYaOzPyJh6oKAIacbG"
    "OPb3W1ATcPwdMqSB9P825t4Mru1ygTlP/qzXM2nZZATGpiJd2B9fmdcVuidT3cYeiXQ18t"
    "oEqPsT7jpmQJyVUxcHht7KhLVh/weZwBP47RAbDVlQbjxGHdUVTU9Ow4xxkx2s1x7M2MKk"
    "YR36puhANiveaYWeZDKSsGmxOhaD2g6zXeqx++ozN2yWPz1+pZ5dGmgJKFaTE/wQqgyWab"
    "ZR+2tjSn7bHyL4bZeJZn+iuABe4VEhmPbXw4Gw0y5ub8OwoFHOctv5AcZf3CsQBHXu0I9K"
    "cr3nMvZ+6d4bFkBbEMGEKwqgzANWXgkT9r9XEcxSkrTx02Ai9CbSxxFsIbWH0/7cWD+WD1"
    "KTojeiFRyKhRr+O+jg8xGbs5Ez9Fk2BQPshT+2aodfnZx2Lq8OTz+nWIO5VnjlIB0uDFqb"
    "rzLsigYhv51cfSD4L/nj/KyT5WDU7+qPBq6JTnxpCTm1qJPEJGwOm3IP3z0YXkBe83vT+L"
    "1BmaSnzOG0TNU2F6uo2aOIopJHTpOBOmcHvinOglxRXVlmXloCytZbgvtVYc5kygdX5GLL"
    "Djlr6wHjwTLvf9H9daYn9xVQ+xQfJfMfKDcLKpffGzH2DZcq39JvPIIHETvG+nHEnDh38p"
    "uVxdGKBtBwB89vQw8E4Op/butszI30ym2hMfFwCmf4tFVROpM0T6D6emM1zBDH6u7jNGFd"
    "LbV8vZqXkBOVeJAjrX3JS7MhJa0rcSFLWTNhaSYAigDspCgfcx4HUmSPmFu0/xTwrmB9JA"
    "8pl1mK+QUFEUcB6fuPF8yNwvnlsRVtVbyH8bYpwHK7FkPNoDbPWotwrWayWYOIrpLhhi56"
    "XWDHHHLFXKZjG3osU6JnrDBtf2lbrh+8mvkr9TgV/tugr449SAGGGRdfqcvRNeG8JV+Zp4"
    "xvbzROvkcEpzeBk6g7dMtbgVewuvyq0AxMrkvnbZi3USfXpusHseoPMyniIsJeTw9kXmxD"
    "CapUhGJJEA7d633vNm5ga3ZhLV3z0PDkP4EFiW235q2axx86xx+BtiuilBbyIxlKjK1w32"
    "R3UB/fij1mO2+LkdqDiQOsMCfERFaw0lDD1RUxXga/JGotMImxElKOxtRju9BpV03pGN8n"
    "CtPrOBCBB9TUSwo21a968cvrByMPQPyGyADQupBwc2RAa47pWr8O9JGUn/A5ySE/12+QoN"
    "qKlxNV9h4EJ1+1DZsgWt+OfZaF7NlT26KRmrComyYiqH0094kCgvxe5oVCCbL6XF560xsN"
    "ufoLbGOqGvxVpfhF6uUKkvyi8NYTY8SiSX7JHbhpaX6nE8XtRpklqy+27jJiR1G3O21W/N"
    "qQ7g4m18ThYFRB/5sd4sipcCUtSNJfiKJiQBCTpAJ+hMMsHBzUa7H0CGHQviQiiEdXYtIl"
    "Z7pjklLbDRqrnpQRSW3BrcaCS7O8Ei9ypHVcZ2lzjjtMVn4YklS12vDUdLZ647exPNEeMm"
    "vIi46eefXMKbrlipo3DP/1lDQn1IpKITOvPmaW2epzrBMEdUXGybZXICX2X8o2OTsnh8dX"
    "+CafR7RODPgl1knEmfnWySTqdqd1cqgrdNsk/FSGJiXN8CsZGLgJvpCBbT/pNpffFHyM4V"
    "4jVbRm4u/BLWhY6MVYabJyCyNjxrgcX0W56CS6d/nYpdbLZhyltQnTyO2SxdmRI601ueVz"
    "omBJOfDnhqNCkvXFohpMNHKoB21rCkGFx00VnHjh21f/GRVmOhcCazgrWggpusd+7VGxMN"
    "8w24A6Zfl0pednkuRJ59Kt7N1cGhHpom+smijKED5pNNcseoI3Q1aW/mm6DRb9jd/wdfXh"
    "t7KmVJFg6f++4fgH08/8IVfm7T25lw7pRLDpEA5ErKiHPrD2vD3wQHNsju29SO5qFCe6Z9"
    "5qOMyWWOR5Z/UKknt/xXG2CaSHdjUYwEpcDRGa810NMfMWi4Tq/vjxTeXCL4Xfs58fCL2L"
    "YI1xUHOvawmEBlNVmyW8t4q3wkfhp0QLpyG/fehcdAhXQUfyH7076zjsBugsdRx2E7mSjc"
    "MuYaKnCf+ZybXRiVPRUk/R1Zb6ApY6IDb2pA3youil2neBnSKt8V4Mby7g4a7qg0rR1Ugv"
    "gHSdi/F4wq/OxahzMbZ4q9e5GFufi3HIPG4PGyUekuBq6y4XCY373eUiKYf3Hi8XLToS/i"
    "n1rPeMw5Tb16WVf+Xfxiuv+3uaBl3663gHL1/ebeE1oVfp9/H0tUz0Cx6sCggH3bcQ3Wf7"
    "+wugC71K0dXXMgqaFH7h9+fKayoTJOt/5erjaGgrK6usEEBavWC7/T9j2mVE"
)
