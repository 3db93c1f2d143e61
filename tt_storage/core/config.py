"""Database URL handling and the Tortoise configuration (``TORTOISE_ORM`` for aerich)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import ConfigurationError

from .errors import StorageError

#: The environment variable tt-bot reads its database URL from.
DB_URL_ENV = "DB_URL"
#: Where the embedded PostgreSQL keeps its data when no URL is given.
DATA_DIR_ENV = "TT_STORAGE_DATA_DIR"
DEFAULT_DATA_DIR = "./.tt_storage"
#: The Tortoise app (and aerich app) holding the three models. Not Tortoise's default
#: ``"models"``, which is the label an application's own models usually get.
APP = "tt_storage"
#: The module of the three models, as the Tortoise config lists it.
MODELS = "tt_storage.core.models"
#: The label versions before 0.2 used: their aerich rows are relabelled on the next migration run.
LEGACY_APP = "models"
CONNECTION = "default"
#: The optional streaming replica's connection (``replica_url``): admin reads only.
REPLICA = "replica"

_SCHEMES = {
    "postgresql": "asyncpg",
    "postgres": "asyncpg",
    "asyncpg": "asyncpg",
    "postgresql+asyncpg": "asyncpg",  # tt-bot's SQLAlchemy spelling
}


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Connection pool and time limits. Every wait the library does is bounded by one of these."""

    min_size: int = 1
    max_size: int = 10
    #: Seconds to wait for a free pooled connection before raising ``StorageTimeout``.
    acquire_timeout: float = 10.0
    #: Seconds to open a new connection.
    connect_timeout: float = 10.0
    #: Seconds one statement may run.
    command_timeout: float = 60.0
    #: asyncpg's prepared-statement cache; 0 behind pgbouncer in transaction mode.
    statement_cache_size: int = 1024
    max_inactive_connection_lifetime: float = 300.0
    #: Run asyncpg's full session reset (RESET ALL, UNLISTEN *, CLOSE ALL, advisory unlocks)
    #: each time a connection goes back to the pool: one more round trip per statement. Off,
    #: an open transaction is still rolled back; tt-storage leaves no other session state, so
    #: turn it on only if your own code SETs session variables on these connections.
    reset_sessions: bool = False

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> PoolOptions:
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown pool option(s): {', '.join(sorted(unknown))}")
        made = cls(**options)
        if made.min_size < 0 or made.max_size < 1 or made.min_size > made.max_size:
            raise ValueError("pool sizes need 0 <= min_size <= max_size and max_size >= 1")
        return made

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_db_url(db_url: str) -> str:
    """``db_url`` with an ``asyncpg://`` scheme; ``StorageError`` for non-PostgreSQL URLs."""
    parts = urlsplit(db_url.strip())
    engine = _SCHEMES.get(parts.scheme.lower())
    if engine is None and "://" not in db_url and "=" in db_url:
        raise StorageError(
            "a libpq keyword/value string (host=… dbname=…) is not a database URL: write it as "
            "postgresql://user:password@host:port/dbname (percent-encode reserved characters)"
        )
    if engine is None:
        raise StorageError(
            f"unsupported database URL scheme {parts.scheme!r}: tt-storage needs PostgreSQL "
            "(postgresql://, postgres:// or asyncpg://)"
        )
    return urlunsplit((engine, *parts[1:]))


#: Connection parameters that are secrets, or say where one is kept: libpq's and asyncpg's
#: ``password``, ``passfile``, ``sslpassword``, ``sslkey``, and anything named like a secret.
_SECRET_NAME = re.compile(r"pass|secret|token|sslkey|credential", re.IGNORECASE)
#: ``key=value`` in a libpq keyword/value string; a value may be single-quoted.
_KEYWORD = re.compile(r"([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)")
_HIDDEN = "***"


def _secret_param(name: str) -> bool:
    return bool(_SECRET_NAME.search(unquote_plus(name)))


