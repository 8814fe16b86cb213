"""A thin async client for an OpenAI-compatible chat-completions API.

The official ``openai`` package speaks the wire protocol. Its own retries are off
(``max_retries=0``): they cannot be bounded by the turn's wall-clock budget, which
a 429's ``Retry-After`` must fit. The one retry policy (``bot.runtime.retry``) retries
instead, under ``endpoint_retry`` (the speech client's too) and the call's deadline:

* HTTP 500/502/503, timeouts and broken connections: up to ``retries`` more
  attempts, with a short growing backoff (jittered below ``backoff_seconds``, doubled per try);
* HTTP 429: wait ``Retry-After`` seconds when that still fits the budget, else give up;
* anything else (400, 401, 404, ...): give up at once.

Giving up raises ``LlmUnavailable``. The API key is handed to the SDK and never logged.

Streaming (``on_text``): the reply arrives as server-sent deltas, content and
tool calls alike are reassembled into the same ``Completion``, and the text so far
is reported, throttled. A failure before any text was reported is retried as
above; once text has reached the caller the answer cannot be taken back, so a
broken stream raises ``LlmUnavailable`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import openai
from openai import AsyncOpenAI

from bot.errors import LlmUnavailable
from bot.runtime.retry import Retry

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({500, 502, 503})
REQUEST_SECONDS = 30.0  # one request never waits longer than this (nor past the deadline)
MIN_REQUEST_SECONDS = 0.05  # below this there is no point in starting a request
PARTIAL_SECONDS = 0.3  # streaming: report the text so far at most this often…
PARTIAL_CHARS = 80  # …unless this many new characters arrived

OnText = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text, as the model wrote it (possibly malformed)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: dict[str, int] = field(default_factory=dict)

    def message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation (plain JSON values)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


class ChatModel(Protocol):
    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        deadline: float,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 800,
        on_text: OnText | None = None,
    ) -> Completion:
        """One completion; ``deadline`` is a ``time.monotonic()`` value the call must not pass.

        With ``on_text`` the reply is streamed and the text so far is awaited into it."""
        ...


class LlmClient:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None = None,
        retries: int = 2,
        backoff_seconds: float = 0.5,
        request_seconds: float = REQUEST_SECONDS,
    ) -> None:
        # A local OpenAI-compatible server may need no key; the SDK insists on one.
        self._client = AsyncOpenAI(
            api_key=api_key or "not-needed", base_url=base_url, timeout=request_seconds, max_retries=0
        )
        self._retry = endpoint_retry(retries, backoff_seconds)
        self._request_seconds = request_seconds

    async def close(self) -> None:
        await self._client.close()

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        deadline: float,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 800,
        on_text: OnText | None = None,
    ) -> Completion:
        try:
            return await self._retry.run(
                "LLM request",
                lambda: self._attempt(model, messages, deadline, tools, max_tokens, on_text),
                deadline=deadline,
            )
        except openai.RateLimitError as err:
            wait = _retry_after(err.response.headers.get("retry-after"))
            log.warning("LLM rate limited (429, retry-after %s): giving up", "none" if wait is None else f"{wait:.1f}s")
            raise LlmUnavailable("Das Sprachmodell ist gerade überlastet.") from None
        except openai.APIStatusError as err:
            log.warning("LLM request failed with HTTP %s", err.status_code)
            raise LlmUnavailable(f"Das Sprachmodell ist nicht verfügbar (HTTP {err.status_code}).") from None
        except (openai.APIConnectionError, httpx.HTTPError, TimeoutError) as err:  # APITimeoutError too
            log.warning("LLM unreachable: %s", type(err).__name__)
            raise LlmUnavailable("Das Sprachmodell ist nicht erreichbar.") from None

    async def _attempt(
        self,
        model: str,
        messages: list[dict[str, Any]],
        deadline: float,
        tools: list[dict[str, Any]] | None,
        max_tokens: int,
        on_text: OnText | None,
    ) -> Completion:
        remaining = deadline - time.monotonic()
        if remaining < MIN_REQUEST_SECONDS:
            raise LlmUnavailable("Das Sprachmodell hat nicht rechtzeitig geantwortet.")
        timeout = min(self._request_seconds, remaining)
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        if on_text is None:
            response = await self._client.chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]  # plain dicts in the wire format
                max_tokens=max_tokens,
                timeout=timeout,
                **extra,
            )
            return _completion(response)
        stream = _Stream(on_text)
        try:
            async with asyncio.timeout(timeout):  # the whole stream, not each read
                chunks = await self._client.chat.completions.create(  # type: ignore[call-overload]
                    model=model,
                    messages=messages,  # plain dicts in the wire format
                    max_tokens=max_tokens,
                    timeout=timeout,
                    stream=True,
                    stream_options={"include_usage": True},
                    **extra,
                )
                async with chunks:
                    return await stream.consume(chunks)
        except (openai.APIError, httpx.HTTPError, TimeoutError) as err:
            if stream.reported:
                log.warning("LLM stream broke off after partial text: %s", type(err).__name__)
                raise LlmUnavailable("Die Antwort des Sprachmodells ist abgebrochen.") from None
            raise


def endpoint_retry(retries: int, backoff: float) -> Retry:
    """The policy for an OpenAI-compatible endpoint: transient failures again, ``retries`` times
    at most, the first wait at most ``backoff`` seconds; a 429's ``Retry-After`` is the wait.
    The call's deadline (``Retry.run``) gives up where the next wait would not fit."""
    return Retry(
        _transient, attempts=retries + 1, first=backoff, hint=_rate_limit_wait, level=logging.INFO, describe=_describe
    )


