"""Teams end to end: acknowledge at once, answer later through the stored conversation
reference; threads, cards, feedback, images, files, welcome, progress, connector retries."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from teams_harness import ANNA, BEN, TITLE, serving

from adapters.teams import TeamsPlatform
from fakes import Calls, Text
from helpers import votes
from knowledge.service import KnowledgeBase
from storage.store import ChatKey

PERSONAL = "a:1Xq9w8Bf7Wk3hOz2Lr5nV0cYpT4uMsEiJd6gKaHbRlFxNyQe"
GROUP = "19:3c9b1e2f7a4d4f0b8e6a5c2d1b0a9f8e@thread.v2"
CHANNEL = "19:f00dfeed0c1f4b2a9d3e8b7a6c5d4e3f@thread.tacv2"
SEARCH = Calls(("search_knowledge", {"query": "E013"}))


async def test_a_slow_model_still_gets_a_fast_ack_and_redelivery_one_answer(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    script = [SEARCH, Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].", delay=4.0)]
    async with serving(kb_dir, sample_kb, script) as teams:
        activity = teams.fake.activity("personal_message")
        status, seconds = await teams.post(activity)
        assert status == 201 and seconds < 2.0
        for _ in range(2):  # Teams re-delivers while the turn still runs
            status, seconds = await teams.post(activity)
            assert status == 201 and seconds < 2.0
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()), timeout=30)
        await teams.nik.dispatcher.drain()
        assert await teams.stored() == 1
        reference = await teams.nik.store.reference(ChatKey("teams", PERSONAL))
    [answer] = teams.fake.messages()
    assert any(s.type == "typing" for s in teams.fake.sent[: teams.fake.sent.index(answer)])
    assert answer.text.startswith("Fehlerstrom zu hoch")
    assert "**Quellen:**" in answer.text and f"{TITLE}, S. 8" in answer.text
    assert answer.conversation_id == PERSONAL and answer.reply_to == "1741079565123"
    [(pdf, pdf_data), (up, up_data), (down, down_data)] = answer.submits()
    assert pdf == "📄 PDF" and pdf_data == "cmd:/pdf SolarFux_SF-5000TL_Handbuch.pdf 8"
    assert up.startswith("👍") and up_data.endswith(":+1") and down.startswith("👎") and down_data.endswith(":-1")
    assert reference is not None and reference["serviceUrl"] == teams.fake.service_url
    assert reference["user"]["aadObjectId"] == ANNA
    assert teams.llm.remaining == 0


async def test_channel_replies_stay_in_their_thread(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb, [Text("E014 heißt: Netzspannung zu hoch.")]) as teams:
        assert (await teams.post(teams.fake.activity("channel_thread")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        reference = await teams.nik.store.reference(ChatKey("teams", CHANNEL, "1741080000000"))
    [answer] = teams.fake.messages()
    assert answer.conversation_id == f"{CHANNEL};messageid=1741080000000"
    assert answer.text.startswith("E014 heißt")
    assert reference is not None
    question = teams.llm.requests[0]["messages"][-1]["content"]
    assert "Und was heißt E014 beim Nikolaus-Projekt?" in str(question) and "<at>" not in str(question)


async def test_a_clarification_card_is_answered_by_pressing_a_button(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    script = [
        Calls(("ask_user_clarification", {"question": "Welches Gerät?", "options": ["SF-5000TL", "SF-3000TL"]})),
        Text(f"Beim SF-3000TL: 4 mm² [{TITLE}, S. 5]."),
    ]
    async with serving(kb_dir, sample_kb, script) as teams:
        assert (await teams.post(teams.fake.activity("group_mention")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        [card] = teams.fake.messages()
        assert card.cards()[0]["body"][0]["text"] == "Welches Gerät?"
        assert card.submits() == [("SF-5000TL", "opt:1"), ("SF-3000TL", "opt:2")]
        key = ChatKey("teams", GROUP)
        pause = await teams.nik.store.pause(key)
        assert pause is not None and pause.user_id == BEN
        press = teams.fake.activity("card_submit", value={"nik": "opt:2"})
        assert (await teams.post(press))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2)
        assert await teams.nik.store.pause(key) is None
    answer = teams.fake.messages()[1]
    assert answer.text.startswith("SolarFux SF-3000TL · Beim SF-3000TL")  # the answer named a device: remembered
    assert "Gerät gemerkt: SolarFux SF-3000TL" in answer.text
    assert "SF-3000TL" in str(teams.llm.requests[-1]["messages"])


async def test_thumbs_up_is_stored_as_feedback(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb, [SEARCH, Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].")]) as teams:
        assert (await teams.post(teams.fake.activity("group_mention", text="<at>Nik</at> E013?")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        [up] = [data for title, data in teams.fake.messages()[0].submits() if title.startswith("👍")]
        assert (await teams.post(teams.fake.activity("card_submit", value={"nik": up})))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2)
        found = await votes(teams.nik.store.engine, ChatKey("teams", GROUP))
    assert teams.fake.messages()[1].text == "Danke für Ihr Feedback!"
    assert list(found.values()) == [1]


async def test_inline_images_only_from_trusted_hosts_with_the_bots_token(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format="PNG")
    async with serving(kb_dir, sample_kb, [Text("Auf dem Foto ist nichts zu erkennen.")]) as teams:
        teams.fake.images["display.png"] = buffer.getvalue()
        activity = teams.fake.activity("image_attachment")
        untrusted = {"contentType": "image/*", "contentUrl": teams.fake.url.replace("127.0.0.1", "localhost")}
        activity["attachments"].append({**untrusted, "contentUrl": untrusted["contentUrl"] + "/attachments/x.png"})
        assert (await teams.post(activity))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2, timeout=60)
    assert teams.fake.image_auth == ["Bearer bot-token-1"]  # one download: the trusted host, with the token
    note, answer = teams.fake.messages()
    assert "Bild konnte ich nicht laden" in note.text
    assert answer.text.startswith("Auf dem Foto")
    [_, image] = teams.llm.requests[0]["messages"][-1]["content"]  # the question's text, then the one photo
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/jpeg;base64,")


async def test_a_sharepoint_file_gets_a_note_and_no_turn(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb) as teams:
        assert (await teams.post(teams.fake.activity("file_share")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    [note] = teams.fake.messages()
    assert "SharePoint/OneDrive" in note.text and "einfügen" in note.text
    assert teams.llm.requests == [] and teams.fake.image_auth == []


async def test_install_in_a_team_says_hello_once(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb) as teams:
        install = teams.fake.activity("conversation_update_install")
        for _ in range(2):
            assert (await teams.post(install))[0] == 201
        others = teams.fake.activity("conversation_update_install", id="f:other", membersAdded=[{"id": "29:x"}])
        assert (await teams.post(others))[0] == 200
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    [hello] = teams.fake.messages()
    assert hello.text.startswith("Hallo, ich bin **Nik**") and hello.conversation_id == CHANNEL


async def test_admin_reindex_without_slash_updates_one_progress_message(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb, NIK_ADMINS=f"teams:{ANNA}") as teams:
        assert (await teams.post(teams.fake.activity("personal_message", text="reindex")))[0] == 201
        await teams.fake.wait_for(lambda: any("Index aktualisiert" in u.text for u in teams.fake.updates), 60)
        assert (await teams.post(teams.fake.activity("personal_message", id="2", text="status")))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2)
    started, status = teams.fake.messages()
    assert started.text.startswith("Indexierung gestartet")
    assert {u.reply_to for u in teams.fake.updates} == {"bot-1"}  # the PUT names the first message
    assert status.text.startswith("Index: Version")


async def test_throttling_is_retried_and_a_cut_connection_is_not_resent(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb) as teams:
        teams.fake.fail_next = [429, 502, 504]
        assert (await teams.post(teams.fake.activity("personal_message", text="help")))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        assert teams.fake.attempts == 4 and len(teams.fake.messages()) == 1

        teams.fake.drop_next = 1  # read, then the connection breaks: it may have arrived
        assert (await teams.post(teams.fake.activity("personal_message", id="2", text="docs")))[0] == 201
        await teams.nik.dispatcher.drain()  # the turn is over: a resend would have happened in it
        assert teams.fake.attempts == 5 and len(teams.fake.messages()) == 1

        teams.fake.fail_next = [403]  # not retried either
        assert (await teams.post(teams.fake.activity("personal_message", id="3", text="docs")))[0] == 201
        await teams.nik.dispatcher.drain()
        assert teams.fake.attempts == 6 and len(teams.fake.messages()) == 1

        assert (await teams.post(teams.fake.activity("personal_message", id="4", text="docs")))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2)
    assert "Handbücher" in teams.fake.messages()[1].text


async def test_a_note_of_nik_s_own_goes_to_a_chat_it_has_been_in(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb, [SEARCH, Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].")]) as teams:
        [platform] = teams.server.platforms
        assert isinstance(platform, TeamsPlatform)
        await platform.notify("19:never-seen@thread.v2", "niemand hört zu")  # no reference: only logged
        assert not teams.fake.messages()
        status, _ = await teams.post(teams.fake.activity("personal_message"))
        assert status == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()), timeout=30)
        await teams.nik.dispatcher.drain()
        await platform.notify(PERSONAL, "Geplante Indexierung: Index aktualisiert")
    note = teams.fake.messages()[-1]
    assert note.text == "Geplante Indexierung: Index aktualisiert" and note.conversation_id == PERSONAL
