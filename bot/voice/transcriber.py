"""Speech to text through an OpenAI-compatible ``POST /audio/transcriptions`` endpoint.

The ``openai`` package speaks the wire protocol (multipart: the audio as a file
with its name and type, the model, the language, ``response_format=json``). The
audio goes out as the platform delivered it (Telegram: OGG/Opus); nothing is
decoded or kept here. Retries and the time limit follow the LLM's policy
(``bot.agent.llm.endpoint_retry``): transient failures are tried again while the whole
transcription still fits its ``seconds``; giving up raises ``SpeechUnavailable``.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import httpx
import openai
from openai import AsyncOpenAI, omit

from bot.agent.llm import MIN_REQUEST_SECONDS, endpoint_retry
from bot.core.messages import AudioInput
from bot.errors import SpeechUnavailable

log = logging.getLogger(__name__)

DEFAULT_MODEL = "whisper-1"
UNAVAILABLE = (
    "Die Spracherkennung ist gerade nicht erreichbar. "
    "Bitte versuchen Sie es gleich noch einmal oder tippen Sie Ihre Frage."
)


def audio_name(mime: str, stem: str = "voice") -> str:
    """A file name whose extension tells a speech server the format: ``audio/mpeg`` → ``voice.mp3``."""
    sub = mime.partition("/")[2].split(";")[0].strip().lower()
    extension = {"mpeg": "mp3", "mp4": "m4a", "x-m4a": "m4a", "x-wav": "wav", "wave": "wav", "opus": "ogg"}
    return f"{stem}.{extension.get(sub, sub if sub.isalnum() else 'ogg')}"


class Transcriber(Protocol):
    async def transcribe(self, audio: AudioInput) -> str:
        """The words spoken in ``audio`` ("" when none were recognised); ``SpeechUnavailable`` on failure."""
        ...

    async def close(self) -> None: ...


class SpeechClient:
    """The real ``Transcriber``: one ``AsyncOpenAI`` client of its own (its own base URL and key)."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        model: str = DEFAULT_MODEL,
        *,
        language: str | None = "de",
        seconds: float = 30.0,
        retries: int = 2,
        backoff_seconds: float = 0.5,
    ) -> None:
        # A local speech server may need no key; the SDK insists on one.
        self._client = AsyncOpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=seconds, max_retries=0)
        self._model = model
        self._language = language or None
        self._seconds = seconds
        self._retry = endpoint_retry(retries, backoff_seconds)

    async def close(self) -> None:
        await self._client.close()

    async def transcribe(self, audio: AudioInput) -> str:
        deadline = time.monotonic() + self._seconds
        try:
            return await self._retry.run("speech-to-text", lambda: self._attempt(audio, deadline), deadline=deadline)
        except openai.APIStatusError as err:
            log.warning("speech-to-text failed with HTTP %s", err.status_code)
            raise SpeechUnavailable(UNAVAILABLE) from None
        except (openai.APIConnectionError, httpx.HTTPError, TimeoutError) as err:  # APITimeoutError too
            log.warning("speech-to-text unreachable: %s", type(err).__name__)
            raise SpeechUnavailable(UNAVAILABLE) from None

    async def _attempt(self, audio: AudioInput, deadline: float) -> str:
        remaining = deadline - time.monotonic()
        if remaining < MIN_REQUEST_SECONDS:
            raise SpeechUnavailable(UNAVAILABLE)
        result = await self._client.audio.transcriptions.create(
            file=(audio.name, audio.data, audio.mime),
            model=self._model,
            language=self._language or omit,
            response_format="json",
            timeout=remaining,
        )
        text = getattr(result, "text", result)
        return text.strip() if isinstance(text, str) else ""
