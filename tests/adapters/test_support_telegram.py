"""Hand-off to a human through ``nik serve`` against the fake Bot API: a technician's case in a
private chat reaches the support group, the support reply reaches only that technician, follow-ups
and photos relay, ``/done`` closes from either side, a restart in between loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram_fake import FakeTelegram
from telegram_helpers import serving, settings_for, tiny_jpeg

from adapters.serve import Server
from bot.config import Settings
from bot.support.desk import NOT_SET
from knowledge.service import KnowledgeBase

SUPPORT = -100900  # the support team's group
ANNA, BERT = 100, 200  # two technicians' private chats (user ids 42 and 43)
AGENT = 7
OTHER_GROUP = -100777
QUESTION = "Was bedeutet Fehler E013?"
OFF_TOPIC = "Wie hoch ist der Eiffelturm?"


def support_settings(kb_dir: Path, api: FakeTelegram, **extra: Any) -> Settings:
    return settings_for(kb_dir, api, NIK_SUPPORT_CHAT=f"telegram:{SUPPORT}", **extra)


async def settled(api: FakeTelegram, server: Server) -> None:
    """Every pushed update confirmed (stored and queued) and every queued turn run."""
    await api.wait_for(lambda: api.pending == 0)
    await server.nik.dispatcher.drain()


def sent_to(api: FakeTelegram, chat_id: int, method: str = "sendMessage") -> list[dict[str, Any]]:
    return api.of(method, chat_id)


def result(params: dict[str, Any]) -> dict[str, Any]:
    """The message object the fake returned for a recorded send (to reply to it)."""
    return dict(params["__result__"])


async def test_a_case_goes_to_the_support_group_and_back_to_its_technician_only(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with FakeTelegram() as api:
        api.chat(SUPPORT, "supergroup")
        settings = support_settings(kb_dir, api)
        async with serving(settings, sample_kb) as server:
            api.push(api.message(BERT, text=QUESTION, user_id=43))
            api.push(api.message(ANNA, text=QUESTION))
            api.push(api.photo(ANNA, tiny_jpeg("red"), caption="So sieht das Display aus"))
            await settled(api, server)
            api.push(api.message(ANNA, text="/support Kunde wartet, E013 kommt nach dem Reset wieder"))
            await api.wait_for(lambda: bool(sent_to(api, SUPPORT)) and len(api.texts(ANNA)) >= 3)
            await settled(api, server)
            [case] = sent_to(api, SUPPORT)
            [photo] = sent_to(api, SUPPORT, "sendPhoto")
            assert "Support-Fall #1" in case["text"] and "User42 (Telegram)" in case["text"]
            assert "„Kunde wartet, E013 kommt nach dem Reset wieder“" in case["text"]
            assert "Was bedeutet Fehler E013?" in case["text"] and "So sieht das Display aus" in case["text"]
            assert "Zitierte Seiten: SolarFux" in case["text"] and "parse_mode" not in case
            assert photo["reply_parameters"]["message_id"] == result(case)["message_id"]
            assert "Fall <b>#1</b> an den Support übergeben" in api.texts(ANNA)[-1]
            bert_before = len(calls_to(api, BERT))

            # the agent answers by replying to the case message: only Anna gets it
            api.push(api.message(SUPPORT, text="Bitte die Sicherung F2 prüfen", user_id=AGENT, reply_to=result(case)))
            await api.wait_for(lambda: any("Support (User7)" in t for t in api.texts(ANNA)))
            await settled(api, server)
            assert api.texts(ANNA)[-1] == "Support (User7): Bitte die Sicherung F2 prüfen"
            assert len(calls_to(api, BERT)) == bert_before

            # Anna's next messages go to the case, as replies to the case message; Nik stays quiet
            answered = len(api.texts(ANNA))
            api.push(api.message(ANNA, text="Sicherung ist in Ordnung"))
            api.push(api.photo(ANNA, tiny_jpeg("blue"), caption="Typenschild"))
            await api.wait_for(lambda: len(sent_to(api, SUPPORT)) >= 3)
            await settled(api, server)
            follow_up, with_photo = sent_to(api, SUPPORT)[1:3]
            assert follow_up["text"] == "#1 User42: Sicherung ist in Ordnung"
            assert follow_up["reply_parameters"]["message_id"] == result(case)["message_id"]
            assert with_photo["text"] == "#1 User42: Typenschild" and len(sent_to(api, SUPPORT, "sendPhoto")) == 2
            assert len(api.texts(ANNA)) == answered

        # a restart: a new process on the same database still knows the case
        async with serving(settings, sample_kb) as server:
            api.push(api.message(SUPPORT, text="Dann Platine tauschen", user_id=AGENT, reply_to=result(follow_up)))
            await api.wait_for(lambda: api.texts(ANNA)[-1] == "Support (User7): Dann Platine tauschen")
            photo = api.photo(SUPPORT, tiny_jpeg("green"), user_id=AGENT, reply_to=result(case))
            api.push(photo)
            await api.wait_for(lambda: len(sent_to(api, ANNA, "sendPhoto")) == 1)

            # a reply elsewhere (another group, to a message with the case message's id) never relays
            relayed, texts = len(calls_to(api, ANNA)), len(api.texts(ANNA))
            api.chat(OTHER_GROUP, "supergroup")
            elsewhere = {**result(case), "chat": {"id": OTHER_GROUP, "type": "supergroup", "title": "x"}}
            api.push(api.message(OTHER_GROUP, text="Ich will auch antworten", user_id=99, reply_to=elsewhere))
            await settled(api, server)
            assert len(calls_to(api, ANNA)) == relayed

            # /nik asks Nik while the case is open; it does not reach the support chat
            posts = len(sent_to(api, SUPPORT))
            api.push(api.message(ANNA, text=f"/nik {QUESTION}"))
            await api.wait_for(lambda: "Quellen" in api.texts(ANNA)[-1])
            await settled(api, server)
            assert len(sent_to(api, SUPPORT)) == posts

            # /cases in the support chat lists the open case
            api.push(api.message(SUPPORT, text="/cases", user_id=AGENT))
            await api.wait_for(lambda: "Offene Fälle (1)" in api.texts(SUPPORT)[-1])
            assert "#1 – User42 (Telegram)" in api.texts(SUPPORT)[-1]

            # the agent closes the case; Anna is told and Nik answers her again
            api.push(api.message(SUPPORT, text="/done", user_id=AGENT, reply_to=result(case)))
            await api.wait_for(lambda: "Der Support hat Fall #1 geschlossen" in api.texts(ANNA)[-1])
            await settled(api, server)  # the two chats' replies of one turn may arrive in either order
            assert api.texts(SUPPORT)[-1] == "Fall #1 ist geschlossen."
            posts = len(sent_to(api, SUPPORT))
            api.push(api.message(ANNA, text=QUESTION))
            await api.wait_for(lambda: "Quellen" in api.texts(ANNA)[-1])
            await settled(api, server)
            assert len(sent_to(api, SUPPORT)) == posts
            late = api.message(SUPPORT, text="Noch etwas", user_id=AGENT, reply_to=result(case))
            api.push(late)
            await api.wait_for(lambda: "bereits geschlossen" in api.texts(SUPPORT)[-1])
            assert len(api.texts(ANNA)) == texts + 3  # the /nik answer, the closing note, the answer


async def test_the_technician_closes_with_done_and_the_support_chat_is_told(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with FakeTelegram() as api:
        api.chat(SUPPORT, "supergroup")
        async with serving(support_settings(kb_dir, api), sample_kb) as server:
            api.push(api.message(ANNA, text="/support"))
            await api.wait_for(lambda: bool(sent_to(api, SUPPORT)) and bool(api.texts(ANNA)))
            [case] = sent_to(api, SUPPORT)
            assert "(ohne eigenen Text" in case["text"] and "noch kein Gespräch" in case["text"]
            api.push(api.message(ANNA, text="/support nochmal"))
            await api.wait_for(lambda: len(api.texts(ANNA)) == 2)
            assert "Fall #1 ist noch offen" in api.texts(ANNA)[-1]
            api.push(api.message(ANNA, text="/done"))
            await api.wait_for(lambda: len(sent_to(api, SUPPORT)) == 2 and len(api.texts(ANNA)) == 3)
            await settled(api, server)
            notice = sent_to(api, SUPPORT)[1]
            assert notice["text"] == "Fall #1 wurde von User42 geschlossen."
            assert notice["reply_parameters"]["message_id"] == result(case)["message_id"]
            assert "Fall #1 ist geschlossen" in api.texts(ANNA)[-1]
            api.push(api.message(ANNA, text="/support zweiter Fall"))
            await api.wait_for(lambda: len(sent_to(api, SUPPORT)) == 3)
            assert "Support-Fall #2" in sent_to(api, SUPPORT)[2]["text"]
            per_day = await server.nik.support.cases.opened_per_day(_midnight())
            assert list(per_day.values()) == [2]


async def test_support_buttons_under_not_found_and_thumbs_down(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(support_settings(kb_dir, api), sample_kb) as server:
        api.push(api.message(ANNA, text=OFF_TOPIC))
        api.push(api.message(ANNA, text=QUESTION))
        await settled(api, server)
        not_found, answer = sent_to(api, ANNA)
        assert _labels(not_found)[0] == ["🧑‍🔧 Support"]
        assert ["🧑‍🔧 Support"] not in _labels(answer)
        [down] = [
            b["callback_data"] for row in answer["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "👎"
        ]
        api.push(api.press(ANNA, result(answer), down))
        await api.wait_for(lambda: len(api.texts(ANNA)) == 3)
        offer = sent_to(api, ANNA)[2]
        assert "Soll sich ein Mensch" in offer["text"] and _labels(offer) == [["🧑‍🔧 Support"]]
        support = offer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        api.push(api.press(ANNA, result(offer), support))
        await api.wait_for(lambda: bool(sent_to(api, SUPPORT)))
        assert "Support-Fall #1" in sent_to(api, SUPPORT)[0]["text"]


async def test_without_a_support_chat_there_is_no_button_and_support_explains(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb) as server:
        api.push(api.message(ANNA, text=OFF_TOPIC))
        api.push(api.message(ANNA, text="/support Hilfe!"))
        await settled(api, server)
        not_found, explained = sent_to(api, ANNA)
    assert all("Support" not in label for row in _labels(not_found) for label in row)
    assert "NIK_SUPPORT_CHAT=telegram:&lt;Chat-ID&gt;" in explained["text"] and "Administrator" in explained["text"]
    assert NOT_SET.startswith("Die Übergabe an den Support ist noch nicht eingerichtet")
    assert [c for c in api.calls if c.method in ("sendMessage", "sendPhoto") and c.params["chat_id"] != ANNA] == []


def calls_to(api: FakeTelegram, chat_id: int) -> list[Any]:
    """Every request about ``chat_id`` (messages, photos, typing, drafts)."""
    return [c for c in api.calls if c.params.get("chat_id") == chat_id]


def _labels(params: dict[str, Any]) -> list[list[str]]:
    markup = params.get("reply_markup") or {}
    return [[b["text"] for b in row] for row in markup.get("inline_keyboard", [])]


def _midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def test_an_unreachable_support_chat_is_said_and_the_next_try_opens_a_new_case(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with FakeTelegram() as api, serving(support_settings(kb_dir, api), sample_kb) as server:
        api.fail_next("sendMessage", 400, description="Bad Request: chat not found")
        api.push(api.message(ANNA, text="/support Hilfe"))
        await api.wait_for(lambda: bool(api.texts(ANNA)))
        await settled(api, server)
        assert "Support ist gerade nicht erreichbar" in api.texts(ANNA)[0]
        failed = await server.nik.support.cases.by_number(1)
        assert failed is not None and failed.status == "failed" and failed.words == "Hilfe"
        api.push(api.message(ANNA, text="/support Hilfe"))
        # the refused attempt is in the support chat's log too; the confirmation follows the case post
        await api.wait_for(lambda: len(api.texts(SUPPORT)) == 2 and len(api.texts(ANNA)) == 2)
        assert "Support-Fall #2" in api.texts(SUPPORT)[1] and "Fall <b>#2</b>" in api.texts(ANNA)[1]
