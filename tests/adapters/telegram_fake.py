"""A fake Telegram Bot API server on 127.0.0.1 that speaks the real protocol.

``POST /bot<token>/<method>`` with a form, multipart or JSON body answers
``{"ok": true, "result": …}`` (or ``{"ok": false, "error_code": …}``), files are
served under ``/file/bot<token>/<path>``. Every call is recorded. Updates are
queued with ``push`` and handed out by ``getUpdates`` with Telegram's offset
semantics (an update is gone once a later ``offset`` confirms it; long polling
waits for the next one). Faults on demand: ``fail_next`` (e.g. 429 with
``retry_after``, or a 502 for the next N calls of a method, until ``heal``) and
``html_refused`` (400 "can't parse entities").

Builders (``text``, ``photo``, ``voice``, ``press``, …) make update JSON as Telegram sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from fakes import start_on_loopback

TOKEN = "123456:TEST-token_abc"
BOT_ID = 123456
BOT_NAME = "NikTestBot"
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Nik", "username": BOT_NAME}
_STRING_FIELDS = {"text", "caption", "parse_mode", "callback_query_id", "url", "secret_token", "file_id", "action"}


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()


@dataclass
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    html_refused: set[str] = field(default_factory=set)  # markers: HTML containing one is refused
    downloads: list[str] = field(default_factory=list)  # file ids fetched from /file/bot<token>/
    menus: dict[str, list[str]] = field(default_factory=dict)  # setMyCommands: "default" / "chat:<id>" -> names
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _faults: list[_Fault] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)
    _chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _port: int = 0

    @property
    def root(self) -> str:
        """The server root, as ``TELEGRAM_API_BASE_URL`` takes it."""
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner, self._port = await start_on_loopback(app)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    # --- what the test does ------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue ``update`` for getUpdates."""
        self._updates.append(update)
        self._new.set()
        return update

    def fail_next(
        self, method: str, status: int = 429, *, retry_after: int | None = 1, times: int = 1, description: str = ""
    ) -> None:
        text = description or ("Too Many Requests: retry after 1" if status == 429 else "Internal Server Error")
        self._faults.append(_Fault(method, status, text, retry_after if status == 429 else None, times))

    def heal(self) -> None:
        """Drop the faults still pending: every method answers again."""
        self._faults.clear()

    def of(self, method: str, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The parameters of every recorded call of ``method`` (to ``chat_id``)."""
        return [
            c.params
            for c in self.calls
            if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [p["text"] for p in self.of("sendMessage", chat_id)]

    async def wait_for(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls: {[(c.method, c.params) for c in self.calls][-15:]}")
            await asyncio.sleep(0.02)

    @property
    def pending(self) -> int:
        return len(self._updates)

    # --- update builders (JSON as Telegram sends it) --------------------------------------------

    def chat(self, chat_id: int, kind: str = "private", *, forum: bool = False) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = "Anna"
        else:
            chat["title"] = f"Team {chat_id}"
            if forum:
                chat["is_forum"] = True
        self._chats[chat_id] = chat
        return chat

    def message(
        self,
        chat_id: int,
        *,
        text: str | None = None,
        user_id: int = 42,
        kind: str = "private",
        thread: int | None = None,
        reply_to: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An update carrying a new message (text, or whatever ``extra`` adds: photo, caption, …)."""
        chat = self._chats.get(chat_id) or self.chat(chat_id, kind, forum=thread is not None)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "de"},
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return {"update_id": next(self._update_ids), "message": message}

    def photo(self, chat_id: int, data: bytes, *, caption: str | None = None, **extra: Any) -> dict[str, Any]:
        """A photo in three sizes; only the largest holds ``data``."""
        file_id = f"photo-{len(self.files) + 1}"
        self.files[file_id] = data
        sizes = [
            {"file_id": f"{file_id}-s", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 10},
            {"file_id": file_id, "file_unique_id": "l", "width": 1280, "height": 960, "file_size": len(data)},
            {"file_id": f"{file_id}-m", "file_unique_id": "m", "width": 320, "height": 240, "file_size": 100},
        ]
        if caption is not None:
            extra["caption"] = caption
        return self.message(chat_id, photo=sizes, **extra)

    def voice(
        self, chat_id: int, data: bytes, *, seconds: int = 3, caption: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A voice note (OGG/Opus, as Telegram records it) of ``seconds`` holding ``data``."""
        file_id = f"voice-{len(self.files) + 1}"
        self.files[file_id] = data
        voice = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "duration": seconds,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        if caption is not None:
            extra["caption"] = caption
        return self.message(chat_id, voice=voice, **extra)

    def document(
        self,
        chat_id: int,
        data: bytes,
        *,
        name: str = "manual.pdf",
        mime: str = "application/pdf",
        size: int | None = None,
        caption: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A file sent as a document holding ``data``; ``size`` overrides the size Telegram reports."""
        file_id = f"doc-{len(self.files) + 1}"
        self.files[file_id] = data
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": mime,
            "file_size": len(data) if size is None else size,
        }
        if caption is not None:
            extra["caption"] = caption
        return self.message(chat_id, document=document, **extra)

    def press(self, chat_id: int, on: dict[str, Any], data: str, *, user_id: int = 42) -> dict[str, Any]:
        """An update for a button press under the bot's message ``on`` (a sendMessage result)."""
        query = {
            "id": f"q{next(self._update_ids)}",
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "chat_instance": "ci",
            "message": on,
            "data": data,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def sent_message(self, index: int = -1, method: str = "sendMessage") -> dict[str, Any]:
        """The message object a recorded send returned (to press its buttons)."""
        results = [c.params["__result__"] for c in self.calls if c.method == method]
        return dict(results[index])

    # --- the protocol ------------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        for fault in self._faults:
            if fault.method == method and fault.times > 0:
                fault.times -= 1
                return _error(fault.status, fault.description, fault.retry_after)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} not in the fake")
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        params["__result__"] = result
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".oga")
        if request.match_info["token"] != self.token or file_id not in self.files:
            return web.Response(status=404)
        self.downloads.append(file_id)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False}

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = dict(params)
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = params.get("offset")
        if offset is not None:
            self._updates = [u for u in self._updates if u["update_id"] >= int(offset)]
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0:
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), timeout)
        return list(self._updates[: int(params.get("limit") or 100)])

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        text = params.get("text", "")
        if params.get("parse_mode") == "HTML" and any(marker in text for marker in self.html_refused):
            return _error(400, 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3')
        if len(text.encode("utf-16-le")) // 2 > 4096 + (10_000 if params.get("parse_mode") else 0):
            return _error(400, "Bad Request: message is too long")
        return self._bot_message(params, text=text)

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        chat = self._chat_of(params)
        return {"message_id": params["message_id"], "date": int(time.time()), "chat": chat, "text": params["text"]}

    async def _m_deleteMessage(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        chat = self._chat_of(params)
        return {"message_id": params["message_id"], "date": int(time.time()), "chat": chat, "text": "…"}

    async def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        sizes = [{"file_id": "sent", "file_unique_id": "sent", "width": 10, "height": 10}]
        return self._bot_message(params, photo=sizes, caption=params.get("caption"))

    async def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        data = params["document"]  # the uploaded bytes (multipart); kept in the call log's params
        document = {"file_id": "sent-doc", "file_unique_id": "sent-doc", "file_size": len(data)}
        return self._bot_message(params, document=document, caption=params.get("caption"))

    async def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = params["file_id"]
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(self.files[file_id]),
            "file_path": _file_path(file_id),
        }

    async def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_sendMessageDraft(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        scope = params.get("scope") or {"type": "default"}
        name = scope["type"] + (f":{scope['chat_id']}" if "chat_id" in scope else "")
        self.menus[name] = [command["command"] for command in params["commands"]]
        return True

    async def _m_close(self, params: dict[str, Any]) -> Any:
        return True

    def _bot_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat = self._chat_of(params)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
            **{k: v for k, v in content.items() if v is not None},
        }
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if params.get("reply_markup") is not None:
            message["reply_markup"] = params["reply_markup"]
        return message

    def _chat_of(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return self._chats.get(chat_id) or {"id": chat_id, "type": "private", "first_name": "?"}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))


async def _params(request: web.Request) -> dict[str, Any]:
    """The request's parameters, decoded the way the Bot API decodes them."""
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    if request.content_type.startswith("multipart/"):
        raw: dict[str, Any] = {}
        reader = await request.multipart()
        async for part in reader:
            if part.name is None:
                continue
            if part.filename is not None:  # an uploaded file, and the name it was sent under
                raw[part.name] = await part.read()
                raw[f"{part.name}_filename"] = part.filename
            else:
                raw[part.name] = await part.text()
    else:
        raw = dict(await request.post()) if request.can_read_body else dict(request.query)
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, str) and name not in _STRING_FIELDS:
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        params[name] = value
    return params


def _file_path(file_id: str) -> str:
    """getFile's ``file_path``, in the folder Telegram uses for the kind of file."""
    if file_id.startswith("voice"):
        return f"voice/{file_id}.oga"
    return f"documents/{file_id}" if file_id.startswith("doc") else f"photos/{file_id}"


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
