"""The offline engine: answers a turn without an LLM, from the extractive answerer and photo readings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import ClassVar

from bot.core.messages import Answer, Clarification
from bot.core.turn import EngineResult, HistoryItem, Turn
from bot.offline.answerer import OfflineAnswerer
from bot.photos.vision import PhotoReader, Reading
from knowledge.text import content_words, error_codes

TYPE_THE_CODE = (
    "Auf dem Foto kann ich keinen Fehlercode sicher lesen. Bitte tippen Sie den Code ab, "
    "so wie er im Display steht (z. B. „E013“ oder „Error 408“)."
)


@dataclass(frozen=True, slots=True)
class OfflineEngine:
    """No LLM: the deterministic, extractive answerer; history is not needed (nor streaming).

    A photo is read (``reader``) into a search for its error code, brand and model plus
    the caption; the brand and model it shows are returned as the result's ``device_hint``.
    A turn with the chat's ``device`` searches only its manuals (a nameplate photo its own).
    No code on the photo or in the caption: the technician is asked to
    type it (a clarification), nothing is guessed."""

    answerer: OfflineAnswerer
    reader: PhotoReader | None = None
    summarizes: ClassVar[bool] = False  # no model to write one

    async def answer(self, turn: Turn) -> EngineResult:
        if turn.images and self.reader is not None:
            reading = await asyncio.to_thread(self.reader.read, turn.images)
            return await self._photo(turn.question, reading, turn.device)
        if turn.resume is not None and turn.resume.get("kind") == "device":
            question = str(turn.resume["question"])
            product = (turn.reply_to_pause or "").strip() or None
            reply = await asyncio.to_thread(self.answerer.answer, question, product)
        elif turn.resume is not None and turn.resume.get("kind") == "code":
            typed = (turn.reply_to_pause or turn.question).strip()
            device = str(turn.resume.get("device", ""))
            return await self._ask(f"{typed} {device}".strip(), None if device else turn.device)
        else:
            reply = await asyncio.to_thread(self.answerer.answer, turn.question, turn.device)
        if isinstance(reply, Clarification):
            return EngineResult(reply, {"kind": "device", "question": turn.question})
        return EngineResult(reply)

    async def _photo(self, caption: str, reading: Reading, device: str | None) -> EngineResult:
        shown = " ".join([*reading.brands, *reading.models])
        scope = None if shown else device  # a nameplate names its own device
        if not reading.has_code and not error_codes(caption) and len(content_words(caption)) < 2:
            clarification = Clarification(TYPE_THE_CODE)
            return EngineResult(clarification, {"kind": "code", "device": shown}, device_hint=shown)
        result = await self._ask(reading.query(caption), scope)
        reply = result.reply
        if isinstance(reply, Answer) and reply.kind == "answer":
            result = replace(result, reply=replace(reply, text=f"{reading.summary()}\n\n{reply.text}"))
        return replace(result, device_hint=shown)

    async def _ask(self, question: str, product: str | None = None) -> EngineResult:
        reply = await asyncio.to_thread(self.answerer.answer, question, product)
        if isinstance(reply, Clarification):
            return EngineResult(reply, {"kind": "device", "question": question})
        return EngineResult(reply)

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        return None
