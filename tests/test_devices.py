"""The chat remembers the device: resolving names against the catalog, /device, narrowed
searches that name their device, other devices asked about, photos and clarification
answers that set it — through the conversation core with the offline engine over the
sample manual and a second maker's manual (``device_kb``)."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.agent.agent import LlmAgent
from bot.agent.llm import LlmClient
from bot.core.commands import Commands
from bot.core.conversation import Conversation
from bot.core.messages import Answer, Clarification, ImageInput, IncomingMessage, Reply
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.photos.intake import PhotoIntake, PhotoStore
from bot.photos.vision import PhotoReader
from bot.runtime.dispatcher import Dispatcher
from fakes import Calls, ScriptedOpenAI, Text
from helpers import count_transactions, open_kb
from knowledge.devices import resolve
from knowledge.embedder import E5Embedder
from knowledge.models import DocumentInfo
from knowledge.ocr import RapidOcr
from knowledge.service import KnowledgeBase
from photo_maker import nameplate_photo
from storage.inbox import Delivery, Inbox
from storage.store import ChatKey, Device, Receipt, Store

SOLARFUX = "SolarFux_SF-5000TL_Handbuch.pdf"
VOLTRONIC = "Voltronic_Axpert_Kurzanleitung.md"
E013 = "was bedeutet fehler E013"
_ids = itertools.count(1)


def msg(text: str, chat: str = "c1", user: str = "u1", **facts: Any) -> IncomingMessage:
    return IncomingMessage("telegram", chat, user, user.upper(), f"m{next(_ids)}", text, **facts)


def make_conversation(kb: KnowledgeBase, store: Store, **kw: Any) -> Conversation:
    commands = Commands(kb, store, frozenset(), Path("unused"), "offline")
    engine = OfflineEngine(OfflineAnswerer(kb), kw.pop("reader", None))
    return Conversation(store, engine, commands, **kw)


async def final(conversation: Conversation, message: IncomingMessage) -> Answer | Clarification:
    found: list[Reply] = [reply async for reply in conversation.handle(message)]
    last = found[-1]
    assert isinstance(last, Answer | Clarification), found
    return last


async def answer(conversation: Conversation, message: IncomingMessage) -> Answer:
    reply = await final(conversation, message)
    assert isinstance(reply, Answer), reply
    return reply


# -- resolving a name against the catalog ---------------------------------------------------


def doc(file: str, manufacturer: str, *products: str, title: str = "") -> DocumentInfo:
    return DocumentInfo(file, title or file.rsplit(".", 1)[0].replace("_", " "), 10, "de", manufacturer, products)


CATALOG = [
    doc("Growatt_MIC_600TL-X.pdf", "Growatt", "MIC 600TL-X", "MIC 750TL-X"),
    doc("Growatt_MOD_TL3-X.pdf", "Growatt", "MOD 5000TL3-X"),
    doc(SOLARFUX, "SolarFux", "SF-5000TL", "SF-3000TL", "SF-6000TL"),
    doc("Victron_MultiPlus-II.pdf", "Victron Energy", "MultiPlus-II", title="Victron MultiPlus-II Manual"),
]


@pytest.mark.parametrize(
    ("text", "label", "scope", "files"),
    [
        ("Growatt MIC 600TL-X", "Growatt MIC 600TL-X", "MIC 600TL-X", {"Growatt_MIC_600TL-X.pdf"}),
        ("mic600tlx", "Growatt MIC 600TL-X", "MIC 600TL-X", {"Growatt_MIC_600TL-X.pdf"}),
        ("sf-3000tl", "SolarFux SF-3000TL", "SF-3000TL", {SOLARFUX}),
        ("SolarFux", "SolarFux", "SolarFux", {SOLARFUX}),
        ("5000TL3", "Growatt MOD 5000TL3-X", "MOD 5000TL3-X", {"Growatt_MOD_TL3-X.pdf"}),
        ("000TL", None, None, None),  # several models of SolarFux and one of Growatt: a choice
        ("multiplus", "Victron Energy MultiPlus-II", "MultiPlus-II", {"Victron_MultiPlus-II.pdf"}),
    ],
)
def test_a_device_name_resolves_to_its_manuals(text: str, label: str | None, scope: str, files: set[str]) -> None:
    found = resolve(text, CATALOG)
    if label is None:
        assert len(found) > 1
        return
    assert [(m.label, m.scope, set(m.files)) for m in found] == [(label, scope, files)]


def test_a_brand_with_several_manuals_is_a_choice_and_an_unknown_name_is_none() -> None:
    assert sorted(m.label for m in resolve("Growatt", CATALOG)) == ["Growatt MIC 600TL-X", "Growatt MOD 5000TL3-X"]
    assert resolve("Fronius Symo", CATALOG) == []
    assert resolve("xyz 123", CATALOG) == []
    assert resolve("  ", CATALOG) == []


def test_strict_matching_ignores_partial_words_a_question_is_full_of() -> None:
    assert resolve("Fehler 5000 beim Start", CATALOG, loose=False) == []
    assert [m.label for m in resolve("Fehler beim SF-5000TL", CATALOG, loose=False)] == ["SolarFux SF-5000TL"]


# -- through the conversation core --------------------------------------------------------


@pytest.fixture
def conversation(device_kb: KnowledgeBase, store: Store) -> Conversation:
    return make_conversation(device_kb, store)


async def test_device_sets_narrows_names_and_clears(conversation: Conversation, store: Store) -> None:
    key = ChatKey("telegram", "c1")
    assert isinstance(await final(conversation, msg(E013)), Clarification)  # two makers list E013

    set_it = await answer(conversation, msg("/device sf-5000tl"))
    assert set_it.text.startswith("Gerät gemerkt: SolarFux SF-5000TL") and "SolarFux" in set_it.text
    assert "Rückfrage („Welches Gerät meinen Sie?“) habe ich verworfen" in set_it.text  # /device answered it
    assert await store.pause(key) is None
    stored = await store.device(key)
    assert stored is not None and (stored.label, stored.scope, stored.user_id) == (
        "SolarFux SF-5000TL",
        "SF-5000TL",
        "u1",
    )

    narrowed = await answer(conversation, msg(E013))
    assert narrowed.kind == "answer" and narrowed.text.startswith("SolarFux SF-5000TL · Laut Handbuch")
    assert "Fehlerstrom zu hoch" in narrowed.text and {c.file for c in narrowed.citations} == {SOLARFUX}
    history = await store.history(key, 2)
    assert history[-1].content == narrowed.text  # stored as sent

    missing = await answer(conversation, msg("Wie wird die Wärmepumpe entlüftet?"))
    assert missing.kind == "not_found" and missing.text.startswith("SolarFux SF-5000TL · ")
    assert "nur in den Handbüchern zu SolarFux SF-5000TL gesucht; /device off" in missing.text

    shown = await answer(conversation, msg("/device"))
    assert "SolarFux SF-5000TL" in shown.text and "/device off" in shown.text

    off = await answer(conversation, msg("/device off"))
    assert "allen Handbüchern" in off.text and await store.device(key) is None
    assert isinstance(await final(conversation, msg(E013)), Clarification)  # all manuals again
    again = await answer(conversation, msg("/device off"))
    assert "kein Gerät" in again.text


async def test_a_question_about_another_brand_answers_for_it_and_keeps_the_device(
    conversation: Conversation, store: Store
) -> None:
    await answer(conversation, msg("/device SF-5000TL"))
    other = await answer(conversation, msg("Voltronic Fehler E013"))
    assert other.text.startswith("Voltronic Power · ") and "Batteriespannung zu niedrig" in other.text
    assert {c.file for c in other.citations} == {VOLTRONIC}
    assert "bleibt SolarFux SF-5000TL" in other.text
    stored = await store.device(ChatKey("telegram", "c1"))
    assert stored is not None and stored.label == "SolarFux SF-5000TL"  # not silently replaced
    unknown = await answer(conversation, msg("Fronius Symo Fehler E013"))
    assert unknown.kind == "not_found" and "Fronius" in unknown.text and "bleibt SolarFux" in unknown.text


async def test_an_unknown_or_ambiguous_name_gets_a_german_note_or_a_choice(
    seeded_cache: Path, embedder: E5Embedder, manuals: Path, store: Store
) -> None:
    (manuals / "SolarFux_SF-8000TL_Kurzanleitung.md").write_text(
        "# SolarFux SF-8000TL Kurzanleitung\n\n## Fehlercodes\n\nE031 Lüfter blockiert | Lüfter reinigen\n",
        encoding="utf-8",
    )
    with (manuals / "catalog.toml").open("a", encoding="utf-8") as catalog:
        catalog.write('\n[[manual]]\nfile = "SolarFux_SF-8000TL_Kurzanleitung.md"\nmanufacturer = "SolarFux"\n')
    kb = open_kb(seeded_cache, embedder)
    kb.index([manuals])
    conversation = make_conversation(kb, store)
    unknown = await answer(conversation, msg("/device Gibtsnicht 9000"))
    assert unknown.kind == "not_found" and "finde ich in keinem Handbuch" in unknown.text and "/docs" in unknown.text
    choice = await answer(conversation, msg("/device SolarFux"))
    assert "mehrere Geräte" in choice.text
    commands = [b.command for b in choice.buttons]
    assert "/device SolarFux SF-8000TL" in commands and len(commands) == 2
    assert await store.device(ChatKey("telegram", "c1")) is None
    pressed = IncomingMessage("telegram", "c1", "u1", "U1", "m-press", "", callback_data=choice.buttons[0].data)
    assert (await answer(conversation, pressed)).text.startswith("Gerät gemerkt: ")
    assert await store.device(ChatKey("telegram", "c1")) is not None


async def test_a_clarification_answer_naming_a_device_remembers_it(conversation: Conversation, store: Store) -> None:
    asked = await final(conversation, msg(E013))
    assert isinstance(asked, Clarification)
    option = next(o for o in asked.options if "Voltronic" in o)
    resumed = await answer(conversation, msg(option))
    assert resumed.text.startswith("Voltronic Power · ") and "Batteriespannung zu niedrig" in resumed.text
    assert "Gerät gemerkt: Voltronic Power" in resumed.text
    stored = await store.device(ChatKey("telegram", "c1"))
    assert stored is not None and stored.label == "Voltronic Power"
    later = await answer(conversation, msg(E013))  # no clarification any more: narrowed
    assert later.text.startswith("Voltronic Power · ") and {c.file for c in later.citations} == {VOLTRONIC}
    assert "Gerät gemerkt" not in later.text  # said once


async def test_groups_keep_one_device_per_thread(conversation: Conversation, store: Store) -> None:
    await answer(conversation, msg("/device SF-5000TL", "g", "anna", is_group=True, thread_id="1"))
    one = await answer(conversation, msg(E013, "g", "ben", is_group=True, mentions_bot=True, thread_id="1"))
    assert one.text.startswith("SolarFux SF-5000TL · ")
    two = await final(conversation, msg(E013, "g", "ben", is_group=True, mentions_bot=True, thread_id="2"))
    assert isinstance(two, Clarification)
    assert await store.device(ChatKey("telegram", "g", "2")) is None
    assert await store.device(ChatKey("telegram", "g")) is None


async def test_a_device_whose_manuals_left_the_index_is_said_and_not_used(
    conversation: Conversation, store: Store
) -> None:
    await store.set_device(ChatKey("telegram", "c1"), Device("Kaputt 9000", "Kaputt 9000", "u1"))
    reply = await final(conversation, msg(E013))
    assert isinstance(reply, Clarification)  # all manuals: two makers list E013
    assert reply.question.startswith("Zu Kaputt 9000 habe ich kein Handbuch mehr")


async def test_device_without_an_index_says_so(tmp_path: Path, embedder: E5Embedder, store: Store) -> None:
    conversation = make_conversation(open_kb(tmp_path / "nothing", embedder), store)
    reply = await answer(conversation, msg("/device SF-5000TL"))
    assert "noch keine Handbücher indexiert" in reply.text and await store.device(ChatKey("telegram", "c1")) is None


async def test_the_device_survives_a_restart(device_kb: KnowledgeBase, tmp_path: Path) -> None:
    from storage.db import database_url

    url = database_url(tmp_path / "chat-restart", None)
    first = await Store.open(url)
    await answer(make_conversation(device_kb, first), msg("/device Voltronic"))
    await first.close()
    again = await Store.open(url)
    try:
        narrowed = await answer(make_conversation(device_kb, again), msg(E013))
        assert narrowed.text.startswith("Voltronic Power · ")
    finally:
        await again.close()


async def test_a_nameplate_photo_remembers_the_device(device_kb: KnowledgeBase, store: Store, tmp_path: Path) -> None:
    photos = PhotoIntake(PhotoStore(tmp_path / "photos", 30), 1 << 24)
    conversation = make_conversation(device_kb, store, reader=PhotoReader(RapidOcr()), photos=photos)
    plate = ImageInput(nameplate_photo(["SolarFux", "Typ: SF-5000TL"]), "image/jpeg")
    asked = await final(conversation, msg("", images=(plate,)))
    assert isinstance(asked, Clarification)  # no code on a nameplate: type it
    assert asked.question.startswith("Gerät gemerkt: SolarFux SF-5000TL")
    stored = await store.device(ChatKey("telegram", "c1"))
    assert stored is not None and stored.scope == "SF-5000TL"
    typed = await answer(conversation, msg("E013"))
    assert typed.text.startswith("SolarFux SF-5000TL · ") and "Fehlerstrom zu hoch" in typed.text


async def test_a_question_turn_with_a_device_is_still_two_transactions(device_kb: KnowledgeBase, store: Store) -> None:
    """Counted as in ``test_conversation``: from the stored update until the dispatcher is idle.
    The device is read with the turn's state and a device a clarification answer names is
    written with the turn."""
    conversation = make_conversation(device_kb, store)
    dispatcher = Dispatcher(Inbox(store.engine), lease=timedelta(minutes=5))
    answers: list[Reply] = []

    async def process(delivery: Delivery, receipt: Receipt) -> None:
        message = msg(delivery.payload["text"])
        answers.extend([reply async for reply in conversation.handle(message, receipt=receipt)])

    dispatcher.register("telegram", process)
    begun = count_transactions(store.engine)
    per_turn = []
    for n, text in enumerate([E013, "2", E013]):  # asked back, answered (device set), narrowed
        assert await dispatcher.submit(ChatKey("telegram", "c1"), f"u{n}", {"text": text})
        before = begun[0]
        await asyncio.wait_for(dispatcher.drain(), 30)
        per_turn.append(begun[0] - before)
    assert per_turn == [2, 2, 2]
    assert isinstance(answers[-1], Answer) and " · " in answers[-1].text
    stored = await store.device(ChatKey("telegram", "c1"))
    assert stored is not None and stored == Device(stored.label, stored.scope, "u1", stored.set_at)


async def test_the_agent_searches_the_chats_device_unless_the_model_names_another(
    device_kb: KnowledgeBase, store: Store
) -> None:
    script = [
        Calls(("search_knowledge", {"query": "Fehler E013"})),
        Text("Batteriespannung zu niedrig [Voltronic Axpert Kurzanleitung, S. 1]"),
        Calls(("search_knowledge", {"query": "Fehler E013", "product": "SF-5000TL"})),
        Text("Fehlerstrom zu hoch."),
    ]
    async with ScriptedOpenAI(script) as api:
        client = LlmClient("sk-test", api.base_url)
        commands = Commands(device_kb, store, frozenset(), Path("unused"), "m")
        conversation = Conversation(store, LlmAgent(device_kb, client, "m"), commands)
        try:
            await answer(conversation, msg("/device Voltronic"))
            narrowed = await answer(conversation, msg(E013))
            assert narrowed.text.startswith("Voltronic Power · Batteriespannung")
            await answer(conversation, msg("und beim anderen Gerät?"))
        finally:
            await conversation.aclose()
            await client.close()
    first = api.requests[0]
    assert len(api.requests) == 4
    assert any("Gerät dieses Chats: Voltronic Power" in str(m["content"]) for m in first["messages"][:3])
    hits = json.loads(_tool_result(api.requests[1]))["hits"]
    assert hits and {h["file"] for h in hits} == {VOLTRONIC}  # no product from the model: the chat's device
    hits = json.loads(_tool_result(api.requests[3]))["hits"]
    assert hits and {h["file"] for h in hits} == {SOLARFUX}  # the model named another one


def _tool_result(request: dict[str, Any]) -> str:
    return str(next(m for m in reversed(request["messages"]) if m["role"] == "tool")["content"])
