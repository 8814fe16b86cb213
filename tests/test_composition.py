"""The wired core with an LLM configured: conversation → agent → an OpenAI-compatible
server (scripted, on loopback) → storage, across a restart of the core."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.core.messages import Answer, Clarification, IncomingMessage, Reply
from bot.runtime.composition import open_nik
from fakes import Calls, ScriptedOpenAI, Step, Text
from helpers import SAMPLE_NAME

TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"


def message(text: str, message_id: str) -> IncomingMessage:
    return IncomingMessage("telegram", "chat-1", "u-7", "Tom", message_id, text)


async def turn(text: str, message_id: str) -> list[Reply]:
    """One turn through a freshly wired core: every call is a restart of the process."""
    async with open_nik(load_settings()) as nik:
        return [reply async for reply in nik.conversation.handle(message(text, message_id))]


async def test_a_configured_llm_answers_through_the_agent(llm_env: pytest.MonkeyPatch) -> None:
    script: list[Step] = [Calls(("search_knowledge", {"query": "E013"})), Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].")]
    async with ScriptedOpenAI(script) as api:
        llm_env.setenv("OPENAI_BASE_URL", api.base_url)
        replies = await turn("Was bedeutet E013?", "m1")
    answers = [r for r in replies if isinstance(r, Answer)]
    assert len(answers) == 1 and answers[0].kind == "answer"
    assert [(c.file, c.page) for c in answers[0].citations] == [(SAMPLE_NAME, 8)]
    assert api.requests[0]["model"] == "scripted-model"
    assert api.requests[1]["messages"][-1]["role"] == "tool"  # the search result went back to the model


async def test_a_clarification_survives_a_restart_and_resumes_the_loop(llm_env: pytest.MonkeyPatch) -> None:
    script: list[Step] = [
        Calls(("ask_user_clarification", {"question": "Welches Gerät?", "options": ["SF-5000TL", "SF-3000TL"]})),
        Text(f"Beim SF-5000TL: Fehlerstrom zu hoch [{TITLE}, S. 8]."),
    ]
    async with ScriptedOpenAI(script) as api:
        llm_env.setenv("OPENAI_BASE_URL", api.base_url)
        first = await turn("Was bedeutet E013?", "m1")  # one process…
        second = await turn("SF-5000TL", "m2")  # …and the next one after a restart
    asked = [r for r in first if isinstance(r, Clarification)]
    assert asked and asked[0].options == ("SF-5000TL", "SF-3000TL")
    answers = [r for r in second if isinstance(r, Answer)]
    assert answers and "Fehlerstrom zu hoch" in answers[0].text
    asked_call = [m for m in api.requests[1]["messages"] if m.get("tool_calls")][-1]
    call_id = asked_call["tool_calls"][0]["id"]
    assert api.requests[1]["messages"][-1] == {"role": "tool", "tool_call_id": call_id, "content": "SF-5000TL"}