def _redact_query(query: str) -> str:
    # Name by name, as the drivers read them (percent-decoded): `pass%77ord=` is a password.
    pairs = []
    for pair in query.split("&"):
        name, eq, _ = pair.partition("=")
        pairs.append(f"{name}={_HIDDEN}" if eq and _secret_param(name) else pair)
    return "&".join(pairs)


def redact_url(db_url: str) -> str:
    """``db_url`` with every secret replaced by ``***``: the only form of a URL tt-storage shows
    (logs, error messages, the CLI).

    Hidden: the password of the user info (plain or percent-encoded), secret query parameters
    (``password``, ``passfile``, ``sslpassword``, ``sslkey``…, whatever the encoding of their
    names), and the same keys in a libpq keyword/value string (``host=… password=…``). A
    malformed URL is hidden rather than shown: anything up to an ``@`` that could end a user
    info.
    """
    scheme, sep, rest = db_url.partition("://")
    if not sep:
        if "=" in db_url:  # a libpq keyword/value string (no driver here accepts one)
            return _KEYWORD.sub(
                lambda m: m[1] + m[2] + _HIDDEN if _secret_param(m[1]) else m[0], db_url
            )
        head, at, tail = db_url.rpartition("@")
        return f"{head.split(':', 1)[0]}:{_HIDDEN}@{tail}" if at and ":" in head else db_url
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    authority = rest[: min(ends, default=len(rest))]
    userinfo_end = authority.rfind("@")
    if userinfo_end < 0 and ":" in authority and "@" in rest:
        # An unencoded "/", "?" or "#" in a password ends the authority early: hide from the
        # ":" to the "@" that could end the user info (over-hiding an odd URL is fine).
        before_query, _, query = rest.partition("?")
        port = authority.rpartition(":")[2]
        if "@" in before_query:
            userinfo_end = before_query.rfind("@")
        elif not (port.isdigit() and int(port) < 65536) or "=" not in query.partition("@")[0]:
            userinfo_end = rest.rfind("@")
    userinfo = ""
    if userinfo_end >= 0:
        user, colon, _ = rest[:userinfo_end].partition(":")
        userinfo = user + (f":{_HIDDEN}" if colon else "") + "@"
        rest = rest[userinfo_end + 1 :]
    path, question, query = rest.partition("?")
    if question:
        rest = f"{path}?{_redact_query(query)}"
    return f"{scheme}://{userinfo}{rest}"


def env_db_url() -> str | None:
    """The ``DB_URL`` environment variable, or ``None`` when it is unset or empty."""
    return os.environ.get(DB_URL_ENV) or None


def data_dir() -> Path:
    """The embedded server's data directory (``TT_STORAGE_DATA_DIR``, default ``./.tt_storage``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()


def migrations_location() -> Path:
    """aerich's migrations: inside the installed wheel, else the checkout's ``migrations/``."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_migrations"
    return packaged if packaged.is_dir() else package.parent / "migrations"


def packaged_migrations() -> list[str]:
    """tt-storage's migration files (aerich's ``version`` names), in order."""
    found = [
        p.name
        for p in (migrations_location() / APP).glob("*_*.py")
        if p.name.split("_", 1)[0].isdigit()
    ]
    return sorted(found, key=lambda name: int(name.split("_", 1)[0]))


#: An application's own models: a list of modules (one Tortoise app, labelled ``"models"``) or
#: ``{label: [modules]}`` for several apps.
AppModels = Sequence[str] | Mapping[str, Sequence[str]]

#: The label an application's models get when given as a plain list (Tortoise's default).
USER_APP = "models"


def user_apps(models: AppModels | None) -> dict[str, list[str]]:
    """``models`` as ``{label: [modules]}``, checked: ``ValueError`` for a clash with tt-storage."""
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
            if module in (MODELS, "tt_storage.models", "aerich.models"):
                raise ValueError(f"{module} is already in tt-storage's app {APP!r}: leave it out")
    return {label: modules for label, modules in apps.items() if modules}


