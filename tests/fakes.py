"""Fakes that speak the real wire protocol.

``ScriptedOpenAI`` is an HTTP server (aiohttp, 127.0.0.1, a free port) serving
``POST /v1/chat/completions`` the way OpenAI does, replaying a script of steps and
recording every request body, so tests drive the real ``openai`` client::

    async with ScriptedOpenAI([Calls(("search_knowledge", {"query": "E013"})), Text("...")]) as api:
        client = LlmClient("sk-test", api.base_url)

It also speaks ``POST /v1/audio/transcriptions`` (multipart/form-data: ``file``,
``model``, ``language``, ``response_format``) from a script of its own (``speech``:
``Transcript`` or ``Status`` steps), recording each upload in ``transcriptions``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import BodyPartReader, web


@dataclass(frozen=True, slots=True)
class Text:
    """A final assistant message; with ``until``, sent only once the test sets that event."""

    content: str
    delay: float = 0.0
    until: asyncio.Event | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, init=False)
class Calls:
    """An assistant message with tool calls: (name, arguments as a dict or raw JSON text)."""

    calls: tuple[tuple[str, dict[str, Any] | str], ...]
    content: str | None = None
    delay: float = 0.0

    def __init__(
        self, *calls: tuple[str, dict[str, Any] | str], content: str | None = None, delay: float = 0.0
    ) -> None:
        object.__setattr__(self, "calls", calls)
        object.__setattr__(self, "content", content)
        object.__setattr__(self, "delay", delay)


@dataclass(frozen=True, slots=True)
class Status:
    """An HTTP error in OpenAI's error format, e.g. 500, or 429 with ``Retry-After``."""

    code: int
    retry_after: str | None = None
    delay: float = 0.0


Step = Text | Calls | Status


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the speech endpoint heard (``""``: nothing intelligible); sent after ``delay`` seconds."""

    text: str
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Upload:
    """One recorded ``/audio/transcriptions`` request: its form fields and the file part."""

    fields: dict[str, str]
    file_name: str | None
    content_type: str | None
    data: bytes
    authorization: str | None


@dataclass
class ScriptedOpenAI:
    script: list[Step]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() of each request
    chunk_chars: int = 0  # streaming: split content and tool-call arguments into pieces this long (0: whole)
    speech: list[Transcript | Status] = field(default_factory=list)  # the /audio/transcriptions script
    transcriptions: list[Upload] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _port: int = 0
    _ids: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    async def __aenter__(self) -> ScriptedOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        self._runner, self._port = await start_on_loopback(app)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def remaining(self) -> int:
        return len(self.script)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        self.times.append(time.monotonic())
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self.script:
            return _error(500, "ScriptedOpenAI: the script is exhausted")
        step = self.script.pop(0)
        if step.delay:
            await asyncio.sleep(step.delay)
        if isinstance(step, Text) and step.until is not None:
            await step.until.wait()
        if isinstance(step, Status):
            response = _error(step.code, f"scripted HTTP {step.code}")
            if step.retry_after is not None:
                response.headers["Retry-After"] = step.retry_after
            return response
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if isinstance(step, Text):
            message["content"] = step.content
        else:
            message["content"] = step.content
            message["tool_calls"] = [self._call(name, args) for name, args in step.calls]
            finish = "tool_calls"
        if body.get("stream"):
            return await self._stream(request, body, message, finish)
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        """OpenAI's speech-to-text: a multipart upload in, ``{"text": …}`` (or plain text) out."""
        if not request.content_type.startswith("multipart/form-data"):
            return _error(400, "Expected multipart/form-data", kind="invalid_request_error")
        fields: dict[str, str] = {}
        upload: tuple[str | None, str | None, bytes] | None = None
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name == "file":
                upload = (part.filename, part.headers.get("Content-Type"), bytes(await part.read()))
            else:
                fields[part.name] = await part.text()
        if upload is None or "model" not in fields:
            return _error(400, "'file' and 'model' are required", kind="invalid_request_error")
        self.transcriptions.append(Upload(fields, *upload, request.headers.get("Authorization")))
        if not self.speech:
            return _error(500, "ScriptedOpenAI: the speech script is exhausted")
        step = self.speech.pop(0)
        if step.delay:
            await asyncio.sleep(step.delay)
        if isinstance(step, Status):
            return _error(step.code, f"scripted HTTP {step.code}")
        form = fields.get("response_format", "json")
        if form == "text":
            return web.Response(text=step.text, content_type="text/plain")
        if form == "verbose_json":
            return web.json_response({"task": "transcribe", "language": "german", "duration": 1.0, "text": step.text})
        return web.json_response({"text": step.text, "usage": {"type": "duration", "seconds": 1}})

    def _call(self, name: str, args: dict[str, Any] | str) -> dict[str, Any]:
        self._ids += 1
        raw = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        return {"id": f"call_{self._ids}", "type": "function", "function": {"name": name, "arguments": raw}}

    async def _stream(
        self, request: web.Request, body: dict[str, Any], message: dict[str, Any], finish: str
    ) -> web.StreamResponse:
        """SSE chunks: the content (or each tool call) as deltas, then the finish reason, the usage
        when ``stream_options.include_usage`` asks for it, then [DONE]."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
        }
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        for piece in self._pieces(message.get("content") or ""):
            deltas.append({"content": piece})
        for index, call in enumerate(message.get("tool_calls", ())):
            pieces = self._pieces(call["function"]["arguments"])
            head = {**call, "function": {"name": call["function"]["name"], "arguments": pieces[0] if pieces else ""}}
            deltas.append({"tool_calls": [{"index": index, **head}]})
            for piece in pieces[1:]:
                deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        for delta in deltas:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        await response.write(f"data: {json.dumps(last)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _pieces(self, text: str) -> list[str]:
        if not text or self.chunk_chars <= 0:
            return [text] if text else []
        return [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]


def _error(code: int, message: str, kind: str | None = None) -> web.Response:
    kind = kind or ("rate_limit_exceeded" if code == 429 else "server_error")
    return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": kind}}, status=code)


async def start_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on 127.0.0.1 at a free port: the runner (clean it up) and the port."""
    runner = web.AppRunner(app, shutdown_timeout=0.2)  # do not wait for scripted delays
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


async def completion_reply(request: web.Request, body: dict[str, Any], content: str) -> web.StreamResponse:
    """A final assistant message ``content`` in the form ``body`` asked for: SSE chunks when
    it streams, one JSON completion otherwise. For fakes that compute their answer."""
    message = {"role": "assistant", "content": content}
    if body.get("stream"):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "s", "object": "chat.completion.chunk", "created": int(time.time()), "model": "fake"}
        for delta, finish in ((message, None), ({}, "stop")):
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
    return web.json_response(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )
