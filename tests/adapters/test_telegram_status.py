"""The agent's steps in Telegram: one status message per turn in a private chat, edited
for each next tool call and deleted once the answer is out; nothing of it in groups."""

from __future__ import annotations

from pathlib import Path

from telegram_fake import FakeTelegram
from telegram_helpers import serving, settings_for

from fakes import Calls, ScriptedOpenAI, Text
from knowledge.service import KnowledgeBase

TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"
GROUP = -100500


def script() -> list[Calls | Text]:
    return [
        Calls(("search_knowledge", {"query": "E013"})),
        Calls(("search_knowledge", {"query": "Fehlerstrom   zu\nhoch", "product": "SF-5000TL"})),
        Calls(("get_full_document", {"file": "SolarFux_SF-5000TL_Handbuch.pdf", "pages": [8, 9]})),
        Text(f"E013: Fehlerstrom zu hoch [{TITLE}, S. 8]."),
    ]


async def test_a_private_chat_sees_each_tool_step_in_one_edited_message(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, ScriptedOpenAI(script()) as llm:
        settings = settings_for(kb_dir, api, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm.base_url)
        async with serving(settings, sample_kb) as server:
            api.push(api.message(100, text="Was bedeutet E013?"))
            await api.wait_for(lambda: bool(api.of("deleteMessage", 100)))
            await server.nik.dispatcher.drain()
    status, answer = api.of("sendMessage", 100)
    assert status["text"] == "🔎 Suche: E013"
    edits = [e["text"] for e in api.of("editMessageText", 100)]
    assert edits == ["🔎 Suche: Fehlerstrom zu hoch (SF-5000TL)", f"📖 Lese Handbuch {TITLE}, S. 8–9"]
    status_id = api.sent_message(0)["message_id"]
    assert {e["message_id"] for e in api.of("editMessageText", 100)} == {status_id}
    assert answer["text"].startswith("E013: Fehlerstrom zu hoch")
    [deleted] = api.of("deleteMessage", 100)
    assert deleted["message_id"] == status_id  # deleted after the answer was sent
    methods = [c.method for c in api.calls if c.method in ("sendMessage", "deleteMessage")]
    assert methods == ["sendMessage", "sendMessage", "deleteMessage"]


async def test_a_group_gets_the_answer_without_status_messages(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, ScriptedOpenAI(script()) as llm:
        settings = settings_for(kb_dir, api, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm.base_url)
        async with serving(settings, sample_kb) as server:
            api.push(api.message(GROUP, text="@NikTestBot Was bedeutet E013?", kind="supergroup"))
            await api.wait_for(lambda: bool(api.of("sendMessage", GROUP)))
            await server.nik.dispatcher.drain()
    [answer] = api.of("sendMessage", GROUP)
    assert answer["text"].startswith("E013: Fehlerstrom zu hoch")
    assert api.of("editMessageText", GROUP) == [] and api.of("deleteMessage", GROUP) == []
    assert llm.remaining == 0  # the agent did run its three tool calls
