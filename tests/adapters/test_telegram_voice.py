"""Voice notes through ``nik serve`` against the fake Bot API and the scripted speech endpoint.

Real python-telegram-bot, inbox, dispatcher and SQLite; the offline engine on the
sample manual (voice needs nothing but ``NIK_STT_BASE_URL``); a real OGG/Opus file."""

from __future__ import annotations

import time
from pathlib import Path

from telegram_fake import BOT_USER, FakeTelegram
from telegram_helpers import serving, settings_for
from test_telegram_serve import GROUP, QUESTION, settled

from bot.voice.intake import EMPTY, NOT_CONFIGURED
from bot.voice.transcriber import UNAVAILABLE
from fakes import Calls, ScriptedOpenAI, Status, Text, Transcript
from knowledge.service import KnowledgeBase
from ogg import ogg_opus
from storage.store import ChatKey

HEARD = f"🎤 Verstanden: „{QUESTION}“"
PRIVATE = 100


def files_holding(root: Path, needle: bytes) -> list[Path]:
    """Every file under ``root`` (the database with its WAL, the photo folder, …) containing ``needle``."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_a_private_voice_note_is_shown_as_understood_then_answered_with_a_citation(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    audio = ogg_opus(3.0)
    async with ScriptedOpenAI([], speech=[Transcript(f"  {QUESTION} ")]) as stt, FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_STT_BASE_URL=stt.base_url)  # no LLM, no key
        async with serving(settings, sample_kb) as server:
            update = api.push(api.voice(PRIVATE, audio, seconds=3))
            await api.wait_for(lambda: len(api.texts(PRIVATE)) >= 2)
            await server.nik.dispatcher.drain()
            stored = await server.nik.store.history(ChatKey("telegram", str(PRIVATE)), 10)
    heard, answer = api.texts(PRIVATE)
    assert heard == HEARD
    assert "E013" in answer and "<b>Quellen:</b>\n• SolarFux SF-5000TL" in answer
    [upload] = stt.transcriptions
    assert upload.data == audio  # as Telegram delivered it: OGG/Opus, not decoded
    assert (upload.file_name, upload.content_type) == ("voice.ogg", "audio/ogg")
    assert upload.fields == {"model": "whisper-1", "language": "de", "response_format": "json"}
    assert api.downloads == [update["message"]["voice"]["file_id"]]
    assert (stored[0].role, stored[0].content) == ("user", QUESTION)  # the transcript is the question
    assert files_holding(kb_dir, b"OpusHead") == []  # the audio is kept nowhere


async def test_in_a_group_a_voice_reply_to_nik_and_a_mentioning_caption_are_answered_others_not(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    audio = ogg_opus(2.0)
    speech = [Transcript(QUESTION), Transcript("Fehler E013 – was tun?")]
    async with ScriptedOpenAI([], speech=speech) as stt, FakeTelegram() as api:
        chat = api.chat(GROUP, "supergroup")
        by_nik = {"message_id": 9, "date": int(time.time()), "chat": chat, "from": BOT_USER, "text": "…"}
        async with serving(settings_for(kb_dir, api, NIK_STT_BASE_URL=stt.base_url), sample_kb) as server:
            api.push(api.voice(GROUP, audio))  # nobody addressed
            replied = api.push(api.voice(GROUP, audio, reply_to=by_nik))
            mentioned = api.push(api.voice(GROUP, audio, caption="@NikTestBot"))
            await settled(api, server)
    sent = api.of("sendMessage", GROUP)
    assert [p["text"] for p in sent[::2]] == [HEARD, "🎤 Verstanden: „Fehler E013 – was tun?“"]
    assert all("Quellen" in p["text"] for p in sent[1::2])
    assert [p["reply_parameters"]["message_id"] for p in sent[::2]] == [
        replied["message"]["message_id"],
        mentioned["message"]["message_id"],
    ]
    assert len(stt.transcriptions) == 2 and stt.speech == []  # the unaddressed note was not transcribed


async def test_a_voice_note_over_the_limits_is_refused_without_downloading_it(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    audio = ogg_opus(1.0)
    async with ScriptedOpenAI([]) as stt, FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_STT_BASE_URL=stt.base_url, NIK_MAX_VOICE_BYTES=len(audio) - 1)
        async with serving(settings, sample_kb) as server:
            api.push(api.voice(PRIVATE, audio, seconds=121))
            api.push(api.voice(PRIVATE, audio, seconds=1))
            await settled(api, server)
    too_long, too_big = api.texts(PRIVATE)
    assert "zu lang (2:01 Minuten)" in too_long and "bis 2 Minuten" in too_long
    assert "zu groß" in too_big
    assert api.of("getFile") == [] and api.downloads == [] and stt.transcriptions == []


async def test_without_a_speech_endpoint_a_voice_note_gets_a_note_and_its_caption_an_answer(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb) as server:
        api.push(api.voice(PRIVATE, ogg_opus(1.0)))
        api.push(api.voice(PRIVATE, ogg_opus(1.0), caption=QUESTION))
        await settled(api, server)
    alone, with_caption, answer = api.texts(PRIVATE)
    assert alone == with_caption == NOT_CONFIGURED
    assert "E013" in answer and "Quellen" in answer
    assert api.of("getFile") == []  # nothing fetched that nobody can transcribe


async def test_a_failing_or_silent_speech_endpoint_gets_an_apology_or_a_note(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    speech = [Status(500), Status(503), Status(500), Transcript(QUESTION, delay=60.0), Transcript("  ")]
    async with ScriptedOpenAI([], speech=speech) as stt, FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_STT_BASE_URL=stt.base_url, NIK_STT_SECONDS=1.5)
        async with serving(settings, sample_kb) as server:
            for _ in range(3):  # three attempts fail; one times out; one hears nothing
                api.push(api.voice(PRIVATE, ogg_opus(1.0)))
            await settled(api, server)
            stored = await server.nik.store.history(ChatKey("telegram", str(PRIVATE)), 10)
    failed, timed_out, silent = api.texts(PRIVATE)
    assert failed == timed_out == f"Das hat leider nicht geklappt: {UNAVAILABLE}"
    assert silent == EMPTY
    assert len(stt.transcriptions) == 5 and stt.speech == []
    assert stored == []  # no words, nothing to remember


async def test_a_caption_on_a_document_or_video_is_answered_as_the_question(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    pdf = {"file_id": "doc-1", "file_unique_id": "d1", "mime_type": "application/pdf", "file_name": "Plan.pdf"}
    video = {"file_id": "vid-1", "file_unique_id": "v1", "width": 4, "height": 4, "duration": 2}
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb) as server:
        api.push(api.message(PRIVATE, document=pdf, caption=QUESTION))
        api.push(api.message(PRIVATE, video=video, caption=QUESTION))
        await settled(api, server)
    answers = api.texts(PRIVATE)
    assert len(answers) == 2 and all("E013" in a and "Quellen" in a for a in answers)


async def test_a_voice_note_answers_nik_s_question_back(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    ask = Calls(("ask_user_clarification", {"question": "Welches Gerät?", "options": ["SF-5000TL", "SF-3000TL"]}))
    script = [ask, Text("Beim SF-3000TL: 4 mm².")]
    async with ScriptedOpenAI(script, speech=[Transcript("Das SF-3000TL.")]) as llm, FakeTelegram() as api:
        settings = settings_for(
            kb_dir, api, OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-test", NIK_STT_MODEL="whisper-1"
        )
        async with serving(settings, sample_kb) as server:
            api.push(api.message(PRIVATE, text="Welcher Querschnitt?"))
            await api.wait_for(lambda: bool(api.texts(PRIVATE)))
            api.push(api.voice(PRIVATE, ogg_opus(1.0)))
            await api.wait_for(lambda: len(api.texts(PRIVATE)) >= 3)
            await server.nik.dispatcher.drain()
    asked, heard, answer = api.texts(PRIVATE)
    assert (
        asked == "Welches Gerät?"
        and heard == "🎤 Verstanden: „Das SF-3000TL.“"
        and answer.startswith("SolarFux SF-3000TL · Beim SF-3000TL")  # the answer named a device: remembered
    )
    [tool_reply] = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_reply["content"] == "Das SF-3000TL."  # the transcript resumed the paused turn
    assert llm.transcriptions[0].authorization == "Bearer sk-test"
