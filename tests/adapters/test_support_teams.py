"""Hand-off to a human on Teams, against the fake Bot Framework: a technician's case from a
personal chat becomes a new post in the support channel, an agent's @mention reply in that
post's thread reaches the technician, follow-ups land in the thread, ``done`` closes it."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from teams_harness import TITLE, serving

from fakes import Calls, Text
from knowledge.service import KnowledgeBase

PERSONAL = "a:1Xq9w8Bf7Wk3hOz2Lr5nV0cYpT4uMsEiJd6gKaHbRlFxNyQe"  # Anna's personal chat
CHANNEL = "19:f00dfeed0c1f4b2a9d3e8b7a6c5d4e3f@thread.tacv2"  # the support channel


async def test_a_case_from_a_personal_chat_reaches_the_support_channel_and_back(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb, NIK_SUPPORT_CHAT=f"teams:{CHANNEL}") as teams:
        fake = teams.fake
        assert (await teams.post(fake.activity("conversation_update_install")))[0] == 201  # Nik joins the team
        await fake.wait_for(lambda: len(fake.messages()) == 1)
        opened = fake.activity("personal_message", id="p1", text="support Wechselrichter piept dauernd")
        assert (await teams.post(opened))[0] == 201
        await fake.wait_for(lambda: len(fake.messages()) == 3)
        await teams.nik.dispatcher.drain()
        case = next(s for s in fake.messages()[1:] if s.conversation_id == CHANNEL)
        told = next(s for s in fake.messages()[1:] if s.conversation_id == PERSONAL)
        assert case.reply_to is None and case.text.startswith("🧑‍🔧 Support-Fall #1")
        assert "Anna Becker (Teams)" in case.text and "„Wechselrichter piept dauernd“" in case.text
        assert case.activity["textFormat"] == "plain" and "Fall **#1**" in told.text

        # Ben answers in the case post's thread, mentioning Nik (channels deliver only mentions)
        thread = f"{CHANNEL};messageid={case.id}"
        reply = fake.activity(
            "channel_thread",
            id="c1",
            text="<at>Nik</at> Bitte ein Foto vom Typenschild",
            conversation={"isGroup": True, "conversationType": "channel", "id": thread},
            replyToId=case.id,
        )
        assert (await teams.post(reply))[0] == 201
        await fake.wait_for(lambda: len(fake.messages()) == 4)
        relayed = fake.messages()[3]
        assert (
            relayed.conversation_id == PERSONAL
            and relayed.text == "Support (Ben Krüger): Bitte ein Foto vom Typenschild"
        )

        # a photo in the thread reaches Anna inline, as a stripped JPEG
        fake.images["label.png"] = _png()
        photo = fake.activity(
            "channel_thread",
            id="c2",
            text="<at>Nik</at> So sieht das Typenschild aus",
            conversation={"isGroup": True, "conversationType": "channel", "id": thread},
            replyToId=case.id,
            attachments=[{"contentType": "image/*", "contentUrl": f"{fake.url}/attachments/label.png"}],
        )
        assert (await teams.post(photo))[0] == 201
        await fake.wait_for(lambda: len(fake.messages()) == 5)
        shown = fake.messages()[4]
        [image] = shown.activity["attachments"]
        assert shown.conversation_id == PERSONAL and shown.text == "Support (Ben Krüger): So sieht das Typenschild aus"
        assert image["contentType"] == "image/jpeg" and image["contentUrl"].startswith("data:image/jpeg;base64,")

        # Anna's next message lands in the case thread; Nik does not answer it
        assert (await teams.post(fake.activity("personal_message", id="p2", text="Kommt gleich")))[0] == 201
        await fake.wait_for(lambda: len(fake.messages()) == 6)
        await teams.nik.dispatcher.drain()
        follow_up = fake.messages()[5]
        assert follow_up.conversation_id == thread and follow_up.text == "#1 Anna Becker: Kommt gleich"

        # "done" (the manifest's command, no slash) closes the case; the thread is told
        assert (await teams.post(fake.activity("personal_message", id="p3", text="done")))[0] == 201
        await fake.wait_for(lambda: len(fake.messages()) == 8)
        await teams.nik.dispatcher.drain()
        last = {s.conversation_id: s.text for s in fake.messages()[6:]}
        assert last[thread] == "Fall #1 wurde von Anna Becker geschlossen."
        assert last[PERSONAL].startswith("Fall #1 ist geschlossen")
    assert teams.llm.requests == []  # offline summary: no conversation yet, no model asked


async def test_with_a_model_the_case_carries_its_summary(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    script = [
        Calls(("search_knowledge", {"query": "E013"})),
        Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8]."),
        Text("Anna fragt nach E013 am SF-5000TL; Nik nannte den Fehlerstrom."),
    ]
    async with serving(kb_dir, sample_kb, script, NIK_SUPPORT_CHAT=f"teams:{CHANNEL}") as teams:
        fake = teams.fake
        assert (await teams.post(fake.activity("conversation_update_install")))[0] == 201
        assert (await teams.post(fake.activity("personal_message")))[0] == 201
        await fake.wait_for(lambda: len(fake.messages()) == 2, timeout=30)
        assert (await teams.post(fake.activity("personal_message", id="p9", text="support")))[0] == 201
        await fake.wait_for(lambda: len(fake.messages()) == 4, timeout=30)
        await teams.nik.dispatcher.drain()
    case = next(s for s in fake.messages()[2:] if s.conversation_id == CHANNEL)
    assert "Anna fragt nach E013 am SF-5000TL; Nik nannte den Fehlerstrom." in case.text
    assert f"Zitierte Seiten: {TITLE}, S. 8" in case.text
    summarized = str(teams.llm.requests[-1]["messages"])
    assert "Was bedeutet E013?" in summarized and teams.llm.remaining == 0


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(out, format="PNG")
    return out.getvalue()