def _transient(error: BaseException) -> bool:
    """Worth another try: a 429, a 500/502/503, a timeout, a broken connection."""
    if isinstance(error, openai.RateLimitError):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in RETRY_STATUS
    return isinstance(error, openai.APIConnectionError | httpx.HTTPError | TimeoutError)


def _describe(error: BaseException) -> str:
    """The error in a retry's log line: its status, never the body the server sent."""
    if isinstance(error, openai.RateLimitError):
        return "rate limited (429)"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def _rate_limit_wait(error: BaseException) -> float | None:
    """A 429's ``Retry-After`` in seconds, if it says."""
    if isinstance(error, openai.RateLimitError):
        return _retry_after(error.response.headers.get("retry-after"))
    return None


class _Stream:
    """Reassembles a streamed completion and reports its text, throttled."""

    def __init__(self, on_text: OnText) -> None:
        self._on_text = on_text
        self._text: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._usage: dict[str, int] = {}
        self._choices = False
        self._sent = ""  # the text last reported
        self._sent_at = time.monotonic()
        self.reported = False  # text has reached the caller: no retry after this

    async def consume(self, chunks: Any) -> Completion:
        async for chunk in chunks:
            if chunk.usage is not None:
                self._usage = {
                    "prompt_tokens": int(chunk.usage.prompt_tokens or 0),
                    "completion_tokens": int(chunk.usage.completion_tokens or 0),
                }
            if not chunk.choices:
                continue
            self._choices = True
            delta = chunk.choices[0].delta
            for call in delta.tool_calls or ():
                entry = self._calls.setdefault(call.index, ["", "", ""])
                entry[0] = entry[0] or (call.id or "")
                if call.function is not None:
                    entry[1] = entry[1] or (call.function.name or "")
                    entry[2] += call.function.arguments or ""
            if delta.content:
                self._text.append(delta.content)
                await self._report(final=False)
        if not self._choices:
            raise LlmUnavailable("Das Sprachmodell hat eine leere Antwort geschickt.")
        await self._report(final=True)
        text = "".join(self._text)
        calls = tuple(ToolCall(i, n, a) for _, (i, n, a) in sorted(self._calls.items()) if n)
        return Completion(text or None, calls, self._usage)

    async def _report(self, final: bool) -> None:
        text = "".join(self._text)
        if not text or text == self._sent:
            return
        due = time.monotonic() - self._sent_at >= PARTIAL_SECONDS or len(text) - len(self._sent) >= PARTIAL_CHARS
        if final or due:
            self.reported = True
            self._sent, self._sent_at = text, time.monotonic()
            await self._on_text(text)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare from LLM APIs; fall back to our backoff
    return seconds if seconds >= 0 else None


def _completion(response: Any) -> Completion:
    if not response.choices:
        raise LlmUnavailable("Das Sprachmodell hat eine leere Antwort geschickt.")
    message = response.choices[0].message
    calls = tuple(
        ToolCall(c.id, c.function.name, c.function.arguments or "")
        for c in (message.tool_calls or ())
        if getattr(c, "function", None) is not None
    )
    usage: dict[str, int] = {}
    if response.usage is not None:
        usage = {
            "prompt_tokens": int(response.usage.prompt_tokens or 0),
            "completion_tokens": int(response.usage.completion_tokens or 0),
        }
    return Completion(message.content, calls, usage)
