"""One PostgreSQL database as tt-storage uses it: its Tortoise context, pools, options, outbox
and settings caches, opened by ``init`` and closed by ``close``.

Nothing here is process-wide: two instances on two databases work side by side. Which one a
statement goes to is ``current()``: the one bound in the task, else the default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, cast
from weakref import WeakSet

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.context import (  # _current_context: private, named in test_contract
    TortoiseContext,
    _current_context,
    get_current_context,
)
from tortoise.exceptions import ConfigurationError

from . import db, embedded, host_schema, lifecycle, startup, validate
from . import migration_steps as steps
from . import outbox as outbox_module
from .app import CONNECTION, REPLICA
from .config import AppModels, connect_kwargs, user_apps
from .config import tortoise_config as build_config
from .db import Invalidatable
from .errors import StorageError, StorageNotInitialized
from .outbox import Outbox, OutboxStats
from .pool import PoolOptions
from .replay import OutboxEvent
from .tls import TLSConnect
from .urls import env_db_url, redact_url

log = logging.getLogger("tt_storage")


#: The instances open now: with two or more and the default not among them, an unbound call has
#: no one database to go to (``Database.client``).
_open: WeakSet[Database] = WeakSet()


class ListenThroughPooler(asyncpg.InterfaceError):  # type: ignore[misc]
    """The LISTEN connection would go through pgbouncer, which never delivers notifications."""


class Database:
    """The connection-level state of one database; ``tt_storage.Storage`` adds the services."""

    def __init__(self) -> None:
        self.context: TortoiseContext | None = None
        self.url: str | None = None
        self.replica_url: str | None = None
        self.listen_url: str | None = None
        self.options = PoolOptions()
        self.outbox = Outbox(self)
        self._client: BaseDBAsyncClient | None = None
        self._replica: BaseDBAsyncClient | None = None
        self._caches: WeakSet[Invalidatable] = WeakSet()
        self._pooler_warned = False

    def __repr__(self) -> str:
        where = redact_url(self.url) if self.url else "not initialised"
        return f"<{type(self).__name__} {where}>"

    @property
    def initialized(self) -> bool:
        return self.context is not None

    # --- where statements go ----------------------------------------------------------------

    def client(self) -> BaseDBAsyncClient:
        """The pool's client. The default instance, while not open, uses the ``default``
        connection of the current Tortoise context: an application's that runs Tortoise
        itself, or the one ``Storage`` open (Tortoise's global fallback). With two or more open
        and none bound: ``StorageNotInitialized`` (which one is meant cannot be told)."""
        if self._client is not None:
            return self._client
        if self is not db.default():
            raise StorageNotInitialized(f"{self!r}: call its init() first")
        self._refuse_ambiguous()
        try:
            return get_connection(CONNECTION)
        except (ConfigurationError, RuntimeError, KeyError) as exc:
            raise StorageNotInitialized(
                "tt-storage has no database: call init_storage() (or setup_storage(dp)) first"
            ) from exc

    @staticmethod
    def _refuse_ambiguous() -> None:
        """``StorageNotInitialized`` if the current Tortoise context is one of two or more open
        instances': it is merely the first opened (the global fallback), not a choice."""
        if len(_open) < 2:
            return
        context = get_current_context()
        if context is not None and any(d.context is context for d in list(_open)):
            raise StorageNotInitialized(
                f"{len(_open)} Storages are open and the default one is not, and this call is "
                "bound to none: call a Storage's method (storage.get_user(...)), or run it "
                "inside `with storage.bound():` (or open the default with init_storage())"
            )

    def read_client(self) -> BaseDBAsyncClient:
        """Where reads that may lag go: the replica if one is configured, else the primary."""
        if self._replica is not None:
            return self._replica
        if self._client is None and self is db.default():  # an app running Tortoise itself
            self._refuse_ambiguous()
            try:
                return get_connection(REPLICA)
            except (ConfigurationError, RuntimeError, KeyError):
                pass
        return self.client()

    def connection(self, *, replica: bool = False) -> db.connection:
        """A pooled asyncpg connection of this database (``async with``); see ``db.connection``."""
        return db.connection(replica=replica, database=self)

    def bound(self) -> db.bound:
        """``with database.bound():`` within the block, this task's statements (the
        module-level functions', Tortoise's models') go to this database; so do those of tasks
        created inside it."""
        return db.bound(self)

    # --- settings caches --------------------------------------------------------------------

    def register(self, cache: Invalidatable) -> Callable[[], None]:
        """Have ``cache`` told of every settings write through this database; returns the
        function that stops it."""
        self._caches.add(cache)
        return lambda: self._caches.discard(cache)

    def caches_hold(self, chat_id: int) -> bool:
        """Whether one of this database's settings caches would serve ``chat_id`` now."""
        # Settings caches answer ``holds``; other registered parts hold no settings to serve.
        return any(getattr(c, "holds", _never)(chat_id) for c in list(self._caches))

    def invalidate(self, chat_id: int) -> None:
        """A chat's settings changed: drop them from this database's caches, at once.

        tt-storage's own writes and ``Users.save()``/``.delete()`` call it themselves. Call it
        after changing ``lang``, ``file_mode`` or ``blocked_at`` another way in this process
        (``Users.filter(...).update(...)``, raw SQL): otherwise the change reaches the cache
        only when its notification arrives (milliseconds later; see the README). ``ValueError``
        for a non-int id.
        """
        chat_id = validate.chat_id(chat_id, "chat_id")
        for cache in list(self._caches):
            cache.invalidate(chat_id)

    # --- opening and closing ----------------------------------------------------------------

    async def init(
        self,
        db_url: str | None = None,
        replica_url: str | None = None,
        *,
        listen_url: str | None = None,
        migrate: bool = False,
        models: AppModels | None = None,
        global_fallback: bool = True,
        outbox_size: int = outbox_module.DEFAULT_SIZE,
        outbox_retry_delay: float = outbox_module.DEFAULT_RETRY_DELAY,
        outbox_max_retry_delay: float = outbox_module.DEFAULT_MAX_RETRY_DELAY,
        outbox_close_timeout: float = outbox_module.DEFAULT_CLOSE_TIMEOUT,
        connect_wait: float | None = None,
        migration_lock_timeout: float = steps.DEFAULT_MIGRATION_LOCK_TIMEOUT,
        **pool_options: Any,
    ) -> Self:
        """Connect to PostgreSQL; return this instance. The options are ``init_storage``'s.

        Called again with the same URLs: nothing happens; with others: ``StorageError`` (close
        first). ``global_fallback`` applies only if no other Tortoise context is global yet.
        """
        urls = {"db_url": db_url, "replica_url": replica_url, "listen_url": listen_url}
        for name, value in urls.items():
            validate.url(value, name)
        options = PoolOptions.from_kwargs(pool_options)
        wait = startup.connect_wait(connect_wait)
        lock_timeout = startup.seconds(migration_lock_timeout, "migration_lock_timeout")
        user_apps(models, check_imports=True)  # fails here, before any server is started
        url = db_url or env_db_url()
        embedded = url is None
        if url is None:
            url, migrate = await _embedded_url(), True
        if self.context is not None:
            if (url, replica_url, listen_url) == (self.url, self.replica_url, self.listen_url):
                return self
            raise StorageError(f"{self!r} is already open: close it before opening another")
        self._pooler_warned = False
        self.outbox.configure(
            size=outbox_size,
            retry_delay=outbox_retry_delay,
            max_retry_delay=outbox_max_retry_delay,
            close_timeout=outbox_close_timeout,
        )
        config = build_config(url, replica_url, models=models, **options.as_dict())
        if wait and not embedded:
            await startup.wait_for_server(url, wait, options.connect_timeout)
        if migrate:
            # The limits given here; a statement limit only if one was given (index builds).
            await lifecycle.apply_migrations(
                url,
                connect_timeout=options.connect_timeout,
                command_timeout=pool_options.get("command_timeout"),
                migration_lock_timeout=lock_timeout,
            )
        context = await _new_context(config, global_fallback)
        host_apps = host_schema.declared(context.apps or {}, config["apps"]) if models else []
        probe = await self._attach(
            context, options, url, replica_url, check_schema=not migrate, host_apps=host_apps
        )
        self.url, self.replica_url, self.listen_url = url, replica_url, listen_url
        if self.outbox.enabled:
            self.outbox.start()
        lifecycle.log_connected(probe, url, replica_url, options)
        return self

    async def _attach(
        self,
        context: TortoiseContext,
        options: PoolOptions,
        url: str,
        replica_url: str | None,
        *,
        check_schema: bool,
        host_apps: list[host_schema.HostApp],
    ) -> lifecycle.Probe:
        """Take ``context``'s pools and open them (``lifecycle.probe``); on failure leave this
        instance closed and the context's pools too."""
        self._client = context.connections.get(CONNECTION)
        self._replica = context.connections.get(REPLICA) if replica_url else None
        self.options = options
        try:
            probe = await lifecycle.probe(
                self,
                url,
                replica=self._replica is not None,
                check_schema=check_schema,
                host_apps=host_apps,
            )
        except BaseException:
            self._client = self._replica = None
            self.options = PoolOptions()
            await context.close_connections()
            raise
        self.context = context
        _open.add(self)
        return probe

    async def close(self) -> list[OutboxEvent]:
        """Write the outbox, close the pools. Safe to call twice; ``init`` may follow. An
        embedded server stays up until the process exits.

        Returns the queued downloads that could not be written (also logged, one per line, at
        ERROR): empty unless the database was unreachable for all of ``outbox_close_timeout``.
        """
        lost = await self.outbox.close()
        _open.discard(self)
        context, self.context = self.context, None
        self.url = self.replica_url = self.listen_url = None
        self._client = self._replica = None
        self.options = PoolOptions()
        if context is not None:
            await context.close_connections()
            log.info("tt-storage closed")
        return lost

    async def __aenter__(self) -> Self:
        """``async with await Storage().init(url) as storage:`` closes it at the end."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- connections of their own ---------------------------------------------------------

    def direct_params(self, url: str | None = None) -> dict[str, Any]:
        """``asyncpg.connect`` parameters for a connection of its own, outside the pool:
        ``url``, else ``listen_url``, else the pool's own server and credentials."""
        url = url or self.listen_url or self.url
        if url is not None:
            return connect_kwargs(url)
        client: Any = self.client()  # an application's own Tortoise connection
        params = {
            "host": client.host,
            "port": client.port,
            "user": client.user,
            "password": client.password,
            "passfile": client.extra.get("passfile"),  # a URL's ?passfile=
            "database": client.database,
        }
        hook = client.extra.get("connect")
        if isinstance(hook, TLSConnect):  # the same TLS settings as the pool's
            params["dsn"] = hook.dsn
        elif client.extra.get("ssl") is not None:
            params["ssl"] = client.extra["ssl"]
        return params

    async def listen_connection(self) -> asyncpg.Connection:
        """A dedicated connection for the settings cache's LISTEN (outside the pool): to
        ``listen_url`` if given, else with the pool's own parameters. Never through a pooler:
        there LISTEN "succeeds" on some server connection and no notification ever arrives (a
        silently stale cache), so ``ListenThroughPooler`` keeps the cache off."""
        params = self.direct_params()
        # Bounded like the pool's: the connect, and each statement (the pooler check, LISTEN).
        conn = await asyncpg.connect(
            **params,
            timeout=self.options.connect_timeout,
            command_timeout=self.options.command_timeout,
        )
        try:
            pooled = await db.through_pooler(conn)
        except BaseException:
            conn.terminate()
            raise
        if pooled:
            conn.terminate()
            if not self._pooler_warned:
                self._pooler_warned = True
                log.warning(
                    "settings cache off: the database URL goes through a pooler (pgbouncer?), "
                    "which does not deliver LISTEN notifications; pass listen_url= with a direct "
                    "server URL to turn it on"
                )
            raise ListenThroughPooler("LISTEN through a connection pooler")
        return conn


def current() -> Database:
    """The database this task's statements go to (``db.current()``, typed: only a ``Database``
    is ever bound or made the default, by ``Database.bound`` and ``tt_storage``'s import)."""
    return cast(Database, db.current())


async def flush_outbox() -> int:
    """Write every queued download of the current database now; return how many were written.

    Raises ``StorageUnavailable`` if the database is still unreachable (the rest stays queued
    for the background flusher).
    """
    return await current().outbox.flush()


def outbox_stats() -> OutboxStats:
    """The current database's outbox counts: queued, flushed, duplicates, dropped, failed,
    abandoned, pending."""
    return current().outbox.stats()


async def _embedded_url() -> str:
    return await asyncio.to_thread(embedded.embedded_url)


async def _new_context(config: dict[str, Any], global_fallback: bool) -> TortoiseContext:
    """A Tortoise context of its own for ``config``, never the caller's current one (which
    ``Tortoise.init`` would re-initialise, closing its pools: e.g. another ``Database``'s).

    Current only while it initialises (Tortoise looks it up then): left current, it would
    outlive ``close`` in the caller's task. It is reached through the global fallback (if no
    context is global yet) or ``bound()``.
    """
    fallback = global_fallback and get_current_context() is None
    context = TortoiseContext()
    token = _current_context.set(context)
    try:
        await context.init(config=config, _enable_global_fallback=fallback)
    finally:
        _current_context.reset(token)
    return context


def _never(_chat_id: int) -> bool:
    return False
