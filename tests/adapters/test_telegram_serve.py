"""The real python-telegram-bot Application against the fake Bot API, through ``nik serve``.

Polling and webhook mode, the offline engine on the sample manual (or a scripted
LLM), the real inbox and dispatcher on SQLite."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram_fake import FakeTelegram
from telegram_helpers import SECRET, quick, serving, settings_for, tiny_jpeg

from adapters.serve import Server, running
from bot.core.conversation import THANKS
from bot.core.messages import IncomingMessage
from bot.errors import ConfigError
from fakes import Calls, ScriptedOpenAI, Text
from knowledge.service import KnowledgeBase
from storage.errors import StorageError
from storage.inbox import Inbox
from storage.store import ChatKey

GROUP = -100500
WEBHOOK = "https://nik.example.com/telegram/webhook"
QUESTION = "Was bedeutet Fehler E013?"


def hook_settings(kb_dir: Path, api: FakeTelegram, **extra: Any) -> Any:
    return settings_for(kb_dir, api, TELEGRAM_WEBHOOK_URL=WEBHOOK, TELEGRAM_WEBHOOK_SECRET=SECRET, **extra)


async def post(port: int, body: bytes | dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(f"http://127.0.0.1:{port}/telegram/webhook", data=data, headers=headers) as response,
    ):
        return response.status


async def settled(api: FakeTelegram, server: Server) -> None:
    """Every pushed update confirmed (so stored and queued) and every queued turn run."""
    await api.wait_for(lambda: api.pending == 0)
    await server.nik.dispatcher.drain()


async def test_a_polled_update_nik_cannot_read_is_skipped_and_the_next_one_answered(
    sample_kb: KnowledgeBase, kb_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb) as server:
        api.push({**api.message(100, text="x"), "message": "kaputt"})  # no object where PTB expects one
        api.push({**api.message(100, text="x"), "message": {"message_id": 3}})  # no chat, no date
        api.push(api.message(100, text="/help"))
        await settled(api, server)  # confirmed: Telegram will not send them again
        assert len(api.texts(100)) == 1
        assert await Inbox(server.nik.store.engine).pending() == 0
    assert sum("cannot read" in r.getMessage() for r in caplog.records) == 2


async def test_private_question_gets_a_cited_answer_by_polling(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb) as server:
        assert api.of("deleteWebhook") and await server.platforms[0].ready() == (True, "@NikTestBot polling")
        api.push(api.message(100, text=QUESTION))
        await api.wait_for(lambda: bool(api.texts(100)))
        [sent] = api.of("sendMessage", 100)
    assert "E013" in sent["text"] and "<b>Quellen:</b>\n• SolarFux SF-5000TL" in sent["text"]
    assert sent["parse_mode"] == "HTML" and sent["link_preview_options"] == {"is_disabled": True}
    pdf, buttons = sent["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in pdf] == ["📄 PDF"]
    assert [b["text"] for b in buttons] == ["👍", "👎"] and buttons[0]["callback_data"].endswith(":+1")
    assert api.of("sendChatAction", 100)[0]["action"] == "typing"


async def test_groups_answer_only_when_addressed_and_in_the_asked_topic(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb) as server:
        api.push(api.message(GROUP, text=QUESTION, kind="supergroup", thread=7))  # not addressed
        asked = api.push(api.message(GROUP, text=f"@NikTestBot {QUESTION}", thread=7))
        await settled(api, server)
        [sent] = api.of("sendMessage", GROUP)
    assert sent["message_thread_id"] == 7 and "E013" in sent["text"]
    assert sent["reply_parameters"]["message_id"] == asked["message"]["message_id"]


async def test_photos_and_albums_reach_the_core_as_image_bytes(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    seen: list[IncomingMessage] = []
    red, blue, green = tiny_jpeg("red"), tiny_jpeg("blue"), tiny_jpeg("green")
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb, seen=seen) as server:
        api.push(api.photo(100, red, caption="Was zeigt das Display?"))
        api.push(api.photo(100, blue, caption="Typenschild", media_group_id="alb1"))
        api.push(api.photo(100, green, media_group_id="alb1"))
        await settled(api, server)
    assert [(m.text, [i.data for i in m.images]) for m in seen] == [
        ("Was zeigt das Display?", [red]),
        ("Typenschild", [blue, green]),  # one album, one message
    ]
    assert all(i.mime == "image/jpeg" for m in seen for i in m.images)
    assert api.downloads == ["photo-1", "photo-2", "photo-3"]  # the largest size only
    assert len(api.of("sendMessage", 100)) == 2


async def test_unsupported_input_gets_a_note(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb):
        api.push(api.message(100, voice={"file_id": "v", "file_unique_id": "v", "duration": 2}))
        await api.wait_for(lambda: bool(api.texts(100)))
    assert "als Text" in api.texts(100)[0]


async def test_a_pressed_option_resumes_the_clarification_and_removes_the_keyboard(
    device_kb: KnowledgeBase, seeded_cache: Path
) -> None:
    async with FakeTelegram() as api, serving(settings_for(seeded_cache, api), device_kb):
        api.push(api.message(100, text="was bedeutet fehler E013"))
        await api.wait_for(lambda: bool(api.texts(100)))
        asked = api.sent_message(0)
        keyboard = asked["reply_markup"]["inline_keyboard"]
        assert len(keyboard) > 1 and keyboard[0][0]["callback_data"] == "opt:1"
        api.push(api.press(100, asked, "opt:1"))
        await api.wait_for(lambda: len(api.texts(100)) >= 2)
        answer = api.of("sendMessage", 100)[1]
        [removed] = api.of("editMessageReplyMarkup", 100)
        assert removed["message_id"] == asked["message_id"] and "reply_markup" not in removed
        assert api.of("answerCallbackQuery")
        assert "E013" in answer["text"] and "Quellen" in answer["text"]
        vote = answer["reply_markup"]["inline_keyboard"][-1][0]["callback_data"]
        api.push(api.press(100, api.sent_message(1), vote))
        await api.wait_for(lambda: any(c.get("text") == THANKS for c in api.of("answerCallbackQuery")))
        assert len(api.texts(100)) == 2  # the thanks is a toast, not a message


async def test_a_free_text_question_in_a_group_uses_force_reply(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    ask = Calls(("ask_user_clarification", {"question": "Welches Gerät genau?"}))
    async with ScriptedOpenAI([ask]) as llm, FakeTelegram() as api:
        settings = settings_for(kb_dir, api, OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-test")
        async with serving(settings, sample_kb):
            api.push(api.message(GROUP, text="@NikTestBot E013?", kind="group"))
            await api.wait_for(lambda: bool(api.texts(GROUP)))
            [asked] = api.of("sendMessage", GROUP)
    assert asked["text"] == "Welches Gerät genau?"
    assert asked["reply_markup"] == {
        "force_reply": True,
        "selective": True,
        "input_field_placeholder": "Ihre Antwort …",
    }


async def test_a_long_answer_is_split_in_order_with_the_buttons_last(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    paragraphs = [f"**Schritt {n}:** " + "Isolation prüfen 🔌. " * 40 for n in range(1, 31)]
    async with ScriptedOpenAI([Text("\n\n".join(paragraphs))]) as llm, FakeTelegram() as api:
        settings = settings_for(kb_dir, api, OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-test")
        async with serving(settings, sample_kb):
            api.push(api.message(100, text="Wie prüfe ich die Isolation?"))
            await api.wait_for(lambda: any("reply_markup" in p for p in api.of("sendMessage", 100)))
            sent = api.of("sendMessage", 100)
    assert len(sent) >= 3
    assert all(len(p["text"].encode("utf-16-le")) // 2 <= 4096 for p in sent)
    steps = [int(t.split("Schritt ")[1].split(":")[0]) for p in sent for t in p["text"].split("<b>")[1:]]
    assert steps == list(range(1, 31))
    assert ["reply_markup" in p for p in sent] == [False] * (len(sent) - 1) + [True]


async def test_html_telegram_cannot_parse_is_sent_again_as_plain_text(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb):
        api.html_refused.add("<b>Quellen")
        api.push(api.message(100, text=QUESTION))
        await api.wait_for(lambda: len(api.calls) > 0 and any("parse_mode" not in p for p in api.of("sendMessage")))
        refused, resent = api.of("sendMessage", 100)
    assert refused["parse_mode"] == "HTML" and "parse_mode" not in resent
    assert "Quellen:\n• SolarFux" in resent["text"] and "<b>" not in resent["text"] and "&gt;" not in resent["text"]


async def test_429_is_waited_out_and_nothing_is_lost(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb):
        api.fail_next("sendMessage", 429, retry_after=1)
        api.push(api.message(100, text="/help"))
        await api.wait_for(lambda: len([c for c in api.calls if c.method == "sendMessage"]) >= 2)
        first, second = [c for c in api.calls if c.method == "sendMessage"]
    assert second.at - first.at >= 0.95
    assert second.params["text"] == first.params["text"] and "Nik" in second.params["text"]


async def test_webhook_stores_before_answering_and_answers_an_update_once(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with ScriptedOpenAI([]) as llm, FakeTelegram() as api:
        settings = hook_settings(kb_dir, api, NIK_TURN_LEASE_SECONDS=30)
        async with serving(settings, sample_kb) as server:
            assert api.webhook["url"] == WEBHOOK and api.webhook["secret_token"] == SECRET
            assert api.webhook["allowed_updates"] == ["message", "callback_query"]
            assert not api.of("getUpdates")
            update = api.message(100, text="/help")
            sequential = [await post(server.port, update) for _ in range(20)]
            concurrent = await asyncio.gather(*(post(server.port, update) for _ in range(20)))
            await api.wait_for(lambda: bool(api.texts(100)))
            await server.nik.dispatcher.drain()
            # refused: wrong or missing secret, not JSON — nothing stored, nothing answered
            other = api.message(101, text=QUESTION)
            assert await post(server.port, other, secret="wrong") == 403
            assert await post(server.port, other, secret=None) == 403
            assert await post(server.port, b"{not json", secret=SECRET) == 400
            assert await post(server.port, b"[1, 2]", secret=SECRET) == 400
            assert await post(server.port, {"update_id": 7, "message": "kaputt"}, secret=SECRET) == 400
            assert await Inbox(server.nik.store.engine).pending() == 0
        assert sequential == [200] * 20 and list(concurrent) == [200] * 20
        async with serving(settings, sample_kb) as again:  # a restart on the same database
            assert [await post(again.port, update) for _ in range(20)] == [200] * 20  # stored (or dropped)
            await again.nik.dispatcher.drain()
        assert len(api.texts(100)) == 1 and api.of("sendMessage", 101) == []
        assert llm.requests == []


class DownInbox:
    """A dispatcher whose storage is away: every submit fails as the inbox would."""

    def __init__(self) -> None:
        self.tried = 0

    async def submit(self, key: ChatKey, message_id: str, payload: dict[str, Any]) -> bool:
        self.tried += 1
        raise StorageError("database unavailable")


async def test_webhook_answers_503_when_the_update_cannot_be_stored(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    down = DownInbox()
    build = quick()
    factory = lambda nik: build(replace(nik, dispatcher=down))  # noqa: E731
    async with FakeTelegram() as api:
        async with running(hook_settings(kb_dir, api), knowledge=sample_kb, factories=[factory]) as server:
            status = await post(server.port, api.message(100, text="/help"))
        assert (status, down.tried, api.of("sendMessage")) == (503, 1, [])


async def test_a_restart_mid_turn_neither_loses_nor_doubles_the_answer(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    slow, quick_answer = Text("zu spät", delay=30), Text("Antwort nach dem Neustart.")
    async with ScriptedOpenAI([slow, quick_answer]) as llm, FakeTelegram() as api:
        settings = settings_for(
            kb_dir, api, OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-test", NIK_TURN_LEASE_SECONDS=1
        )
        first = running(settings, knowledge=sample_kb, factories=[quick()])
        await first.__aenter__()
        api.push(api.message(100, text="Isolationsfehler?"))
        await api.wait_for(lambda: len(llm.requests) == 1)  # the turn is running
        await api.wait_for(lambda: api.pending == 0)  # … and its update is confirmed to Telegram
        await first.__aexit__(None, None, None)  # the turn outlives the shutdown grace: cancelled, left pending
        assert api.texts(100) == []
        async with serving(settings, sample_kb) as second:
            await api.wait_for(lambda: bool(api.texts(100)))
            await second.nik.dispatcher.drain()
        assert api.texts(100) == ["Antwort nach dem Neustart."] and len(llm.requests) == 2


async def test_reindex_is_one_progress_message_edited_in_place(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api, NIK_ADMINS="telegram:42"), sample_kb):
        api.push(api.message(100, text="/reindex"))
        await api.wait_for(lambda: any("Index aktualisiert" in p["text"] for p in api.of("editMessageText", 100)), 60)
    [started] = api.of("sendMessage", 100)  # sent by the background job's note
    assert started["text"].startswith("Indexierung gestartet")
    edited = {p["message_id"] for p in api.of("editMessageText", 100)}
    assert edited == {started["__result__"]["message_id"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def readyz(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(f"http://127.0.0.1:{port}/readyz") as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize("method", ["getMe", "deleteWebhook"])
async def test_an_unreachable_bot_api_at_start_up_is_retried_reported_and_then_served(
    sample_kb: KnowledgeBase, kb_dir: Path, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.runtime.retry")
    port = free_port()
    async with FakeTelegram() as api:
        api.fail_next(method, 502, times=1_000)  # the Bot API's gateway is down until healed
        connected = asyncio.Event()
        stop = asyncio.Event()

        async def serve() -> None:
            async with serving(settings_for(kb_dir, api, NIK_PORT=port), sample_kb):
                connected.set()
                await stop.wait()

        server = asyncio.create_task(serve())
        try:
            await api.wait_for(lambda: len(api.of(method)) >= 3)
            status, body = await readyz(port)
            assert (status, body["checks"]["telegram"]) == (503, {"ok": False, "detail": "connecting"})
            retries = [r for r in caplog.records if "Telegram: connecting failed" in r.getMessage()]
            assert len(retries) >= 2 and all(r.levelno == logging.WARNING for r in retries)
            assert "attempt 1: NetworkError" in retries[0].getMessage()
            assert "attempt 2: NetworkError" in retries[1].getMessage()
            assert not server.done() and not connected.is_set()

            api.heal()
            await asyncio.wait_for(connected.wait(), 10)
            status, body = await readyz(port)
            assert (status, body["checks"]["telegram"]) == (200, {"ok": True, "detail": "@NikTestBot polling"})
            api.push(api.message(100, text="/help"))
            await api.wait_for(lambda: bool(api.texts(100)))
            assert "Nik" in api.texts(100)[0]
        finally:
            stop.set()
            await server


async def test_a_token_telegram_rejects_stops_start_up_without_showing_the_token(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    wrong = "999999:WRONG-token_xyz"
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, TELEGRAM_BOT_TOKEN=wrong)
        with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as error:
            async with serving(settings, sample_kb):
                pass
    assert wrong not in str(error.value)
