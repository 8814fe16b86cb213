"""Voice notes in: the limits, the German notes, and the transcript the conversation answers.

A voice note needs a speech endpoint (``NIK_STT_BASE_URL``, or the LLM's with
``NIK_STT_MODEL``) and must fit ``NIK_MAX_VOICE_SECONDS`` and ``NIK_MAX_VOICE_BYTES``.
Adapters ask ``wants`` with what the platform reports *before* downloading, so an
over-long note is refused without being fetched; ``hear`` checks again (the bytes
too) and transcribes. The audio lives in memory for that call only: nothing here
stores it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.messages import Answer, AudioInput
from bot.voice.transcriber import Transcriber

NOT_CONFIGURED = (
    "Sprachnachrichten kann ich hier noch nicht verstehen – dafür muss ein Administrator eine "
    "Spracherkennung einrichten. Bitte schreiben Sie Ihre Frage als Text."
)
NOT_LOADED = "Ihre Sprachnachricht konnte ich nicht laden – bitte schicken Sie sie noch einmal."
EMPTY = (
    "In Ihrer Sprachnachricht habe ich keine Worte verstanden. Bitte sprechen Sie noch einmal "
    "deutlich oder tippen Sie Ihre Frage."
)
HEARD = "🎤 Verstanden: „{}“"


@dataclass(frozen=True, slots=True)
class Heard:
    """What came of a voice note: the note to show first, and the words to answer ("" for none)."""

    note: Answer
    text: str = ""


class VoiceIntake:
    def __init__(
        self, transcriber: Transcriber | None, *, max_seconds: float = 120.0, max_bytes: int = 10 * 1024 * 1024
    ) -> None:
        self._transcriber = transcriber
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes

    @property
    def configured(self) -> bool:
        return self._transcriber is not None

    def wants(self, seconds: float | None, size: int | None) -> bool:
        """Worth downloading: a speech endpoint is configured and the reported duration and size fit."""
        return self.configured and self._fits(seconds, size)

    async def hear(self, audio: AudioInput) -> Heard:
        """The voice note's transcript, or the note saying why there is none.

        ``SpeechUnavailable`` (the endpoint failed) is left to the turn boundary's apology."""
        if self._transcriber is None:
            return Heard(Answer(NOT_CONFIGURED, kind="info"))
        if not self._fits(audio.seconds, audio.size) or len(audio.data) > self.max_bytes:
            return Heard(Answer(self._too_long(audio), kind="refused"))
        if not audio.data:
            return Heard(Answer(NOT_LOADED, kind="info"))
        text = " ".join((await self._transcriber.transcribe(audio)).split())
        if not text:
            return Heard(Answer(EMPTY, kind="info"))
        return Heard(Answer(HEARD.format(text), kind="info"), text)

    async def close(self) -> None:
        if self._transcriber is not None:
            await self._transcriber.close()

    def _fits(self, seconds: float | None, size: int | None) -> bool:
        return (seconds is None or seconds <= self.max_seconds) and (size is None or size <= self.max_bytes)

    def _too_long(self, audio: AudioInput) -> str:
        if audio.seconds is not None and audio.seconds > self.max_seconds:
            return (
                f"Diese Sprachnachricht ist mir zu lang ({_duration(audio.seconds)}); ich verstehe Sprachnachrichten "
                f"bis {_duration(self.max_seconds)}. Bitte fassen Sie die Frage kürzer oder tippen Sie sie."
            )
        return (
            f"Diese Sprachnachricht ist mir zu groß; ich verstehe Sprachnachrichten bis "
            f"{self.max_bytes / 1024 / 1024:.0f} MB. Bitte fassen Sie die Frage kürzer oder tippen Sie sie."
        )


def _duration(seconds: float) -> str:
    """120 → "2 Minuten", 90 → "90 Sekunden", 150 → "2:30 Minuten"."""
    whole = round(seconds)
    if whole < 60 or (whole < 120 and whole % 60):
        return f"{whole} Sekunden"
    minutes, rest = divmod(whole, 60)
    if rest:
        return f"{minutes}:{rest:02d} Minuten"
    return "1 Minute" if minutes == 1 else f"{minutes} Minuten"
