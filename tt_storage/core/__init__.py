"""The data layer every other part stands on, in floors: each module imports only the ones below.

1. ``errors``, ``validate``, ``columns``, ``pool`` (pool options), ``app`` (labels, migration
   files), ``tls`` (a URL's TLS parameters as asyncpg arguments)
2. ``urls`` (schemes, redaction), ``embedded``, ``models``, ``db`` (which database a statement
   goes to, the pooled connection, error translation: given the database, never importing it)
3. ``sql`` (every statement), ``user_settings``, ``routing`` (the replica router)
4. ``cache`` (settings cache, LISTEN), ``replay`` (queued downloads written), ``migration_steps``
5. ``outbox`` (the queue and its flusher), ``aerich_patches``
6. ``config`` (the Tortoise config), then ``startup`` (waiting for the server) and ``lifecycle``
   (migrations applied, checks on opening)
7. ``database``: ``Database``, which composes them
"""
