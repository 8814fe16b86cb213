"""Teams voice messages end to end: the audio card the mobile app sends (and plain ``audio/*``
files) fetched from the fake connector with the bot's token, transcribed by the scripted
OpenAI-compatible server with the LLM's own key, shown, then answered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teams_harness import TITLE, serving

from bot.voice.intake import NOT_CONFIGURED
from fakes import Text, Transcript
from knowledge.service import KnowledgeBase
from ogg import ogg_opus

QUESTION = "Was bedeutet Fehler E013?"


def voice_card(url: str, duration: str = "PT3S") -> dict[str, Any]:
    """A recorded voice message as the Teams mobile app attaches it (content as a JSON string)."""
    media = f'{{"duration":"{duration}","media":[{{"url":"{url}"}}]}}'
    return {"id": "a1", "contentType": "application/vnd.microsoft.card.audio", "contentUrl": None, "content": media}


async def test_a_voice_message_is_transcribed_shown_and_answered(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    audio = ogg_opus(3.0)
    script = [Text(f"E013 heißt Fehlerstrom zu hoch [{TITLE}, S. 8].")]
    async with serving(kb_dir, sample_kb, script, NIK_STT_MODEL="whisper-1") as teams:
        teams.llm.speech.append(Transcript(QUESTION))
        teams.fake.images["voice.ogg"] = audio
        card = voice_card(f"{teams.fake.url}/attachments/voice.ogg")
        assert (await teams.post(teams.fake.activity("personal_message", text="", attachments=[card])))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2)
    heard, answer = teams.fake.messages()
    assert heard.text == f"🎤 Verstanden: „{QUESTION}“"
    assert answer.text.startswith("E013 heißt") and f"{TITLE}, S. 8" in answer.text
    assert teams.fake.image_auth == ["Bearer bot-token-1"]  # fetched with the bot's token
    [upload] = teams.llm.transcriptions
    assert (upload.data, upload.content_type, upload.file_name) == (audio, "audio/ogg", "voice.ogg")
    assert upload.authorization == "Bearer sk-test" and upload.fields["model"] == "whisper-1"  # the LLM's endpoint
    assert QUESTION in str(teams.llm.requests[0]["messages"][-1]["content"])


async def test_a_long_voice_message_is_refused_without_fetching_it(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb, NIK_STT_MODEL="whisper-1") as teams:
        card = voice_card(f"{teams.fake.url}/attachments/voice.ogg", "PT2M30S")
        assert (await teams.post(teams.fake.activity("personal_message", text="", attachments=[card])))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    [note] = teams.fake.messages()
    assert "zu lang (2:30 Minuten)" in note.text
    assert teams.fake.image_auth == [] and teams.llm.transcriptions == [] and teams.llm.requests == []


async def test_without_a_speech_model_an_audio_file_gets_the_note_and_its_text_an_answer(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb, [Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].")]) as teams:
        audio = {"contentType": "audio/ogg", "contentUrl": f"{teams.fake.url}/attachments/voice.ogg", "name": "a.ogg"}
        activity = teams.fake.activity("personal_message", text=QUESTION, attachments=[audio])
        assert (await teams.post(activity))[0] == 201
        await teams.fake.wait_for(lambda: len(teams.fake.messages()) == 2)
    note, answer = teams.fake.messages()
    assert note.text == NOT_CONFIGURED and answer.text.startswith("Fehlerstrom zu hoch")
    assert teams.fake.image_auth == [] and teams.llm.transcriptions == []
