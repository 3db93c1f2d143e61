"""The data layer every other part stands on, in floors: each module imports only the ones below.

1. ``errors``, ``validate``, ``columns``, ``pool`` (pool options), ``app`` (labels, migration files)
2. ``urls`` (schemes, redaction), ``embedded``, ``models``, ``db`` (which database a statement
   goes to, the pooled connection, error translation: given the database, never importing it)
3. ``sql`` (every statement), ``user_settings``, ``routing``
4. ``cache``, ``outbox``, ``migration_steps`` (aerich's steps)
5. ``aerich_patches``, then ``config`` (the Tortoise config), then ``lifecycle`` (migrations
   applied, the checks on opening)
6. ``database``: ``Database``, which composes them
"""
