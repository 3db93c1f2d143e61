"""The Tortoise configuration: tt-storage's app beside an application's own, pooled connections
whose secrets never print, and the configuration migrations run with (``TORTOISE_ORM`` for
aerich)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import ConfigurationError

from . import embedded, tls
from .aerich_patches import teach_aerich
from .app import APP, CONNECTION, MODELS, REPLICA
from .errors import StorageError
from .pool import PoolOptions
from .urls import Secret, env_db_url, normalize_db_url, redact_url, secret_param

#: An application's own models: a list of modules (one Tortoise app, labelled ``"models"``) or
#: ``{label: [modules]}`` for several apps.
AppModels = Sequence[str] | Mapping[str, Sequence[str]]

#: The label an application's models get when given as a plain list (Tortoise's default).
USER_APP = "models"


def user_apps(models: AppModels | None, *, check_imports: bool = False) -> dict[str, list[str]]:
    """``models`` as ``{label: [modules]}``, checked: ``ValueError`` for a clash with tt-storage,
    and with ``check_imports`` for a module that cannot be found (found, not imported: its
    parent packages are imported, the module itself only when Tortoise starts)."""
    if models is None:
        return {}
    if isinstance(models, str):
        raise ValueError(f"models must be a list of modules, e.g. models=[{models!r}]")
    given = dict(models) if isinstance(models, Mapping) else {USER_APP: models}
    apps: dict[str, list[str]] = {}
    for label, modules in given.items():
        if label == APP:
            raise ValueError(f"the app label {APP!r} is tt-storage's own: choose another")
        if isinstance(modules, str) or not all(isinstance(m, str) for m in modules):
            raise ValueError(f"app {label!r}: models must be a list of module names")
        apps[label] = list(modules)
        for module in modules:
            if module in (MODELS, "aerich.models"):
                raise ValueError(f"{module} is already in tt-storage's app {APP!r}: leave it out")
            if check_imports:
                _check_importable(label, module)
    return {label: modules for label, modules in apps.items() if modules}


def _check_importable(label: str, module: str) -> None:
    import importlib.util

    hint = "check the name, and that its package is installed or on sys.path"
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError as exc:
        raise ValueError(f"app {label!r}: no models module {module!r} ({exc}): {hint}") from exc
    except (ImportError, ValueError) as exc:  # a parent package failed to import
        raise ValueError(f"app {label!r}: cannot import models module {module!r}: {exc}") from exc
    if found is None:
        raise ValueError(f"app {label!r}: no models module {module!r}: {hint}")


#: URL parameters Tortoise's asyncpg client takes itself; the rest go to ``asyncpg.connect``.
_CLIENT_PARAMS = frozenset(
    {"user", "password", "database", "host", "port", "minsize", "maxsize", "schema"}
    | {"application_name", "server_settings", "connection_name", "fetch_inserted"}
)


@cache
def _accepted_params() -> frozenset[str]:
    passed_on = set(inspect.signature(asyncpg.connect).parameters)
    passed_on |= set(inspect.signature(asyncpg.create_pool).parameters)
    return _CLIENT_PARAMS | (passed_on - {"dsn", "loop", "connection_class", "args", "kwargs"})


def _expand(url: str) -> tuple[dict[str, Any], tls.TLS]:
    """Tortoise's connection dict for ``url`` without its TLS parameters, and those (see
    ``tls``); ``StorageError`` for what asyncpg would reject."""
    try:
        parts = urlsplit(normalize_db_url(url))
        query, settings = tls.split(parts.query)
        connection: dict[str, Any] = expand_db_url(urlunsplit(parts._replace(query=query)))
    except (ConfigurationError, ValueError) as exc:
        raise StorageError(f"bad database URL {redact_url(url)}: {exc}") from exc
    unknown = sorted(set(connection["credentials"]) - _accepted_params())
    if unknown:
        # asyncpg reads these only from a DSN, which Tortoise does not give it.
        raise StorageError(
            f"database URL parameter(s) {', '.join(unknown)} not supported: the URL's "
            "parameters become asyncpg.connect() arguments, and it has no such argument "
            "(it reads those only from its own DSN strings); remove them"
        )
    return connection, settings


def _pooled_connection(url: str, pool: PoolOptions) -> dict[str, Any]:
    connection, settings = _expand(url)
    credentials = connection["credentials"]
    credentials.update(settings.pool_args())
    for key, value in credentials.items():
        # The password (from the user info or the query) and a passfile= path.
        if isinstance(value, str) and value and secret_param(key):
            credentials[key] = Secret(value)
    connection["credentials"].update(
        minsize=pool.min_size,
        maxsize=pool.max_size,
        timeout=pool.connect_timeout,
        command_timeout=pool.command_timeout,
        statement_cache_size=pool.statement_cache_size,
        max_inactive_connection_lifetime=pool.max_inactive_connection_lifetime,
    )
    if not pool.reset_sessions:
        credentials["reset"] = _keep_session
    return connection


async def _keep_session(_connection: Any) -> None:
    """asyncpg's pool ``reset`` hook that skips the reset query (asyncpg itself still rolls
    back a transaction left open): it would double every statement's round trips."""


