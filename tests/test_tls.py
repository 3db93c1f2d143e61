"""TLS URL parameters with libpq's meanings, on a local server with a certificate of its own CA.

Every sslmode against: a TLS-only login (``postgres``), a plain-only one (``plain``), the right
CA, another CA, no CA, the certificate's host name and another; a client certificate with an
encrypted key. Then the library's own connections (pool, migrations, LISTEN, FSM isolation, the
CLI) through the same URL. Whether a connection is encrypted is read from ``pg_stat_ssl``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

import tt_storage
from tests.support.tls_server import PASSPHRASE, TLSServer, tls_pg_bin, tls_server
from tt_storage import StorageError
from tt_storage.core.config import connect_kwargs, tortoise_config
from tt_storage.core.urls import redact_url

BIN = tls_pg_bin()
pytestmark = pytest.mark.skipif(
    BIN is None or shutil.which("openssl") is None,
    reason="needs PostgreSQL binaries built with OpenSSL (the embedded wheel's are not; CI has "
    "Debian's postgresql-15) and the openssl CLI to make the certificates",
)

ENCRYPTED = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture(scope="module")
def server() -> Iterator[TLSServer]:
    assert BIN is not None
    with tls_server(BIN) as running:
        yield running


@pytest.fixture(scope="module")
async def roles(server: TLSServer) -> AsyncIterator[None]:
    conn = await server.admin()
    try:
        await conn.execute("CREATE ROLE plain LOGIN; CREATE ROLE certuser LOGIN")
        yield
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def no_libpq_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    # No ~/.postgresql/root.crt or PGSSL* of the machine's may decide a case.
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in list(os.environ):
        if name.startswith("PGSSL"):
            monkeypatch.delenv(name)


async def encrypted(url: str) -> bool:
    conn = await asyncpg.connect(**connect_kwargs(url), timeout=10)
    try:
        return bool(await conn.fetchval(ENCRYPTED))
    finally:
        await conn.close()


CA, OTHER = "{ca}", "{other}"

# (query, login, host) -> "tls", "plain", or the error: "refused" (the server's), "cert" (the
# server's certificate not accepted), "no-ca" (refused at the call: a verifying mode, no CA).
MATRIX = [
    ("sslmode=disable", "postgres", "localhost", "refused"),
    ("sslmode=disable", "plain", "localhost", "plain"),
    ("sslmode=allow", "postgres", "localhost", "tls"),
    ("sslmode=allow", "plain", "localhost", "plain"),
    ("sslmode=prefer", "postgres", "localhost", "tls"),
    ("sslmode=prefer", "plain", "localhost", "plain"),
    ("", "postgres", "127.0.0.1", "tls"),  # libpq's default: prefer
    ("sslmode=require", "postgres", "127.0.0.1", "tls"),
    ("sslmode=require", "plain", "localhost", "refused"),
    (f"sslmode=require&sslrootcert={CA}", "postgres", "127.0.0.1", "tls"),
    (f"sslmode=require&sslrootcert={OTHER}", "postgres", "localhost", "cert"),
    ("sslmode=verify-ca", "postgres", "localhost", "no-ca"),
    (f"sslmode=verify-ca&sslrootcert={CA}", "postgres", "127.0.0.1", "tls"),
    (f"sslmode=verify-ca&sslrootcert={OTHER}", "postgres", "localhost", "cert"),
    ("sslmode=verify-full", "postgres", "localhost", "no-ca"),
    (f"sslmode=verify-full&sslrootcert={CA}", "postgres", "localhost", "tls"),
    (f"sslmode=verify-full&sslrootcert={CA}", "postgres", "127.0.0.1", "cert"),
    (f"sslmode=verify-full&sslrootcert={OTHER}", "postgres", "localhost", "cert"),
    ("ssl=false", "postgres", "localhost", "refused"),
    ("ssl=false", "plain", "localhost", "plain"),
    ("ssl=disable", "postgres", "localhost", "refused"),
    ("ssl=require", "postgres", "localhost", "tls"),
    ("ssl=prefer", "plain", "localhost", "plain"),
    ("ssl=true", "postgres", "localhost", "cert"),  # the system's CAs do not know this one
    (f"ssl=true&sslrootcert={CA}", "postgres", "localhost", "tls"),
    (f"ssl=true&sslrootcert={CA}", "postgres", "127.0.0.1", "cert"),
]


@pytest.mark.parametrize(("query", "login", "host", "expected"), MATRIX)
async def test_sslmode_matrix(
    server: TLSServer, roles: None, query: str, login: str, host: str, expected: str
) -> None:
    query = query.format(ca=server.cert("ca.crt"), other=server.cert("other-ca.crt"))
    url = server.url(host, login, query)
    if expected == "no-ca":
        with pytest.raises(StorageError, match="none is given: add sslrootcert="):
            connect_kwargs(url)
        return
    if expected in ("tls", "plain"):
        assert await encrypted(url) is (expected == "tls")
        return
    with pytest.raises(Exception) as caught:
        await encrypted(url)
    if expected == "refused":
        assert isinstance(caught.value, asyncpg.InvalidAuthorizationSpecificationError)
    else:
        from tt_storage.core.tls import describe

        assert describe(caught.value) is not None, caught.value
        assert "certificate was not accepted" in str(describe(caught.value))


def client_cert_url(server: TLSServer, passphrase: str = PASSPHRASE) -> str:
    query = (
        f"sslmode=verify-full&sslrootcert={server.cert('ca.crt')}&sslcert={server.cert('client.crt')}"
        f"&sslkey={server.cert('client-enc.key')}&sslpassword={passphrase}"
    )
    return server.url("localhost", "certuser", query)


async def test_client_certificate_with_an_encrypted_key(
    server: TLSServer, roles: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = client_cert_url(server)
    assert await encrypted(url)
    assert PASSPHRASE not in redact_url(url)
    assert PASSPHRASE not in repr(tortoise_config(url))
    # The pool logs in with the certificate (then finds no schema: certuser cannot migrate).
    with pytest.raises(StorageError, match="has no tt-storage schema") as caught:
        await tt_storage.Storage().init(url)
    assert PASSPHRASE not in str(caught.value) + caplog.text
    # Without the client certificate the cert login is refused.
    plain_tls = server.url(
        "localhost", "certuser", f"sslmode=verify-full&sslrootcert={server.cert('ca.crt')}"
    )
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await encrypted(plain_tls)


async def test_a_wrong_key_passphrase_is_never_shown(server: TLSServer, roles: None) -> None:
    url = client_cert_url(server, "wrong-" + PASSPHRASE)
    with pytest.raises(StorageError) as caught:
        await tt_storage.Storage().init(url, connect_timeout=5)
    assert PASSPHRASE not in str(caught.value)
    assert "TLS" in str(caught.value)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sslmode=requir", "not one of libpq's"),
        ("ssl=maybe", "ssl=true, ssl=false"),
        ("ssl=false&sslmode=require", "disagree"),
        ("sslmode=require&sslrootcert=/nonexistent/ca.crt", "sslrootcert: no readable file"),
        ("sslmode=require&sslkey=/nonexistent/secret.key", "its path hidden"),
    ],
)
def test_bad_tls_parameters_fail_at_the_call(query: str, message: str) -> None:
    url = f"postgresql://postgres@localhost:1/postgres?{query}"
    for build in (connect_kwargs, tortoise_config):
        with pytest.raises(StorageError, match=message) as caught:
            build(url)
        assert "secret.key" not in str(caught.value)


async def test_every_library_connection_uses_tls(
    server: TLSServer, roles: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Migrations (aerich), the pool, the LISTEN connection and FSM isolation's pool, all
    through verify-full; the same URL with sslmode=disable is refused by the TLS-only login."""
    from tt_storage.bot.isolation import AdvisoryLockIsolation

    caplog.set_level(logging.DEBUG)
    query = f"sslmode=verify-full&sslrootcert={server.cert('ca.crt')}&application_name=tt-tls"
    url = server.url("localhost", "postgres", query)
    storage = await tt_storage.Storage().init(url, migrate=True, connect_timeout=10)
    try:
        async with storage.connection() as conn:
            assert await conn.fetchval(ENCRYPTED)
        listen = await storage.listen_connection()
        try:
            assert await listen.fetchval(ENCRYPTED)
        finally:
            await listen.close()
        isolation = AdvisoryLockIsolation(database=storage)
        try:
            pool = await isolation._get_pool()
            async with pool.acquire() as conn:
                assert await conn.fetchval(ENCRYPTED)
        finally:
            await isolation.close()
        admin = await server.admin()
        try:
            # Nothing the library opened went unencrypted (migrations' connections are closed,
            # but aerich's rows are there: they ran through TLS-only logins).
            plain = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                "WHERE a.client_addr IS NOT NULL AND NOT s.ssl"
            )
            assert plain == 0
            assert await admin.fetchval("SELECT count(*) FROM aerich") > 0
        finally:
            await admin.close()
    finally:
        await storage.close()
    with pytest.raises(StorageError, match="refused the login"):
        await tt_storage.Storage().init(server.url("localhost", "postgres", "sslmode=disable"))


def test_the_cli_uses_tls(server: TLSServer, capsys: pytest.CaptureFixture[str]) -> None:
    from tt_storage.ops.cli import main

    query = f"sslmode=verify-full&sslrootcert={server.cert('ca.crt')}"
    assert main(["--url", server.url("localhost", "postgres", query), "doctor"]) in (0, 1)
    out = capsys.readouterr()
    assert "cannot connect" not in out.out + out.err
    code = main(["--url", server.url("127.0.0.1", "postgres", query), "doctor"])
    out = capsys.readouterr()
    assert code != 0
    assert "certificate was not accepted" in out.out + out.err
