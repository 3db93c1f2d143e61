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
    "eJztXetz2rgW/1c0fFmYS3OzafpYdm9nSEq3uc2jk8fuTpuOEbYAT4zEWqaE6e3/fs+R/H"
    "4AJoRQ1p9iZB3p+HdknaecbzXPM6QnXDpge0fCO5pYA+bVWuRbjdMRg4v8Dk1So+Nx8jY2"
    "erTnpKiMnvCMXkTWk55LTZyjTx3JoMli0nTtsWcLrkmf+aQtMmbuM6AnknGLSEd4klC4Oj"
    "z4hYzpRDJJ+sIlJh2NqT3gcg9nsIQJU9h8gINdcEZggJ+kP4Q5ZNbEgVnlkLrMIr0ZYV+Z"
    "OwvHIFPh3jGXiD7xhtRD4hZcMcLZvUf6LmO3PORGMUM1K4T2PaCjirk6GwtzCHOagluyCX"
    "TwyPB81GkoHifc/nvCDE8AKkPmAqefv0CzzS12z2Twc3xn9G3mWAl5IJy2hYOoe4Y3G6v2"
    "I3twwr13qj+i0DNM4UxGPEkznnlDwUMimyuhDBhnLvWYFZMKnziOL82gSXMNDZ47YSG7Vt"
    "RgsT6dOChbpNZcRG01wzi/uDauOteGUcvIPaCISc9vAgxxzQCvUiExQBae/XJw8Pz5q4P9"
    "5y9fvzh89erF6/3X0Ffxm7316rtmJoJMD6WAO/n95PwaGYJFZ+rliw3fFQ31qKZSUonEgM"
    "vBoF5WDu8cQQvEEKNJyaGPRKtIImiIRBG9VQHu+48kiDmYvr24OTrtkI+XneOTq5OLc5xl"
    "NJN/O9FNbIIG21MAXHbapwrxCGH1VlnGhHu2UwrmNGGFdS7WuMP072KLGxt61LybUtcyMn"
    "fEgSjqm701OhilWyiHHd3yHxAfJ6ZYjv3Nt0jxhPfL6J1QK5RXOz1XUMuk0otUC6lTa2Tz"
    "vbChkVU27RxCUu92Y0+SGqTbbbTIFPWMJ5SGauLFdChGTTIUU+BVenu3/JZ3u9KDpdrttk"
    "IdZpFnb4g74RxmJ3VUUS4z7bHNOGpJl5G+DauUwAoSxBxO+J1EPcYbSGYJzn695fpNaQKz"
    "3GQODokKrU9tvATGmesKt9slks4kcDVrEMGVMpzS2R7p3AOgzgzamFaXjJhiPAP9KCauyX"
    "CAvitGhgnPB+oHxvkX6XZHTEoUDzY01HzwbPDkDCeqU3iIgS1BkwIHJtUvI2hvXBQPVp1l"
    "1eayKtPXfpXGnKsxt8FwWWYL3xFBxEwV/JuB/RgM4AIzxe+fghwe5EeEfETvDYfxgTeEnz"
    "/v78+B84/25fH79mUdejWSoJ77tw70vSS+8U2u3PJOU660yP2dZGsAf5I1HmmVchJI0lX4"
    "r4q/1uBldpmIYqV9ZttQf/xthk4ssO3MUlt5nGabt/Pa2LW/Ahekjrsh2Jq2NyS2Rd6Qfb"
    "A5XQKGIKkPXDEZgxErRI7tvcoAC2S4lAjnSDAtQIfywQQ2G5mV4H+vLs7zJZggSonQsk2P"
    "/I84YC9vzRtTu+DgEvhCGArJwLwHJ8OVe/gkYOLbMuYwSPYrOb85PW35UbjgafMCeesadn"
    "nPGqWivGnpe9OBdOtn7b/Sgj8+vThSMhLSG7hqFDXAUWoVoIRKhTMCgk2GMVaQ+5nWpBJj"
    "tn7gUwVn0S3EEG49HXHVgdYmCDKMK4NHmJX8OgfebARLueyldKKXL+ut2qtX1onr3k8BLT"
    "c/BjvP4otTVU7lygaf6TKEqDT8SbpKAKtb3LiOVxBAkq7yeFbFv29zWw5XEECKsJLAqhLw"
    "hEdzMkPzsA9JNrfxPFZG6GkwVxmBLObX7L4A8ZBgF7z8OfBdd/66nu8rhNbj6cX570H3tA"
    "OxlWm5Y8we1Rbk5nSn5goJOkNnp8qn6WiYZftJxpJfTeUJOoxKzCHh2NDTFdOsa3EzxnRb"
    "t3v8/ub8g3F18qkDnmQsiwbeZDRH00+oTYeME9sjSpHCZDbHQINwLeaqVF07KCFRHEgcQf"
    "FQ73b1DZjDE3eMo4ei+uhUNfgoTZUDlJopPy4soTvGiTEHCL6ljUBAkwByTJ4BtzC1JIya"
    "QyImnilGTEc/0D8KCJBJBOXm49v2dUdXtgC+Asg5m8pbjp0VL4iqxajlPwQAq7kH/9qjwD"
    "QR4GMphtQEfdvFZCeOB5AMgY6DS6aZYlZRwu5zzYxldNUEtS9VFm97NvziLJ4ZvOZJARTb"
    "+0H/XTL1D34+fHX4+vnLwxD6sGUe4jlelP+OZwFtuy6dFUEaEaVQXTIUuG2wLlyln7+ki4"
    "P8ja3ESoyT7Iz5t7aVqLf7MsGqiGIXTLtksOrl4RLBqpeHhcEqvJUK/keKvlT0N0W3xbVs"
    "tU685pXUYzWvfm3sdGhDBwoWwhB/aStpRGfKstD1Q8rWQBMja6ytf/gNR4MZz4kUFMdp/O"
    "7VVpXeqnqOMO9YjhVYXEYUUVRwZkon7IF+9OXxjJNUgGYig6p+sgScEUEFZibMfWePx6XQ"
    "jFFUcKbhxMLfHPdZCLAzeD6eAUkKzB7QPBaaYcuGfY2Li9NEDO/oJB2kuzk76lzWf24ktX"
    "2OYxfEtspGK1KEu+Q1byBykQmeZiWSY30Ll8GND0z72yfAO82vmSo4kvCDieN7sOaC1lro"
    "jbl0Gkbc0ksRcLCYw/SKP25fHbffdmrfnzA6PaTemTJE9PPnR6cTnZplotMYZRkFpCtEp1"
    "VQVMA6sy3SYwAmniGc4i9diIbnMORkzFz1C5wYjwR2lQHXySOEjV/J1IXdRh949EcdCIwU"
    "60HzTqPoafQxRs0Ajc2IAWl/QvWw+ixKNEm3q6fpdv2J9CnI6S3H3nvkLS4GPHvit+sH1k"
    "tEHTUh4MG4s4ce2tBMlNtEI5rqvOOa4r6xpVlOFinCSqGtfo5Dvejl0I9oKuDXZUkApmsy"
    "Im6wgvUHFMOyFkS0+rbNeHh3dXapkpRFhkPUoYzR0Jej5QwFagvYFkcEpiGq6lMlc3H3xa"
    "Qzpmqv9JCwoEg9xhfMsPfRLzH2u+TUzK53eJXV5oSNxt6MjKkLxgkXelzMYX/7DiYCjt0g"
    "Q+pr/vux7c7g3jObY72TN+t2dUk2GYGjKcktrI2vzL3lqieTt7U9Etpp5JVOTvcmtmPpAX"
    "FWmzo4MPSWOqUNa9+vAp7AtUVMdGLBsHEZteQtr7tiGlSL68pgxbs/YxMLhlXam2LwWHPc"
    "aAZRZDISsGDxZCwmtC1mOtRlD7Vl7tgsu3P8QV2zMMniU6ynHvgxzBg8otlCy6+F5fgtb4"
    "jgtxzG672JtDnICrcJzlSsHjaDRiu/vQXDgjU5yyzlRxh/+YiAn9BZYBsV1HnPFezDSr23"
    "LHm2JIKxMBRAmQWs+BRM0P9BB2BW0qK13/oTrhaR2o5gCck9nPZNbfNYPsp5FLUQDX9TzL"
    "Xu30IHzx6xOQs5RZ8Wkz/AXnCxUyv8+uSsc3XdPvuYEA3WWeGdg2Sq0G+tv0yJKxyE/Hly"
    "/Z7gT/Lp4ryTlmDY7/pTDXmiE08YXEwNasUxCZqDpszL9wCB55BX8t42eW9RFekZ6GOzyM"
    "zWNxea2KOw20LLGr/4pbqTOp5+FQT73zWIJabcETQnULYUxWKr71stAqWGxorv+gTD6BAI"
    "EkVGbIhgVNx4byheDDVC8PIEb1ZNUQN/6od6q2OTrjjTgkkKrVloLBuOCEmqcsz1hOWSIi"
    "8liwxpdRJl1cjcV9tiovTLEKeqonMrgx/bapfHPkZUQb+uwCiCWkVGl4qMxtZfIjR6fkHa"
    "x9dYYfiEwVENfoHFFkpmvsU2CbsttNjaKnPYIsEnPBQpqQdf78DIpf/lDmz7TbU59l3ORy"
    "IeNFJJCy/6Tt2SxpZixkiSLW3aOTYekVl2EtV7BYtuO7bSyqyrZVbJ8uLIkFZm3aqWBX42"
    "pmRYNyDZ3Ac8aoxnQ5F+24aiucF2UwYnO/dU2D8j+t23HWZgfinnzZ5XiZmge+pyzHxlvm"
    "VlmNQC+Calzl3ESZ6wfnj/wZvl2mqGFSLCwXhBOVWUIvyh0dyw6vFPrJTW/km6LVb9tT/x"
    "GH3wDa8plcRn/d93Nv7BE+ve0Ja6qjBTDKlKCaZD2BAx2w99gPesP/BIc2yP713sI8Yq94"
    "LYeWoV+WTvPlwyJyyPLfbIw0j9jnjk2QBezinssiD9gePsEkiPHWrQgBWEGkI054caIuEt"
    "lx1S/fGjoNKBK4nf2Z+fHFpEsMHckH7WjSSH/KnKzRI8W8lHsUfBJ05zpyF/vu9cdogt/Y"
    "7kP2p1VrmpLbBZqtzUNkolnZtawUVPEu7EF0lLe+rhjlPSU0/QVZ76Ep46IDZ2hQn6Iu+w"
    "7yKwE6QV3svhbXN4ucvGoBJ0FdJLIL0dSZV/jO6r8tM7n59uM9c2h7UCr9G/21zkNtKo3y"
    "K3sRjeNf83sn/KRwwfGJsu9jm+wmuZ+1m44u+YxUh2wshNfsns4MWLxVZvHXoVfstM3Utl"
    "BODFKoGw330H0X2Uf/QDM3q53worPh8TI9n8EZmncdjWdhjmSUvlv/8fJN9+ZQ=="
)
