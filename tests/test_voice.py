"""The voice room: ``SpeechClient`` against the scripted OpenAI-compatible server, ``VoiceIntake``'s
limits and notes, and which endpoint and key ``build_voice`` picks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.core.messages import AudioInput
from bot.errors import SpeechUnavailable
from bot.runtime.composition import build_voice
from bot.voice.intake import EMPTY, NOT_CONFIGURED, NOT_LOADED, VoiceIntake
from bot.voice.transcriber import SpeechClient, audio_name
from fakes import ScriptedOpenAI, Status, Transcript
from ogg import ogg_opus, ogg_pages

AUDIO = AudioInput(ogg_opus(2.0), "audio/ogg", 2.0)


def settings(tmp_path: Path, **env: Any) -> Settings:
    return Settings.model_validate({"NIK_DATA_DIR": str(tmp_path), **env})


def test_the_generated_audio_is_ogg_opus_of_the_asked_length() -> None:
    pages = ogg_pages(ogg_opus(2.5))  # checks every page's CRC
    assert pages[0][2].startswith(b"OpusHead") and pages[1][2].startswith(b"OpusTags")
    assert pages[0][0] == 0x02 and pages[-1][0] == 0x04  # first and last page of the stream
    assert pages[-1][1] == 2.5 * 48_000  # the final granule position: samples at 48 kHz


async def test_the_audio_goes_out_as_multipart_with_name_type_model_language_and_key() -> None:
    async with ScriptedOpenAI([], speech=[Transcript(" Was bedeutet\nE013? ")]) as api:
        client = SpeechClient("sk-speech", api.base_url, "whisper-large-v3", language="de")
        try:
            assert await client.transcribe(AUDIO) == "Was bedeutet\nE013?"
        finally:
            await client.close()
    [upload] = api.transcriptions
    assert (upload.file_name, upload.content_type, upload.data) == ("voice.ogg", "audio/ogg", AUDIO.data)
    assert upload.fields == {"model": "whisper-large-v3", "language": "de", "response_format": "json"}
    assert upload.authorization == "Bearer sk-speech"
    assert api.requests == []  # no chat completion


async def test_no_language_lets_the_server_detect_it_and_a_transient_error_is_tried_again() -> None:
    async with ScriptedOpenAI([], speech=[Status(503), Transcript("Hallo")]) as api:
        client = SpeechClient(None, api.base_url, language="", backoff_seconds=0.01)
        try:
            assert await client.transcribe(AUDIO) == "Hallo"
        finally:
            await client.close()
    assert [u.fields for u in api.transcriptions] == [{"model": "whisper-1", "response_format": "json"}] * 2


@pytest.mark.parametrize("step", [Status(400), Status(401), Status(500), Transcript("spät", delay=5.0)])
async def test_failures_become_speech_unavailable_within_the_time_given(step: Status | Transcript) -> None:
    async with ScriptedOpenAI([], speech=[step, step, step]) as api:
        client = SpeechClient("k", api.base_url, seconds=0.8, backoff_seconds=0.01)
        started = time.monotonic()
        try:
            with pytest.raises(SpeechUnavailable, match="Spracherkennung"):
                await client.transcribe(AUDIO)
        finally:
            await client.close()
    assert time.monotonic() - started < 3.0  # the budget holds, whatever the server does
    retried = isinstance(step, Status) and step.code >= 500
    assert len(api.transcriptions) == (3 if retried else 1)


class Heard:
    """A ``Transcriber`` that returns what it is given and counts its calls."""

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0

    async def transcribe(self, audio: AudioInput) -> str:
        self.calls += 1
        return self.text

    async def close(self) -> None:
        pass


async def test_the_intake_checks_limits_before_transcribing_and_says_why_not() -> None:
    words = Heard("  E013   am  SF-5000TL ")
    intake = VoiceIntake(words, max_seconds=90, max_bytes=1000)
    assert intake.wants(90, 1000) and not intake.wants(90.5, None) and not intake.wants(None, 1001)
    heard = await intake.hear(AudioInput(b"x" * 10, "audio/ogg", 5))
    assert (heard.note.text, heard.note.kind, heard.text) == (
        "🎤 Verstanden: „E013 am SF-5000TL“",
        "info",
        "E013 am SF-5000TL",
    )
    too_long = await intake.hear(AudioInput(b"", "audio/ogg", 150))
    assert (
        too_long.note.kind == "refused"
        and "(2:30 Minuten)" in too_long.note.text
        and "bis 90 Sekunden" in too_long.note.text
    )
    too_big = await intake.hear(AudioInput(b"x" * 1001, "audio/ogg"))
    assert too_big.note.kind == "refused" and "zu groß" in too_big.note.text
    assert (await intake.hear(AudioInput(b"", "audio/ogg", 5))).note.text == NOT_LOADED
    assert words.calls == 1
    assert (await VoiceIntake(Heard(" \n")).hear(AUDIO)).note.text == EMPTY
    unconfigured = VoiceIntake(None)
    assert not unconfigured.wants(1, 1) and (await unconfigured.hear(AUDIO)).note.text == NOT_CONFIGURED


def test_file_names_carry_the_extension_speech_servers_need() -> None:
    assert [
        audio_name(m) for m in ("audio/ogg", "audio/mpeg", "audio/mp4", "audio/x-wav", "audio/ogg; codecs=opus", "x")
    ] == [
        "voice.ogg",
        "voice.mp3",
        "voice.m4a",
        "voice.wav",
        "voice.ogg",
        "voice.ogg",
    ]


async def test_which_endpoint_and_key_voice_uses(tmp_path: Path) -> None:
    async with (
        ScriptedOpenAI([], speech=[Transcript("a"), Transcript("b")]) as speech,
        ScriptedOpenAI([], speech=[Transcript("c")]) as llm,
    ):
        assert not settings(tmp_path).voice_configured
        assert not settings(tmp_path, OPENAI_API_KEY="sk-llm").voice_configured  # an LLM alone: no NIK_STT_MODEL
        own = settings(
            tmp_path, NIK_STT_BASE_URL=speech.base_url, OPENAI_API_KEY="sk-llm", OPENAI_BASE_URL=llm.base_url
        )
        keyed = settings(tmp_path, NIK_STT_BASE_URL=speech.base_url, NIK_STT_API_KEY="sk-stt")
        shared = settings(tmp_path, OPENAI_API_KEY="sk-llm", OPENAI_BASE_URL=llm.base_url, NIK_STT_MODEL="whisper-1")
        for chosen in (own, keyed, shared):
            voice = build_voice(chosen)
            try:
                assert (await voice.hear(AUDIO)).text
            finally:
                await voice.close()
        assert not build_voice(settings(tmp_path)).configured
    assert [u.authorization for u in speech.transcriptions] == [
        "Bearer not-needed",
        "Bearer sk-stt",
    ]  # never the LLM's key
    assert [u.authorization for u in llm.transcriptions] == ["Bearer sk-llm"]
