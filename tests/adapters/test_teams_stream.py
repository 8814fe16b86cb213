"""Teams streaming and citations end to end: the fake Bot Framework checks the streaming
protocol as Teams does, the scripted model streams its answer with tool calls."""

from __future__ import annotations

import asyncio
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

from teams_fake import Sent, stream_info
from teams_harness import TITLE, serving

from fakes import Calls, Text
from knowledge.service import KnowledgeBase
from storage.store import ChatKey

FILE = "SolarFux_SF-5000TL_Handbuch.pdf"
ANSWER = (
    "E013 bedeutet: Der Fehlerstrom (Isolationsfehler) ist zu hoch. Schalten Sie den Wechselrichter "
    "DC-seitig frei, prüfen Sie die Isolation der PV-Stränge gegen Erde und die Steckverbinder auf "
    f"Feuchtigkeit [{TITLE}, S. 8]. Tritt der Fehler erneut auf, den Service verständigen."
)
MESSAGE = "https://schema.org/Message"
PERSONAL = "a:1Xq9w8Bf7Wk3hOz2Lr5nV0cYpT4uMsEiJd6gKaHbRlFxNyQe"
SEARCH = Calls(("search_knowledge", {"query": "E013"}))


def info(sent: Sent) -> dict[str, Any]:
    found = stream_info(sent.activity)
    assert found is not None
    return found


def message_entity(sent: Sent) -> dict[str, Any] | None:
    found = [e for e in sent.activity.get("entities") or () if e.get("type") == MESSAGE]
    assert len(found) <= 1  # one root-level message entity
    return found[0] if found else None


def check_citations(sent: Sent) -> dict[str, Any]:
    """The message entity's claims match the ``[n]`` markers in the text and Teams' limits."""
    entity = message_entity(sent)
    assert entity is not None
    assert entity["@type"] == "Message" and entity["@context"] == "https://schema.org"
    claims = entity["citation"]
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", sent.text)}
    assert {c["position"] for c in claims} == markers and markers
    for claim in claims:
        appearance = claim["appearance"]
        assert claim["@type"] == "Claim" and appearance["@type"] == "DigitalDocument"
        assert len(appearance["name"]) <= 80 and 0 < len(appearance["abstract"]) <= 160
        assert all(len(k) <= 28 for k in appearance["keywords"]) and len(appearance["keywords"]) <= 3
    return entity


