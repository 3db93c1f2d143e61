"""A fake Telegram Bot API server on 127.0.0.1 for tests: a real ``aiogram.Bot`` talks to it
over HTTP through aiogram's own ``AiohttpSession``, and every answer goes through aiogram's
real ``check_response``.

::

    async with FakeTelegram() as telegram:
        bot = telegram.bot()                          # token 42:TEST, bot id 42
        telegram.block(7)                             # 403 "bot was blocked by the user"
        await dp.feed_update(bot, updates.message(5, "/start"))
        assert telegram.texts(5) == ["Welcome!"]
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import texts
from ._bots import BOT_ID, TOKEN, bot_id_of, bot_user
from ._chats import Chats
from ._faults import Fault
from ._files import ApiError, FileStore, StoredFile, unique_id
from ._log import Request, RequestLog, Upload
from ._media import Media, Part
from ._methods import METHODS, Call, State

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession

#: Parameters that are text even when they look like a number or JSON.
_TEXT_PARAMS = frozenset(
    "text caption query data callback_query_id inline_query_id inline_message_id title"
    " description performer message_text url file_id next_offset name short_description"
    " parse_mode emoji switch_pm_parameter start_parameter".split()
)
_INTEGER = re.compile(r"-?\d+")
_MAX_BODY = 64 * 1024 * 1024


def _decode(key: str, value: str) -> Any:
    """A form value as aiogram encoded it: JSON for objects, ``true``/``false``, integers."""
    if key in _TEXT_PARAMS:
        return value
    if value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return int(value) if _INTEGER.fullmatch(value) else value


async def _read(request: web.Request) -> tuple[dict[str, Any], dict[str, Part]]:
    params: dict[str, Any] = dict(request.query)
    parts: dict[str, Part] = {}
    if request.content_type == "application/json":
        params.update(await request.json())
        return params, parts
    for key, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            parts[key] = Part(value.file.read(), value.filename)
        else:
            params[key] = _decode(key, str(value))
    return params, parts


class FakeTelegram(RequestLog):
    """The fake server: its request log (``calls``, ``texts``, ``uploads``, ``per_second``),
    its faults (``fail`` and the shortcuts), its files (``revoke``) and its chats."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.faults: list[Fault] = []
        self.files = FileStore()
        self.chats = Chats()
        self._state = State(self.files, self.chats, set(), {})
        self._usernames: dict[int, str] = {}
        self._tokens: dict[int, str] = {}
        self._runner: web.AppRunner | None = None
        self._session: AiohttpSession | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:PORT``) for ``TelegramAPIServer.from_base``."""
        if self._runner is None:
            raise RuntimeError("the fake Telegram server is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._session is not None:
            # The session's own close() waits 250 ms for TLS connections: there are none here.
            client = await self._session.create_session()
            await client.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def session(self) -> AiohttpSession:
        """aiogram's real HTTP session pointed at this server (one, shared by its bots)."""
        if self._session is None:
            from aiogram.client.session.aiohttp import AiohttpSession
            from aiogram.client.telegram import TelegramAPIServer

            self._session = AiohttpSession(api=TelegramAPIServer.from_base(self.url))
        return self._session

    def bot(self, token: str = TOKEN, *, username: str | None = None, **options: Any) -> Bot:
        """A real ``Bot`` on this server; ``options`` go to ``Bot`` (``default=…``)."""
        from aiogram import Bot

        bot_id = bot_id_of(token)
        if bot_id is None:
            raise ValueError(f"not a bot token: {token!r}")
        self._tokens[bot_id] = token
        if username is not None:
            self._usernames[bot_id] = username
        return Bot(token, session=self.session(), **options)

    def reset(self) -> None:
        """Forget every request, fault, file and message (one server shared by many tests)."""
        self.clear()
        self.faults.clear()
        self.files.reset()
        self.chats.clear()
        self._state.answered_queries.clear()
        self._state.commands.clear()
        self._usernames.clear()

    # --- answering ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token, name = request.match_info["token"], request.match_info["method"]
        bot_id = bot_id_of(token)
        if bot_id is None:
            return web.json_response(ApiError(401, texts.UNAUTHORIZED).body(), status=401)
        params, parts = await _read(request)
        chat_id = params.get("chat_id")
        uploads = [
            Upload(key, part.filename, len(part.content), unique_id(part.content), part.content)
            for key, part in parts.items()
        ]
        record = Request(name, bot_id, chat_id, params, uploads, time.monotonic())
        self.requests.append(record)
        fault = next((f for f in self.faults if f.take(name, chat_id, bot_id)), None)
        if fault is not None:
            return await self._fail(request, record, fault)
        media = Media(self.files, bot_id, parts)
        status, body = self._answer(record, token, media)
        record.status, record.answer = status, body
        return web.json_response(body, status=status)

    def _answer(self, record: Request, token: str, media: Media) -> tuple[int, dict[str, Any]]:
        handler = METHODS.get(record.method.lower())
        if handler is None:
            return 404, ApiError(404, texts.METHOD_NOT_FOUND).body()
        user = bot_user(token, self._usernames.get(record.bot_id))
        call = Call(self._state, record.method.lower(), user, record.params, media)
        try:
            return 200, {"ok": True, "result": handler(call)}
        except ApiError as error:
            return error.status, error.body()

    async def _fail(self, request: web.Request, record: Request, fault: Fault) -> web.Response:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        record.status = fault.status
        if fault.raw is not None:
            return web.Response(status=fault.status, text=fault.raw, content_type="text/html")
        record.answer = fault.body()
        return web.json_response(record.answer, status=fault.status)

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rpartition("/")[2]
        bot_id = bot_id_of(request.match_info["token"])
        try:
            stored = self.files.resolve(bot_id or 0, file_id)
        except ApiError:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=stored.content)

    # --- faults -------------------------------------------------------------------------------

    def fail(
        self,
        method: str | None = None,
        *,
        chat_id: int | str | None = None,
        bot_id: int | None = None,
        status: int = 400,
        description: str = "Bad Request",
        times: int | None = 1,
        after: int = 0,
        drop: bool = False,
        delay: float = 0.0,
        raw: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> Fault:
        """Answer matching requests with an error (``retry_after``, ``migrate_to_chat_id``:
        its ``parameters``), ``times`` times after letting ``after`` through."""
        parameters = {
            key: value
            for key, value in (
                ("retry_after", retry_after),
                ("migrate_to_chat_id", migrate_to_chat_id),
            )
            if value is not None
        }
        fault = Fault(
            method, chat_id, bot_id, status, description, parameters, times, after, drop, delay, raw
        )
        self.faults.append(fault)
        return fault

    def flood(self, retry_after: int, method: str | None = None, **match: Any) -> Fault:
        """A 429 with ``parameters.retry_after``: aiogram raises ``TelegramRetryAfter``."""
        return self.fail(
            method,
            status=429,
            description=texts.retry_after(retry_after),
            retry_after=retry_after,
            **match,
        )

    def block(self, chat_id: int, **match: Any) -> Fault:
        """The user blocked the bot: every request to the chat is a 403 from now on."""
        return self.fail(
            chat_id=chat_id, status=403, description=texts.BLOCKED, times=None, **match
        )

    def deactivate(self, chat_id: int, **match: Any) -> Fault:
        """The user deleted the account: 403 ``user is deactivated``."""
        return self.fail(
            chat_id=chat_id, status=403, description=texts.DEACTIVATED, times=None, **match
        )

    def kick(self, chat_id: int, **match: Any) -> Fault:
        """The bot was removed from the group: 403 ``bot was kicked from the group chat``."""
        return self.fail(chat_id=chat_id, status=403, description=texts.KICKED, times=None, **match)

    def migrate(self, chat_id: int, to_chat_id: int, **match: Any) -> Fault:
        """The group became a supergroup: 400 with ``migrate_to_chat_id`` from now on."""
        return self.fail(
            chat_id=chat_id,
            status=400,
            description=texts.MIGRATED,
            times=None,
            migrate_to_chat_id=to_chat_id,
            **match,
        )

    def server_error(
        self, status: int = 502, description: str = texts.BAD_GATEWAY, **match: Any
    ) -> Fault:
        """A 5xx (``TelegramServerError``; a text with "restart": ``RestartingTelegram``)."""
        return self.fail(status=status, description=description, **match)

    def drop(self, method: str | None = None, **match: Any) -> Fault:
        """Close the connection without an answer: ``TelegramNetworkError``."""
        return self.fail(method, drop=True, **match)

    # --- files and chats ----------------------------------------------------------------------

    def file(self, file_id: str) -> StoredFile:
        """A minted file (its content, kind, owner bot, file_unique_id)."""
        return self.files.files[file_id]

    def revoke(self, file_id: str, reason: str = "wrong") -> None:
        """Every later use of ``file_id`` is a 400: ``"wrong"`` → ``texts.WRONG_FILE_ID``,
        ``"expired"`` → ``texts.FILE_REFERENCE_EXPIRED``."""
        self.files.revoke(file_id, reason)

    def remember(self, update: Any, *, bot_id: int = BOT_ID) -> Any:
        """Keep the messages of ``update`` (an aiogram ``Update`` or its JSON) in their chats,
        so the bot can copy, forward, edit or delete them; returns ``update``."""
        data = (
            update
            if isinstance(update, dict)
            else update.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        query = data.get("callback_query") or {}
        for message in (
            data.get("message"),
            data.get("edited_message"),
            data.get("channel_post"),
            query.get("message"),
        ):
            if isinstance(message, dict) and "chat" in message:
                self.chats.get(bot_id, message["chat"]["id"]).add(dict(message))
        return update

    def add_message(
        self, chat_id: int | str, *, bot_id: int = BOT_ID, **fields: Any
    ) -> dict[str, Any]:
        """A message the bot sent earlier (``message_id=`` to choose its id, ``text=``, …),
        so that the bot can edit, copy or delete it now; returns its JSON."""
        token = self._tokens.get(bot_id, TOKEN if bot_id == BOT_ID else f"{bot_id}:BOT")
        user = bot_user(token, self._usernames.get(bot_id))
        return self.chats.new_message(bot_id, chat_id, user, **fields)

    def messages(self, chat_id: int | str, *, bot_id: int = BOT_ID) -> dict[int, dict[str, Any]]:
        """The messages the server holds for ``chat_id``, by message id (JSON)."""
        return self.chats.get(bot_id, chat_id).messages