class Secret:
    """A password that asyncpg asks for per connection, and that no ``repr`` shows.

    The config dict is public (aerich's ``TORTOISE_ORM``) and Tortoise logs it at DEBUG with a
    third of a string password left visible; this object prints as ``'***'`` everywhere.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self) -> str:
        return self._value

    def __fspath__(self) -> str:  # a secret's file (``passfile``) is passed as this too
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


#: URL parameters Tortoise's asyncpg client takes itself; the rest go to ``asyncpg.connect``.
_CLIENT_PARAMS = frozenset(
    {"user", "password", "database", "host", "port", "minsize", "maxsize", "schema"}
    | {"application_name", "server_settings", "connection_name", "fetch_inserted"}
)


@cache
def _accepted_params() -> frozenset[str]:
    import inspect

    import asyncpg

    passed_on = set(inspect.signature(asyncpg.connect).parameters)
    passed_on |= set(inspect.signature(asyncpg.create_pool).parameters)
    return _CLIENT_PARAMS | (passed_on - {"dsn", "loop", "connection_class", "args", "kwargs"})


def _expand(url: str) -> dict[str, Any]:
    """Tortoise's connection dict for ``url``; ``StorageError`` for what asyncpg would reject."""
    try:
        connection: dict[str, Any] = expand_db_url(normalize_db_url(url))
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
    return connection


def _pooled_connection(url: str, pool: PoolOptions) -> dict[str, Any]:
    connection = _expand(url)
    credentials = connection["credentials"]
    for key, value in credentials.items():
        # The password (from the user info or the query) and a passfile= path.
        if isinstance(value, str) and value and _secret_param(key):
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
        from .embedded import embedded_url

        url = embedded_url()
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
    credentials = _expand(db_url)["credentials"]
    keys = ("host", "port", "user", "password", "passfile", "database", "ssl")
    return {key: credentials[key] for key in keys if credentials.get(key) is not None}


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
    config["connections"][CONNECTION]["credentials"]["command_timeout"] = command_timeout
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


