"""Database URLs: the schemes accepted, and every secret hidden before a URL is shown."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

from . import validate
from .errors import StorageError

#: The environment variable tt-bot reads its database URL from.
DB_URL_ENV = "DB_URL"

_SCHEMES = {
    "postgresql": "asyncpg",
    "postgres": "asyncpg",
    "asyncpg": "asyncpg",
    "postgresql+asyncpg": "asyncpg",  # tt-bot's SQLAlchemy spelling
}


def normalize_db_url(db_url: str) -> str:
    """``db_url`` with an ``asyncpg://`` scheme; ``StorageError`` for non-PostgreSQL URLs,
    ``TypeError`` for a non-``str``."""
    validate.url(db_url, "db_url")
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


def endpoint(db_url: str) -> str:
    """Where ``db_url`` connects, fit to show: ``host:port``, or the Unix socket's path."""
    try:
        parts = urlsplit(db_url.strip())
        query = dict(parse_qsl(parts.query))
        host = parts.hostname or query.get("host") or "localhost"
        port = parts.port or query.get("port") or 5432
    except ValueError:
        return "an address the URL does not make clear"
    return endpoint_of(host, port)


def endpoint_of(host: str | None, port: object) -> str:
    """``host:port``, or the path of the Unix socket when ``host`` is a directory."""
    host = host or "localhost"
    if host.startswith("/"):
        return f"the Unix socket {host.rstrip('/')}/.s.PGSQL.{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


#: Connection parameters that are secrets, or say where one is kept: libpq's and asyncpg's
#: ``password``, ``passfile``, ``sslpassword``, ``sslkey``, and anything named like a secret.
_SECRET_NAME = re.compile(r"pass|secret|token|sslkey|credential", re.IGNORECASE)
#: ``key=value`` in a libpq keyword/value string; a value may be single-quoted.
_KEYWORD = re.compile(r"([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)")
_HIDDEN = "***"


def secret_param(name: str) -> bool:
    """Whether a connection parameter called ``name`` holds a secret (or says where one is)."""
    return bool(_SECRET_NAME.search(unquote_plus(name)))


def _redact_query(query: str) -> str:
    # Name by name, as the drivers read them (percent-decoded): `pass%77ord=` is a password.
    pairs = []
    for pair in query.split("&"):
        name, eq, _ = pair.partition("=")
        pairs.append(f"{name}={_HIDDEN}" if eq and secret_param(name) else pair)
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
                lambda m: m[1] + m[2] + _HIDDEN if secret_param(m[1]) else m[0], db_url
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