async def test_a_personal_chat_streams_progress_then_the_answer_then_the_final_message(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    searching, reading, halfway = asyncio.Event(), asyncio.Event(), asyncio.Event()
    script = [
        Calls(("search_knowledge", {"query": "E013"})),
        Calls(("get_full_document", {"file": FILE, "pages": [8]}), until=searching),
        Text(ANSWER, until=reading, midway=halfway),
    ]
    async with serving(kb_dir, sample_kb, script) as teams:
        teams.llm.chunk_chars = 12
        fake = teams.fake

        def shown(kind: str, text: str = "") -> bool:
            return any(info(s).get("streamType") == kind and text in s.text for s in fake.streamed())

        assert (await teams.post(fake.activity("personal_message")))[0] == 201
        await fake.wait_for(lambda: shown("informative", "Suche: E013"))
        searching.set()  # each next model step once the last one was shown (notes between are merged)
        await fake.wait_for(lambda: shown("informative", "Lese Handbuch"))
        reading.set()
        await fake.wait_for(lambda: shown("streaming"))
        halfway.set()  # the rest of the answer once a part of it streamed
        await fake.wait_for(lambda: bool(fake.messages()))
        await teams.nik.dispatcher.drain()
    start, *updates, final = fake.streamed()
    assert start.type == "typing" and start.text == "Ich suche in den Handbüchern…"
    assert info(start) == {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}
    stream_id = "bot-1"  # the id the fake answered the first update with
    informative = [u for u in updates if info(u)["streamType"] == "informative"]
    streaming = [u for u in updates if info(u)["streamType"] == "streaming"]
    assert updates == informative + streaming and streaming  # progress notes first, then the answer
    assert [u.text for u in informative] == ["🔎 Suche: E013", f"📖 Lese Handbuch {TITLE}, S. 8"]
    assert [info(u)["streamSequence"] for u in updates] == list(range(2, len(updates) + 2))
    assert {info(u)["streamId"] for u in updates} == {stream_id} and all(u.type == "typing" for u in updates)
    texts = [u.text for u in streaming]
    assert all(later.startswith(earlier) for earlier, later in pairwise(texts))
    assert ANSWER.startswith(texts[0]) and len(texts[0]) < len(ANSWER)
    assert final.type == "message" and fake.messages() == [final]
    assert info(final) == {"type": "streaminfo", "streamType": "final", "streamId": stream_id}
    assert final.text.startswith("E013 bedeutet") and "Feuchtigkeit [1]." in final.text
    assert f"- [1] {TITLE}, S. 8" in final.text  # for clients that show no citations
    entity = check_citations(final)
    assert entity["additionalType"] == ["AIGeneratedContent"]
    [claim] = entity["citation"]
    assert claim["appearance"]["name"] == f"{TITLE}, S. 8" and claim["appearance"]["keywords"] == ["S. 8"]
    assert [title for title, _ in final.submits()] == ["📄 PDF", "👍 Hilfreich", "👎 Nicht hilfreich"]
    assert fake.refused == [] and fake.throttled == 0
    assert not any(s.type == "typing" and stream_info(s.activity) is None for s in fake.sent)  # no plain typing


async def test_a_note_that_arrives_while_an_update_is_under_way_is_sent_after_it(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    """The connector is slow to answer "Suche": the tool's note, buffered meanwhile, still goes
    out once it has answered, with no later update to carry it (the model waits for it)."""
    searching, reading, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    script = [
        SEARCH,
        Calls(("get_full_document", {"file": FILE, "pages": [8]}), until=searching),
        Text(ANSWER, until=reading),
    ]
    async with serving(kb_dir, sample_kb, script) as teams:
        fake = teams.fake
        fake.hold_updates = release

        def shown(text: str) -> bool:
            return any(info(s).get("streamType") == "informative" and text in s.text for s in fake.streamed())

        assert (await teams.post(fake.activity("personal_message")))[0] == 201
        await fake.wait_for(lambda: shown("Suche: E013"))  # received; its answer is held
        searching.set()
        await fake.wait_for(lambda: len(teams.llm.requests) == 3)  # the tool ran: its note is buffered
        release.set()
        await fake.wait_for(lambda: shown("Lese Handbuch"))
        reading.set()
        await fake.wait_for(lambda: bool(fake.messages()))
        await teams.nik.dispatcher.drain()
    assert fake.messages()[0].text.startswith("E013 bedeutet")


async def test_channels_and_group_chats_get_one_final_message(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    reply = Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].")
    script = [
        Calls(("search_knowledge", {"query": "E013"})),
        reply,
        Calls(("search_knowledge", {"query": "E013"})),
        reply,
    ]
    async with serving(kb_dir, sample_kb, script) as teams:
        assert (await teams.post(teams.fake.activity("channel_thread")))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 1)
        assert (await teams.post(teams.fake.activity("group_mention")))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2)
        await teams.nik.dispatcher.drain()
    channel, group = teams.fake.messages()
    assert teams.fake.streamed() == []  # no stream, no progress notes
    assert channel.text.startswith("Fehlerstrom zu hoch") and f"- {TITLE}, S. 8" in channel.text
    assert "[1]" not in channel.text and message_entity(channel) is None  # Teams shows neither in channels
    assert "Fehlerstrom zu hoch [1]." in group.text
    assert check_citations(group)["additionalType"] == ["AIGeneratedContent"]


