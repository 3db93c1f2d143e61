"""A database URL's TLS parameters, with libpq's meanings, as asyncpg arguments.

Tortoise casts ``?ssl=`` to a bool (``ssl=disable`` turned TLS on, with full verification) and
has no ``sslmode``. These parameters are taken out of the URL before Tortoise sees it, checked
here, and handed to asyncpg as a DSN of TLS parameters only, which asyncpg reads with libpq's
meanings (``disable`` never tries TLS; ``allow`` tries plain first; ``prefer`` TLS first, then
plain; ``require`` encrypts, and verifies the CA only given a root certificate; ``verify-ca``
checks the chain; ``verify-full`` the host name too). Every connection the library opens is
made from the same arguments: the pools (through ``TLSConnect``), the LISTEN connection,
FSM isolation's pool, migrations, adopt and the CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .errors import StorageError

#: libpq's ``sslmode`` values, weakest first.
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: URL parameters naming a file, as libpq spells them.
_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")
#: Every parameter read here; the rest of the query goes to Tortoise.
PARAMS = frozenset(
    {"ssl", "sslmode", "sslpassword", "sslnegotiation", *_FILES}
    | {"ssl_min_protocol_version", "ssl_max_protocol_version"}
)
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


@dataclass(frozen=True, slots=True, repr=False)
class TLS:
    """A URL's TLS settings. ``mode`` ``None``: libpq's default (``PGSSLMODE``, else
    ``prefer``); ``system``: ``ssl=true`` alone (TLS, certificate and host name checked against
    the system's CAs)."""

    mode: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    system: bool = False

    def __repr__(self) -> str:  # sslpassword is a secret, sslkey's path hidden like it
        shown = [(k, "***" if k in ("sslpassword", "sslkey") else v) for k, v in self.params]
        return f"TLS(mode={self.mode!r}, {dict(shown)})"

    @property
    def given(self) -> bool:
        return self.system or self.mode is not None or bool(self.params)

    def dsn(self) -> str:
        """A DSN holding only the TLS parameters (asyncpg's explicit arguments give the rest)."""
        query = ([("sslmode", self.mode)] if self.mode else []) + list(self.params)
        return "postgresql://?" + urlencode(query)

    def connect_args(self) -> dict[str, Any]:
        """Arguments for ``asyncpg.connect`` / ``asyncpg.create_pool``."""
        if self.system:
            return {"ssl": True}
        return {"dsn": self.dsn()} if self.given else {}

    def pool_args(self) -> dict[str, Any]:
        """Credentials for Tortoise's asyncpg client (which calls ``create_pool(None, ...)``)."""
        if self.system:
            return {"ssl": True}
        return {"connect": TLSConnect(self.dsn())} if self.given else {}


class TLSConnect:
    """asyncpg's pool ``connect=``: ``asyncpg.connect`` with the TLS DSN; prints no secret."""

    __slots__ = ("dsn",)

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def __call__(self, dsn: str | None = None, **kwargs: Any) -> Any:
        import asyncpg

        return await asyncpg.connect(self.dsn, **kwargs)

    def __repr__(self) -> str:
        return "<tt-storage TLS connect>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TLSConnect) and other.dsn == self.dsn

    def __hash__(self) -> int:
        return hash(self.dsn)


def split(query: str) -> tuple[str, TLS]:
    """``query`` without its TLS parameters, and those parameters, checked: ``StorageError``
    for a mode libpq does not have, a missing file, or a verifying mode with no CA."""
    rest: list[tuple[str, str]] = []
    found: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in PARAMS:
            found[name] = value  # the last one wins, as in libpq
        else:
            rest.append((name, value))
    mode, system = _mode(found.pop("sslmode", None), found.pop("ssl", None))
    for name in _FILES:
        if name in found:
            _check_file(name, found[name])
    if system and found:
        mode, system = "verify-full", False  # ssl=true with a CA or client certificate
    if mode in ("verify-ca", "verify-full") and "sslrootcert" not in found:
        _check_default_root(mode)
    return urlencode(rest), TLS(mode, tuple(found.items()), system)


def _mode(sslmode: str | None, ssl: str | None) -> tuple[str | None, bool]:
    if sslmode is not None and sslmode not in SSLMODES:
        raise StorageError(
            f"sslmode={sslmode!r} is not one of libpq's: {', '.join(SSLMODES)} (README: TLS)"
        )
    if ssl is None:
        return sslmode, False
    value = ssl.lower()
    if value in _FALSE:
        from_ssl: str | None = "disable"
    elif value in _TRUE:
        from_ssl = None
    elif value in SSLMODES:
        from_ssl = value
    else:
        raise StorageError(
            f"ssl={ssl!r}: write ssl=true, ssl=false or sslmode=<{'|'.join(SSLMODES)}>"
        )
    if sslmode is not None and from_ssl is not None and sslmode != from_ssl:
        raise StorageError(f"ssl={ssl!r} and sslmode={sslmode!r} disagree: give one of them")
    if from_ssl is None and sslmode is None:
        return None, True
    return sslmode or from_ssl, False


def _check_file(name: str, path: str) -> None:
    if not os.access(path, os.R_OK) or not Path(path).is_file():
        shown = "its path hidden" if name == "sslkey" else repr(path)
        raise StorageError(f"{name}: no readable file ({shown}); fix the URL's {name}= parameter")


def _check_default_root(mode: str) -> None:
    # Where libpq (and asyncpg) look when the URL names no CA.
    env = os.environ.get("PGSSLROOTCERT")
    default = Path("~/.postgresql/root.crt").expanduser()
    if env and os.access(env, os.R_OK):
        return
    if not env and default.is_file() and os.access(default, os.R_OK):
        return
    raise StorageError(
        f"sslmode={mode} checks the server's certificate against a CA, and none is given: add "
        "sslrootcert=/path/to/ca.crt to the URL (or set PGSSLROOTCERT, or put it at "
        "~/.postgresql/root.crt); sslmode=require encrypts without checking"
    )


def describe(exc: BaseException) -> str | None:
    """What a TLS failure while connecting means, or ``None`` if ``exc`` is not one."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return (
                f"the server's TLS certificate was not accepted ({seen.verify_message}): "
                "sslrootcert= must name the CA that signed it, and for sslmode=verify-full the "
                "URL's host must be one the certificate names"
            )
        if isinstance(seen, ssl.SSLError):
            return f"TLS failed ({seen.reason or type(seen).__name__})"
        text = str(seen)
        if "rejected SSL upgrade" in text or "does not support SSL" in text:
            return "the server does not offer TLS, and the URL's sslmode requires it"
        seen = seen.__cause__ or seen.__context__
    return None
