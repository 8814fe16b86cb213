"""The LLM client's bounded retries, driven through the real ``openai`` client and a wire-level fake."""

from __future__ import annotations

import logging
import time

import pytest

from bot.agent.llm import LlmClient
from bot.errors import LlmUnavailable, NikError
from fakes import Calls, ScriptedOpenAI, Status, Text

HELLO = [{"role": "user", "content": "Hallo"}]
KEY = "sk-test-secret-123"


async def complete(api: ScriptedOpenAI, budget: float = 10.0, **options: float) -> str | None:
    client = LlmClient(KEY, api.base_url, backoff_seconds=0.05, **options)  # type: ignore[arg-type]
    try:
        completion = await client.complete("test-model", HELLO, time.monotonic() + budget)
    finally:
        await client.close()
    return completion.text


async def test_a_text_reply_and_the_request_on_the_wire() -> None:
    async with ScriptedOpenAI([Text("Hallo zurück")]) as api:
        assert await complete(api) == "Hallo zurück"
    assert api.requests[0]["model"] == "test-model"
    assert api.requests[0]["messages"] == HELLO
    assert api.headers[0]["Authorization"] == f"Bearer {KEY}"


async def test_tool_calls_keep_their_raw_arguments() -> None:
    async with ScriptedOpenAI([Calls(("search_knowledge", '{"query": "E0'))]) as api:
        client = LlmClient(KEY, api.base_url)
        completion = await client.complete("m", HELLO, time.monotonic() + 5)
        await client.close()
    assert completion.tool_calls[0].name == "search_knowledge"
    assert completion.tool_calls[0].arguments == '{"query": "E0'
    assert completion.usage == {"prompt_tokens": 10, "completion_tokens": 5}


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_server_errors_are_retried(code: int) -> None:
    async with ScriptedOpenAI([Status(code), Status(code), Text("ok")]) as api:
        assert await complete(api) == "ok"
    assert len(api.requests) == 3


async def test_at_most_two_retries_then_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with ScriptedOpenAI([Status(500), Status(500), Status(500), Text("too late")]) as api:
        with pytest.raises(LlmUnavailable) as err:
            await complete(api)
    assert len(api.requests) == 3
    assert isinstance(err.value, NikError)
    assert KEY not in caplog.text


async def test_client_errors_are_not_retried() -> None:
    async with ScriptedOpenAI([Status(401), Text("never")]) as api:
        with pytest.raises(LlmUnavailable, match="401"):
            await complete(api)
    assert len(api.requests) == 1


async def test_429_waits_retry_after_seconds() -> None:
    async with ScriptedOpenAI([Status(429, retry_after="1"), Text("ok")]) as api:
        assert await complete(api) == "ok"
    assert api.times[1] - api.times[0] >= 0.95


async def test_429_whose_wait_exceeds_the_budget_gives_up_at_once() -> None:
    async with ScriptedOpenAI([Status(429, retry_after="30"), Text("ok")]) as api:
        started = time.monotonic()
        with pytest.raises(LlmUnavailable):
            await complete(api, budget=5.0)
    assert time.monotonic() - started < 2
    assert len(api.requests) == 1


async def test_a_timeout_is_retried() -> None:
    async with ScriptedOpenAI([Text("slow", delay=2.0), Text("fast")]) as api:
        assert await complete(api, request_seconds=0.3) == "fast"


async def test_the_turn_budget_bounds_everything() -> None:
    async with ScriptedOpenAI([Text("slow", delay=3.0)] * 3) as api:
        started = time.monotonic()
        with pytest.raises(LlmUnavailable):
            await complete(api, budget=0.8)
        assert time.monotonic() - started < 1.5  # measured before the server drains its slow handlers