def teach_aerich() -> None:
    """Make aerich's CLI treat the ``tt_storage`` app as a dependency of the others.

    Installed by ``migration_config`` (what ``[tool.aerich] tortoise_orm`` names); nothing
    changes for an app unless tt-storage's models are in the same config:

    * **Where tt-storage's migrations are.** aerich reads an app's migrations from
      ``<location>/<app>`` of the project it runs in, a filesystem path; tt-storage's ship in
      the package (site-packages). Without a ``<location>/tt_storage`` of the project's own,
      aerich is pointed at the packaged ones: ``aerich upgrade`` needs no site-packages path.
    * **Old rows.** Before aerich looks at the ``tt_storage`` app's rows, those a pre-0.2
      version recorded under the label ``"models"`` are relabelled (idempotent).
    * **tt-storage first.** ``aerich --app <yours> init-db`` and ``upgrade`` first apply
      tt-storage's pending migrations (your tables have keys to ``users``), and the first
      migration ``init-db`` writes for your app leaves tt-storage's tables out (aerich
      would otherwise copy every model on the connection into it).
    * **Keys to tt-storage's models.** ``aerich --app <yours> migrate`` resolves them
      (``aerich_migrate``).
    """
    import aerich
    from aerich.migrate import Migrate

    from .aerich_migrate import teach_migrate

    if getattr(Migrate, "tt_storage_taught", False):
        return
    original_dir = Migrate.get_migration_dir
    original_init = Migrate.init.__func__  # type: ignore[attr-defined]
    original_do_init = aerich.Command._do_init
    original_upgrade = aerich.Command.upgrade
    original_schema_sql = aerich.get_schema_sql  # type: ignore[attr-defined]

    def get_migration_dir(location: str, app: str) -> Path:
        found: Path = original_dir(location, app)
        if app == APP and not found.exists():
            return migrations_location() / APP
        return found

    async def init(
        cls: type[Any], config: dict[str, Any], app: str, location: str, offline: bool = False
    ) -> None:
        if app == APP and not offline:
            await _relabel(config)
        await original_init(cls, config, app, location, offline)

    async def upgrade(self: Any, run_in_transaction: bool = True, fake: bool = False) -> list[str]:
        if self.app != APP and not fake and APP in self.tortoise_config.get("apps", {}):
            await _tt_storage_first(self.tortoise_config)
        applied: list[str] = await original_upgrade(self, run_in_transaction, fake)
        return applied

    async def do_init(
        self: Any, safe: bool, pre_sql: str | None = None, offline: bool = False
    ) -> bool:
        if not offline and self.app != APP and APP in self.tortoise_config.get("apps", {}):
            await _tt_storage_first(self.tortoise_config)
        done: bool = await original_do_init(self, safe, pre_sql, offline)
        return done

    def get_schema_sql(client: Any, safe: bool) -> str:
        schema: str = original_schema_sql(client, safe)
        if Migrate.app == APP:
            return schema
        # The first migration of another app: every model on the connection but tt-storage's.
        generator = client.schema_generator(client)
        for model in _tt_storage_models():
            if model._meta.db is client:
                part = generator._get_table_sql(model, safe)["table_creation_string"]
                schema = schema.replace(part + "\n", "", 1).replace(part, "", 1)
        return schema

    Migrate.get_migration_dir = staticmethod(get_migration_dir)  # type: ignore[method-assign]
    Migrate.init = classmethod(init)  # type: ignore[method-assign,assignment]
    aerich.Command._do_init = do_init  # type: ignore[method-assign]
    aerich.Command.upgrade = upgrade  # type: ignore[method-assign]
    aerich.get_schema_sql = get_schema_sql  # type: ignore[attr-defined]
    teach_migrate()
    Migrate.tt_storage_taught = True  # type: ignore[attr-defined]


def _tt_storage_models() -> list[type[Any]]:
    from tortoise import Tortoise

    apps = Tortoise.apps
    return [] if apps is None or APP not in apps else list(apps[APP].values())


async def _relabel(config: dict[str, Any]) -> None:
    from aerich._compat import is_tortoise_inited
    from aerich.utils import get_app_connection
    from tortoise import Tortoise

    from .lifecycle import relabel_migrations

    if not is_tortoise_inited():
        await Tortoise.init(config=config)
    async with get_app_connection(config, APP).acquire_connection() as conn:
        await relabel_migrations(conn)


async def _tt_storage_first(config: dict[str, Any]) -> None:
    """Apply tt-storage's pending migrations (in a Tortoise context of their own), leaving
    aerich's class-level state as the caller's command had it."""
    import sys
    from types import FunctionType

    from aerich.migrate import Migrate

    from .lifecycle import _in_fresh_context, _upgrade

    saved = {
        k: v
        for k, v in vars(Migrate).items()
        if not k.startswith("__")
        and not isinstance(v, (FunctionType, classmethod, staticmethod, property))
    }
    try:
        applied: list[str] = await _in_fresh_context(_upgrade, config)
    finally:
        for key in [k for k in vars(Migrate) if k not in saved and not k.startswith("__")]:
            if not isinstance(vars(Migrate)[key], (FunctionType, classmethod, staticmethod)):
                delattr(Migrate, key)
        for key, value in saved.items():
            setattr(Migrate, key, value)
    for name in applied:
        print(f"tt-storage: applied {name}", file=sys.stderr)


def __getattr__(name: str) -> Any:
    # Lazy, so importing this module never starts a server or reads the environment early.
    if name == "TORTOISE_ORM":
        return migration_config()
    raise AttributeError(name)
