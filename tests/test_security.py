"""Security: SQL is only ever parametrized, the database password never shows, the URL comes
from the environment only, and the embedded server is reachable by no one but its owner."""

from __future__ import annotations

import ast
import asyncio
import io
import json
import logging
import re
import secrets
import stat
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest

import tt_storage as tt
from tests.support.download_bot import DownloadBot
from tests.support.faults import OwnServer, own_server, rebound, unbound
from tt_storage.core import config, embedded, urls
from tt_storage.core.pool import PoolOptions
from tt_storage.core.urls import redact_url
from tt_storage.ops import cli
from tt_storage.testing import updates as events

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "tt_storage").rglob("*.py"), *(ROOT / "migrations").rglob("*.py")])

# --- SQL is parametrized --------------------------------------------------------------------------
#
# A statement's values travel as $n parameters; its text is never built from values. What the
# scanner flags: an f-string, a %-format, a .format() call or a + concatenation whose text looks
# like SQL and that takes in anything not known at import time (a function argument, a call's
# result, a variable). Allowed: text built only from constants -- which is how sql.py (and the
# index migration) assemble statements: literals joined with the module's own constant
# fragments, or with names looping over a literal tuple of column names. Those are fixed when
# the module is imported and cannot carry a value.

# A statement's opening verb (upper case, as all SQL here is written)...
_VERB = re.compile(
    r"^\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|DROP|ALTER|TRUNCATE|COPY|GRANT|"
    r"REVOKE|COMMENT|SET|SHOW|LISTEN|NOTIFY|BEGIN|VACUUM|ANALYZE|EXPLAIN)\b"
)
# ...or a clause's shape anywhere, in any case ("... WHERE id = %s", "select x from t").
_CLAUSE = re.compile(
    r"\bselect\b.+\bfrom\b|\binsert\s+into\b|\bdelete\s+from\b|\bupdate\s+\S+\s+set\b"
    r"|\bwhere\s+\S+\s*(=|<|>|!=|\bin\b|\blike\b|\bis\b)|\bvalues\s*\(|\bfrom\s+\S+\s+where\b"
    r"|\border\s+by\b|\bgroup\s+by\b|\blimit\s+(\d|\{|%)",
    re.IGNORECASE | re.DOTALL,
)


def looks_like_sql(text: str) -> bool:
    return bool(_VERB.search(text) or _CLAUSE.search(text))


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    how: str
    text: str