def tortoise_config(
    db_url: str | None = None,
    replica_url: str | None = None,
    *,
    models: AppModels | None = None,
    **pool_options: Any,
) -> dict[str, Any]:
    """The Tortoise ORM config dict for ``db_url`` (default: ``DB_URL``), with ``aerich.models``.

    ``models``: the application's own model modules, on the same connection (one pool):
    ``["mybot.models"]`` (app label ``"models"``) or ``{"bot": ["mybot.models"]}``. tt-storage's
    models are the app ``"tt_storage"`` (a foreign key: ``"tt_storage.Users"``), listed first,
    so aerich without ``--app`` means tt-storage's migrations.

    With ``replica_url`` it also has a ``replica`` connection (same pool options), and the
    router sends ORM reads of the three models there (see ``tt_storage.core.routing``).
    """
    apps = user_apps(models)
    url = db_url or env_db_url()
    if url is None:
        # Only aerich's CLI gets here without a URL: give it the embedded server.
        url = embedded.embedded_url()
    pool = PoolOptions.from_kwargs(pool_options)
    connections = {CONNECTION: _pooled_connection(url, pool)}
    if replica_url:
        connections[REPLICA] = _pooled_connection(replica_url, pool)
    return {
        "connections": connections,
        "apps": {
            APP: {
                "models": [MODELS, "aerich.models"],
                "default_connection": CONNECTION,
            },
            **{
                label: {"models": modules, "default_connection": CONNECTION}
                for label, modules in apps.items()
            },
        },
        # Always listed: Tortoise's router registry is process-wide and reset by every init.
        "routers": ["tt_storage.core.routing.ReplicaRouter"],
        "use_tz": True,
        "timezone": "UTC",
    }


def connect_kwargs(db_url: str) -> dict[str, Any]:
    """``asyncpg.connect`` arguments for one connection (outside the pool) to ``db_url``."""
    connection, settings = _expand(db_url)
    credentials = connection["credentials"]
    keys = ("host", "port", "user", "password", "passfile", "database")
    found = {key: credentials[key] for key in keys if credentials.get(key) is not None}
    return found | settings.connect_args()


#: tt-storage's migrations as Tortoise's runner reads them (the ``tt_storage`` app's
#: ``"migrations"`` module): made from the aerich files.
TORTOISE_MIGRATIONS = "tt_storage.ops.tortoise_migrations"


def migration_config(
    db_url: str | None = None,
    *,
    models: AppModels | None = None,
    migrations: str | Mapping[str, str] | None = None,
    connect_timeout: float = PoolOptions().connect_timeout,
    command_timeout: float | None = None,
) -> dict[str, Any]:
    """The config migrations run with: a small pool, ``connect_timeout`` to open a connection
    and, by default, no statement time limit.

    ``CREATE INDEX CONCURRENTLY`` on an adopted tt-bot table (tens of millions of rows) runs for
    minutes; cut by ``command_timeout`` it would leave an INVALID index and a failed migration.

    This is what an application's ``[tool.aerich] tortoise_orm`` should name, with its own
    ``models`` (see the README, "Your own models"): building it also lets aerich find
    tt-storage's migrations inside the installed package, and apply them before the
    application's own (``teach_aerich``).

    ``migrations``: for Tortoise's own runner (``tortoise makemigrations`` / ``migrate``), the
    module of your app's migrations (``"mybot.migrations"``), or ``{label: module}`` per app;
    tt-storage's app then gets its migrations made from the aerich files
    (``tt_storage.ops.tortoise_migrations``).
    """
    teach_aerich()
    # Three: aerich's transaction, its non-transactional index builds, and the advisory lock.
    config = tortoise_config(db_url, models=models, max_size=3, connect_timeout=connect_timeout)
    credentials = config["connections"][CONNECTION]["credentials"]
    credentials["command_timeout"] = command_timeout
    # Named in pg_stat_activity, so a process waiting for the migration lock can say who holds it.
    credentials.setdefault("application_name", f"tt-storage migrations (pid {os.getpid()})")
    if migrations is not None:
        apps = config["apps"]
        given = {USER_APP: migrations} if isinstance(migrations, str) else dict(migrations)
        for label, module in given.items():
            if label not in apps or label == APP or not isinstance(module, str):
                yours = ", ".join(sorted(set(apps) - {APP})) or "none: pass models="
                raise ValueError(
                    f"migrations: {label!r} is not one of your apps ({yours}): give one "
                    "module (for the app 'models') or {label: 'pkg.migrations'}"
                )
            apps[label]["migrations"] = module
        apps[APP]["migrations"] = TORTOISE_MIGRATIONS
    return config


def __getattr__(name: str) -> Any:
    # Lazy, so importing this module never starts a server or reads the environment early.
    if name == "TORTOISE_ORM":
        return migration_config()
    raise AttributeError(name)