async def test_the_offline_answer_streams_and_cites_but_carries_no_ai_label(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb, OPENAI_API_KEY="", OPENAI_BASE_URL="") as teams:
        assert (await teams.post(teams.fake.activity("personal_message")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    start, final = teams.fake.streamed()
    assert start.text == "Ich suche in den Handbüchern…" and info(start)["streamType"] == "informative"
    assert info(final) == {"type": "streaminfo", "streamType": "final", "streamId": "bot-1"}
    assert final.text.startswith("Laut Handbuch:") and "E013" in final.text
    entity = check_citations(final)
    assert "additionalType" not in entity  # quoted from the manual, not written by a model
    assert any("E013" in c["appearance"]["abstract"] for c in entity["citation"])  # the quoted lines
    assert teams.llm.requests == [] and teams.fake.refused == []


async def test_where_teams_refuses_to_stream_the_answer_is_a_normal_message(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb, OPENAI_API_KEY="", OPENAI_BASE_URL="") as teams:
        teams.fake.stream_seconds = -1.0  # every stream is over at once: Teams refuses its updates
        assert (await teams.post(teams.fake.activity("personal_message")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages() or teams.fake.updates))
        await teams.nik.dispatcher.drain()
    [start] = teams.fake.streamed()
    assert info(start)["streamType"] == "informative"
    # the final message is refused (403, stream over): the streamed message is replaced in place
    assert [status for status, _ in teams.fake.refused] == [403]
    [update] = teams.fake.updates
    assert update.reply_to == "bot-1" and update.text.startswith("Laut Handbuch:")
    assert stream_info(update.activity) is None and message_entity(update) is not None


async def test_text_that_does_not_extend_the_stream_is_not_streamed(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    shown = asyncio.Event()
    script = [
        Calls(("search_knowledge", {"query": "E013"}), content="Einen Moment, ich schaue im Handbuch nach."),
        Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].", until=shown),
    ]
    async with serving(kb_dir, sample_kb, script) as teams:
        assert (await teams.post(teams.fake.activity("personal_message")))[0] == 201
        await teams.fake.wait_for(lambda: any(s.text.startswith("Einen Moment") for s in teams.fake.streamed()))
        shown.set()
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    *updates, final = teams.fake.streamed()
    streamed = [u.text for u in updates if info(u)["streamType"] == "streaming"]
    assert streamed == ["Einen Moment, ich schaue im Handbuch nach."]  # the model's new text did not follow
    assert final.text.startswith("Fehlerstrom zu hoch [1].") and teams.fake.refused == []


async def test_after_the_user_pressed_stop_nothing_more_is_sent_but_the_turn_is_kept(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb, [SEARCH, Text(ANSWER)]) as teams:
        teams.fake.stop_after = 1  # Stop pressed right after the first update
        assert (await teams.post(teams.fake.activity("personal_message")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.refused))
        await teams.nik.dispatcher.drain()
        history = await teams.nik.store.turn_state(ChatKey("teams", PERSONAL), 6)
    [start] = teams.fake.streamed()
    assert start.text == "Ich suche in den Handbüchern…"
    assert [status for status, _ in teams.fake.refused] == [403]  # one refused update, then silence
    assert teams.fake.messages() == [] and teams.fake.updates == []
    assert [m.role for m in history.history] == ["user", "assistant"]  # the answer is still stored


async def test_where_streaming_is_not_allowed_the_chat_gets_typing_and_one_message(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb, [SEARCH, Text(ANSWER)]) as teams:
        teams.fake.streaming_allowed = False
        assert (await teams.post(teams.fake.activity("personal_message")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    assert [status for status, _ in teams.fake.refused] == [403]  # the first update only, never again
    assert teams.fake.streamed() == []
    [answer] = teams.fake.messages()
    assert answer.text.startswith("E013 bedeutet") and check_citations(answer)["additionalType"]
    assert any(s.type == "typing" and stream_info(s.activity) is None for s in teams.fake.sent)  # plain typing