class _Scanner(ast.NodeVisitor):
    def __init__(self, tree: ast.Module, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        # Module-level names (what "constant" may refer to) and every simple assignment in the
        # file (what a formatted name's text was).
        self.module: dict[str, ast.expr] = {}
        self.anywhere: dict[str, ast.expr] = {}
        for stmt in tree.body:
            self._collect(stmt, self.module)
        for node in ast.walk(tree):
            self._collect(node, self.anywhere)
        self._resolving: set[str] = set()
        # Functions the module declares as rendering its models' defaults as SQL literals
        # (``MODEL_LITERALS = ("_user_row", ...)``): their text is fixed by the models, so a
        # call of one with constant arguments is constant too.
        declared = self.module.get("MODEL_LITERALS")
        self.renderers = (
            {e.value for e in declared.elts if isinstance(e, ast.Constant)}
            if isinstance(declared, ast.Tuple)
            else set()
        )

    @staticmethod
    def _collect(node: ast.AST, into: dict[str, ast.expr]) -> None:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                into[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            if isinstance(node.target, ast.Name):
                into[node.target.id] = node.value

    # -- what is fixed at import time ---------------------------------------------------------

    def constant(self, node: ast.AST | None, bound: frozenset[str] = frozenset()) -> bool:
        if node is None or isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            if node.id in bound:
                return True
            value = self.module.get(node.id)
            if value is None or node.id in self._resolving:
                return False
            self._resolving.add(node.id)
            try:
                return self.constant(value)
            finally:
                self._resolving.discard(node.id)
        if isinstance(node, ast.BinOp):
            return self.constant(node.left, bound) and self.constant(node.right, bound)
        if isinstance(node, ast.JoinedStr):
            return all(self.constant(v, bound) for v in node.values)
        if isinstance(node, ast.FormattedValue):
            return self.constant(node.value, bound) and self.constant(node.format_spec, bound)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return all(self.constant(e, bound) for e in node.elts)
        if isinstance(node, ast.Subscript):
            return self.constant(node.value, bound) and self.constant(node.slice, bound)
        if isinstance(node, ast.IfExp):
            return all(self.constant(n, bound) for n in (node.test, node.body, node.orelse))
        if isinstance(node, ast.Call):
            # A str method on constant text, or a declared renderer of model defaults, with
            # constant arguments: ", ".join(...), .split(), _user_row(lang="$3").
            return (
                (
                    (isinstance(node.func, ast.Attribute) and self.constant(node.func.value, bound))
                    or (isinstance(node.func, ast.Name) and node.func.id in self.renderers)
                )
                and all(self.constant(a, bound) for a in node.args)
                and all(self.constant(k.value, bound) for k in node.keywords)
            )
        if isinstance(node, ast.GeneratorExp | ast.ListComp | ast.SetComp):
            inner = bound
            for gen in node.generators:
                if not self.constant(gen.iter, inner):
                    return False
                inner = inner | {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
                if not all(self.constant(cond, inner) for cond in gen.ifs):
                    return False
            return self.constant(node.elt, inner)
        if isinstance(node, ast.DictComp):
            return False
        return False

    def comprehension_bound(self, node: ast.AST) -> frozenset[str]:
        """Names bound by the comprehensions around ``node`` over constant iterables."""
        return self._bound.get(id(node), frozenset())

    # -- what text an expression makes ------------------------------------------------------

    def text(self, node: ast.AST | None, depth: int = 0) -> str:
        if node is None or depth > 20:
            return ""
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else ""
        if isinstance(node, ast.JoinedStr):
            return "".join(
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                for v in node.values
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            return self.text(node.left, depth + 1) + self.text(node.right, depth + 1)
        if isinstance(node, ast.Name) and node.id in self.anywhere:
            return self.text(self.anywhere[node.id], depth + 1)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return self.text(node.func.value, depth + 1) + "".join(
                self.text(a, depth + 1) for a in node.args
            )
        return ""

    # -- the checks ------------------------------------------------------------------------------

    def scan(self, tree: ast.Module) -> list[Finding]:
        self._bound: dict[int, frozenset[str]] = {}
        self._bind(tree, frozenset())
        self.visit(tree)
        unique = {(f.line, f.how): f for f in self.findings}
        return sorted(unique.values(), key=lambda f: f.line)

    def _bind(self, node: ast.AST, bound: frozenset[str]) -> None:
        """Record, for every node, the comprehension targets over constants around it."""
        self._bound[id(node)] = bound
        if isinstance(node, ast.GeneratorExp | ast.ListComp | ast.SetComp | ast.DictComp):
            inner = bound
            for gen in node.generators:
                self._bind(gen.iter, inner)
                if self.constant(gen.iter, inner):
                    names = {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
                    inner = inner | names
                for cond in gen.ifs:
                    self._bind(cond, inner)
            for part in [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]:
                self._bind(part, inner)
            return
        for child in ast.iter_child_nodes(node):
            self._bind(child, bound)

    def _flag(self, node: ast.AST, how: str) -> None:
        line = getattr(node, "lineno", 0)
        self.findings.append(Finding(self.path, line, how, self.text(node)[:80]))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        bound = self.comprehension_bound(node)
        if looks_like_sql(self.text(node)) and not self.constant(node, bound):
            self._flag(node, "f-string")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        bound = self.comprehension_bound(node)
        if isinstance(node.op, ast.Mod) and looks_like_sql(self.text(node.left)):
            if not self.constant(node.right, bound):
                self._flag(node, "%-format")
        elif isinstance(node.op, ast.Add) and looks_like_sql(self.text(node)):
            if not self.constant(node, bound):
                self._flag(node, "concatenation")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        bound = self.comprehension_bound(node)
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("format", "format_map")
            and looks_like_sql(self.text(func.value))
            and not (
                all(self.constant(a, bound) for a in node.args)
                and all(self.constant(k.value, bound) for k in node.keywords)
            )
        ):
            self._flag(node, ".format()")
        self.generic_visit(node)


def formatted_sql(source: str, path: str = "<snippet>") -> list[Finding]:
    """SQL text built from something other than constants, in ``source``."""
    tree = ast.parse(source)
    return _Scanner(tree, path).scan(tree)


BAD = {
    "f-string": 'def f(uid):\n    return f"SELECT * FROM users WHERE user_id = {uid}"',
    "lowercase f-string": "def f(x):\n    q = f'select * from users where id = {x}'",
    "%-format": 'def f(uid):\n    return "SELECT * FROM users WHERE user_id = %s" % uid',
    "%-format dict": 'def f(x):\n    return "INSERT INTO t VALUES (%(x)s)" % {"x": x}',
    "%-format tuple": "def f(lang):\n    return \"UPDATE users SET lang = '%s'\" % (lang,)",
    ".format()": 'def f(uid):\n    return "SELECT * FROM users WHERE user_id = {}".format(uid)',
    "constant then .format()": (
        "Q = \"SELECT * FROM users WHERE lang = '{}'\"\ndef f(lang):\n    return Q.format(lang)"
    ),
    "local then .format()": (
        "def f(x):\n    q = 'DELETE FROM videos WHERE user_id = {x}'\n    return q.format(x=x)"
    ),
    "concatenation": 'def f(uid):\n    return "DELETE FROM users WHERE user_id = " + str(uid)',
    "concatenated table": 'def f(table):\n    return "SELECT count(*) FROM " + table',
    "in a call": "async def f(conn, name):\n    await conn.execute(f'DROP TABLE {name}')",
    "a model renderer given a value": (
        'MODEL_LITERALS = ("_row",)\n'
        "def f(uid):\n    return 'INSERT INTO users (a, b) SELECT ' + _row(a=uid) + ' FROM x'"
    ),
    "an undeclared renderer": ("S = 'INSERT INTO users (a, b) SELECT ' + _row(a='$1') + ' FROM x'"),
    "format in a comprehension": (
        "def f(ids):\n    return [f'SELECT * FROM users WHERE user_id = {i}' for i in ids]"
    ),
}
GOOD = {
    "sql.py style": (
        '_COLS = "user_id, lang"\n'
        'SELECT = "SELECT " + _COLS + " FROM users WHERE user_id = $1"\n'
        'UPSERT = "INSERT INTO users (" + _COLS + ") VALUES ($1, $2)"'
    ),
    "constant loop": (
        "_K = '(a IS NULL)'\n"
        "S = 'UPDATE t SET ' + ', '.join(f'{c} = CASE WHEN {_K} THEN 1 END' for c in ('x', 'y'))"
    ),
    "migration style": (
        "INDEXES = (('i1', 'CREATE INDEX i1 ON t (a)'),)\n"
        "DROP = {n: 'DROP INDEX IF EXISTS \"' + n + '\"' for n, _ in INDEXES}"
    ),
    "messages": (
        "def f(name, table, exc):\n"
        "    raise ValueError(f'{name} must be an int')\n"
        "    log.info('applied migrations: %s', exc)\n"
        "    return f'{table} is partitioned: CREATE INDEX CONCURRENTLY cannot build it'"
    ),
    "a declared model renderer": (
        'MODEL_LITERALS = ("_row",)\n'
        "S = 'INSERT INTO users (a, b) SELECT ' + _row(a='$1') + ' FROM x'"
    ),
    "parameters": (
        "async def f(conn, uid):\n"
        "    return await conn.fetchval('SELECT lang FROM users WHERE user_id = $1', uid)"
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_scanner_flags_sql_built_from_values(name: str) -> None:
    assert formatted_sql(BAD[name]), f"not flagged: {name}"


@pytest.mark.parametrize("name", sorted(GOOD))
def test_scanner_accepts_constant_sql_and_prose(name: str) -> None:
    assert formatted_sql(GOOD[name]) == []


def test_no_sql_is_built_from_values() -> None:
    assert len(SOURCES) > 10
    findings = [
        finding
        for path in SOURCES
        for finding in formatted_sql(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert findings == []


# --- the password never shows -------------------------------------------------------------------


class _Everything(logging.Handler):
    """Every record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text = io.StringIO()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.text.write(self.format(record) + "\n")
        self.text.write(repr(record.args) + "\n")


@pytest.fixture
def all_logs() -> Iterator[_Everything]:
    handler = _Everything()
    root = logging.getLogger()
    level = root.level
    loggers = [logging.getLogger(n) for n in ("tt_storage", "tortoise", "asyncpg", "aerich")]
    levels = [lg.level for lg in loggers]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for lg, old in zip(loggers, levels, strict=True):
            lg.setLevel(old)


def exception_text(exc: BaseException) -> str:
    """Everything an exception shows: messages, reprs and arguments of the whole chain."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@dataclass(frozen=True)
class PasswordRole:
    """A role that must log in with a password (SCRAM, checked by the server) and a database it
    owns on the own server. The password has every character a URL must encode."""

    role: str
    password: str
    database: str
    socket_dir: Path
    files: Path

    def url(self, spelling: str, password: str | None = None) -> str:
        """The role's URL with its password written as ``spelling`` (each way a driver here
        takes one)."""
        password = self.password if password is None else password
        encoded = quote(password, safe="")
        where = f"/{self.database}?host={self.socket_dir}"
        if spelling == "userinfo":  # percent-encoded: a password with reserved characters
            return f"postgresql://{self.role}:{encoded}@{where}"
        if spelling == "query":
            return f"postgresql://{self.role}@{where}&password={encoded}"
        if spelling == "encoded query name":  # drivers decode names: this is `password=`
            return f"asyncpg://{self.role}@{where}&pass%77ord={encoded}"
        if spelling == "user and password in the query":
            return f"postgres://{where}&user={self.role}&password={encoded}"
        if spelling == "passfile":
            path = self.files / f"pgpass-{secrets.token_hex(4)}"
            path.write_text(f"*:*:*:{self.role}:{password}\n")
            path.chmod(0o600)
            return f"postgresql://{self.role}@{where}&passfile={path}"
        raise AssertionError(spelling)

    def keyword_value(self) -> str:
        """The libpq keyword/value spelling (which no driver here accepts)."""
        return (
            f"host={self.socket_dir} user={self.role} password={self.password} "
            f"dbname={self.database}"
        )

    def secrets(self) -> list[str]:
        """What must never show: the password, encoded, and a third of it (what Tortoise's
        DEBUG log leaves visible of a str password)."""
        return [
            self.password,
            quote(self.password, safe=""),
            self.password[: len(self.password) // 3],
        ]


SPELLINGS = (
    "userinfo",
    "query",
    "encoded query name",
    "user and password in the query",
    "passfile",
)


@pytest.fixture
async def password_role(own: OwnServer, tmp_path: Path) -> AsyncIterator[PasswordRole]:
    role = f"tt_secret_{secrets.token_hex(3)}"
    # No ":": asyncpg reads a passfile's escaped "\\:" into the password as is (libpq does not).
    password = "Pw-" + secrets.token_urlsafe(18) + "@/?#&=+%"
    database = f"secret_{secrets.token_hex(3)}"
    hba = own.pgdata / "pg_hba.conf"
    original = hba.read_text()
    admin = await own.connect()
    try:
        await admin.execute("SET password_encryption = 'scram-sha-256'")
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await admin.execute(f'CREATE DATABASE "{database}" OWNER {role}')
        hba.write_text(f"local all {role} scram-sha-256\n" + original)
        await admin.execute("SELECT pg_reload_conf()")
        yield PasswordRole(role, password, database, own.socket_dir, tmp_path)
    finally:
        hba.write_text(original)
        await admin.execute("SELECT pg_reload_conf()")
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


@pytest.fixture
def own() -> OwnServer:
    return own_server()


async def cli_output(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``tt-storage argv``, in-process: its exit status, and its stdout and stderr together."""
    out = io.StringIO()
    status = await cli.run(list(argv), out)
    return status, out.getvalue() + capsys.readouterr().err


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_password_never_in_logs_errors_or_reprs(
    db_url: str,
    password_role: PasswordRole,
    all_logs: _Everything,
    capsys: pytest.CaptureFixture[str],
    spelling: str,
) -> None:
    role = password_role
    url = role.url(spelling)
    # The password is really checked: a wrong one is refused.
    wrong = role.url(spelling, "not-" + role.password)
    with pytest.raises(tt.StorageError, match="password authentication failed") as refused:
        await tt.ops.apply_migrations(wrong)
    shown = [exception_text(refused.value)]
    # Every spelling connects: migrations, the adoption check, a session, writes and reads, as
    # that role, with DEBUG logs everywhere.
    assert len(await tt.ops.apply_migrations(url)) > 3
    assert await tt.ops.pending_migrations(url) == []
    progress: list[str] = []
    assert await tt.ops.adopt_database(url, progress=progress.append) == []
    async with rebound(url, max_size=2, connect_timeout=3):
        await tt.add_video(1, "https://t/x", False)
        assert await tt.get_user_settings(1) == ("en", False)
        bot = DownloadBot()
        try:
            await bot.feed(events.message(1, "hi"))
            # The LISTEN connection logs in with the pool's password (or passfile) too.
            async with asyncio.timeout(5):
                while not bot.middleware.cache.live:  # noqa: ASYNC110 - a plain attribute
                    await asyncio.sleep(0.02)
        finally:
            await bot.close()
        public = [
            repr(tt.ops.tortoise_config(url)),
            json.dumps(tt.ops.tortoise_config(url), default=repr),
            repr(config.migration_config(url)),
            repr(PoolOptions()),
            repr(tt.ops.outbox_stats()),
            *progress,
        ]
    # A wrong port, a wrong host, a wrong password at init; the CLI, which prints the URL
    # (redacted) and the errors.
    where = f"host={role.socket_dir}"
    printed: list[str] = []
    async with unbound():
        for bad in (
            url.replace(where, "host=127.0.0.1&port=1"),
            url.replace(where, "host=/nonexistent"),
            wrong,
        ):
            with pytest.raises(tt.StorageError) as failed:
                await tt.init_storage(bad, connect_timeout=2)
            shown.append(exception_text(failed.value))
        for command in (["doctor"], ["stats"], ["export", "users"], ["adopt"]):
            status, text = await cli_output(capsys, *command, "--url", url)
            assert status == 0, text
            printed.append(text)
            status, text = await cli_output(capsys, *command, "--url", wrong)
            assert status == 1, text
            printed.append(text)
    logs = all_logs.text.getvalue()
    # The redacted URL was logged (so logs were captured) and printed.
    assert f"tt-storage connected to {redact_url(url)} " in logs
    assert f"connection  ok      {redact_url(url)}: PostgreSQL" in printed[0]
    assert all("password authentication failed" in text for text in (shown[0], shown[3]))
    for text in [logs, *shown, *public, *printed, redact_url(url), redact_url(wrong)]:
        for secret in role.secrets():
            assert secret not in text
    if spelling == "passfile":  # where the password is kept is not shown either
        path = url.rpartition("passfile=")[2]
        assert all(path not in text for text in [logs, *shown, *printed, redact_url(url)])


async def test_a_keyword_value_string_is_refused_without_its_password(
    password_role: PasswordRole, all_logs: _Everything, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = password_role.keyword_value()
    shown = []
    async with unbound():
        for call in (
            tt.init_storage(dsn),
            tt.ops.apply_migrations(dsn),
            tt.ops.pending_migrations(dsn),
            tt.ops.adopt_database(dsn),
        ):
            with pytest.raises(tt.StorageError, match=r"keyword/value .* postgresql://") as refused:
                await call
            shown.append(exception_text(refused.value))
        status, printed = await cli_output(capsys, "doctor", "--url", dsn)
    assert status == 1
    assert redact_url(dsn) in printed
    assert "password=*** " in redact_url(dsn)
    for text in [all_logs.text.getvalue(), *shown, printed]:
        for secret in password_role.secrets():
            assert secret not in text


async def test_the_fsm_lock_pool_refuses_a_wrong_password_as_a_storage_error(
    password_role: PasswordRole, all_logs: _Everything
) -> None:
    from aiogram.fsm.storage.base import StorageKey

    from tt_storage.bot.isolation import AdvisoryLockIsolation

    wrong = password_role.url("userinfo", "not-" + password_role.password)
    isolation = AdvisoryLockIsolation(wrong, timeout=5)
    try:
        with pytest.raises(tt.StorageError, match="password authentication failed") as refused:
            async with isolation.lock(StorageKey(bot_id=1, chat_id=1, user_id=1)):
                pytest.fail("locked with a wrong password")
    finally:
        await isolation.close()
    for text in [all_logs.text.getvalue(), exception_text(refused.value)]:
        for secret in [*password_role.secrets(), "not-" + password_role.password]:
            assert secret not in text


async def test_bad_url_parameters_are_a_storage_error_showing_no_secret(
    all_logs: _Everything,
) -> None:
    """TLS parameters are read with libpq's meanings (tests/test_tls.py): a bad one fails at the
    call; so does a parameter asyncpg has no argument for (it used to reach
    ``asyncpg.connect()`` as a keyword, a raw ``TypeError``). Neither shows a secret."""
    secret = "Pw-" + secrets.token_urlsafe(12)
    shown = []
    cases = [
        (f"sslmode=require&sslkey=/keys/{secret}&sslpassword={secret}", "sslkey: no readable"),
        (f"sslmode=verify-full&sslpassword={secret}", "none is given: add sslrootcert"),
        (f"sslmode=requir&sslpassword={secret}", "not one of libpq's"),
        ("gssencmode=disable", "parameter.* gssencmode not supported"),
    ]
    for query, message in cases:
        url = f"postgresql://u@127.0.0.1:1/db?{query}"
        with pytest.raises(tt.StorageError, match=message):
            tt.ops.tortoise_config(url)
        with pytest.raises(tt.StorageError, match=message) as e:
            await tt.ops.apply_migrations(url)
        shown.append(exception_text(e.value))
    assert all(secret not in text for text in [*shown, all_logs.text.getvalue()])


REDACTED = {
    # Accepted spellings.
    "postgresql://u:pw@h:5432/db": "postgresql://u:***@h:5432/db",
    "postgresql://u:p%40w%2F@/db?host=/run/pg": "postgresql://u:***@/db?host=/run/pg",
    "postgresql://me@srv:pw@h/db": "postgresql://me@srv:***@h/db",
    "postgresql://u@h/db?sslmode=require&password=pw": "postgresql://u@h/db?sslmode=require&password=***",
    "asyncpg://u@h/db?pass%77ord=pw&x=1": "asyncpg://u@h/db?pass%77ord=***&x=1",
    "postgres:///db?user=u&password=pw": "postgres:///db?user=u&password=***",
    "postgresql://u@h/db?passfile=/p&sslpassword=pw&sslkey=/k&sslcert=/c": (
        "postgresql://u@h/db?passfile=***&sslpassword=***&sslkey=***&sslcert=/c"
    ),
    "postgresql://u@h/db?password=pw#frag": "postgresql://u@h/db?password=***",
    # Not URLs any driver here takes, shown hidden all the same.
    "host=/run/pg user=u password=pw dbname=db": "host=/run/pg user=u password=*** dbname=db",
    "host=h password = 'p w' dbname=db": "host=h password = *** dbname=db",
    "u:pw@h/db": "u:***@h/db",
    "postgresql://u:pw/x@h/db": "postgresql://u:***@h/db",
    "postgresql://u:12?x@h/db": "postgresql://u:***@h/db",
    "postgresql://u:p#w@h/db": "postgresql://u:***@h/db",
    # Nothing secret: unchanged.
    "postgresql://h:5432/db?user=me@srv": "postgresql://h:5432/db?user=me@srv",
    "postgresql://u@/db?host=/run/pg": "postgresql://u@/db?host=/run/pg",
}


@pytest.mark.parametrize("url", sorted(REDACTED))
def test_redact_url_hides_every_spelling(url: str) -> None:
    assert redact_url(url) == REDACTED[url]


def test_db_url_comes_from_the_environment_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DB_URL=postgresql://u:secret@host/db\n")
    assert urls.env_db_url() is None  # no .env file, no config file
    monkeypatch.setenv("DB_URL", "postgresql://u@h/db")
    assert urls.env_db_url() == "postgresql://u@h/db"
    # And that is the only place the package reads it: the name "DB_URL" occurs in code only
    # in urls.py (DB_URL_ENV, read by env_db_url); nothing loads .env or config files.
    users = []
    for path in SOURCES:
        source = path.read_text()
        assert "dotenv" not in source, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and node.value == "DB_URL":
                users.append(path.name)
    assert users == ["urls.py"]


async def test_init_storage_without_url_uses_db_url(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = tt.default_storage().options.as_dict()
    await tt.close_storage()
    monkeypatch.setenv("DB_URL", db_url)
    try:
        assert (await tt.init_storage()).url == db_url
    finally:
        await tt.close_storage()
        await tt.init_storage(db_url, **previous)


# --- the embedded server ------------------------------------------------------------------------


async def test_embedded_server_listens_on_a_unix_socket_only(own: OwnServer) -> None:
    lines = (own.pgdata / "postmaster.pid").read_text().splitlines()
    assert lines[5].strip() == ""  # listen_addresses: no TCP address at all
    assert Path(lines[4].strip()) == own.socket_dir
    admin = await own.connect()
    try:
        assert await admin.fetchval("SHOW listen_addresses") == ""
    finally:
        await admin.close()
    postmaster = psutil.Process(int(lines[0]))
    assert postmaster.net_connections(kind="inet") == []
    # What embedded_url() hands the library: the socket directory, no host name, no port.
    url = embedded.embedded_url(own.root)  # the same server: one per data directory
    assert url == f"asyncpg://postgres@/{embedded.EMBEDDED_DATABASE}?host={own.socket_dir}"


def test_embedded_data_directory_is_not_world_readable(own: OwnServer) -> None:
    pgdata = stat.S_IMODE(own.pgdata.stat().st_mode)
    root = stat.S_IMODE(own.root.stat().st_mode)
    assert pgdata & 0o077 == 0, oct(pgdata)  # PostgreSQL's own rule: 0700
    assert root & 0o044 == 0, oct(root)  # others may traverse it, never list or read it
