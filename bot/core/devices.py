"""The chat's device: what a question turn is narrowed to, what it learns, how answers name it.

A chat (in groups: a thread) can remember one device (``/device``, a nameplate photo,
the answer to "Welches Gerät meinen Sie?"). A question is then searched in that
device's manuals only and its answer starts with the device's name
("SolarFux SF-5000TL · …"). A question that names another brand or model is answered
for that one, unnarrowed, and says that the chat's device stays; only ``/device``, a
photo or a clarification answer naming a device replaces it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from knowledge.catalog import brands_in
from knowledge.devices import DeviceMatch, resolve
from knowledge.errors import IndexMissing
from knowledge.models import DocumentInfo
from knowledge.retriever import product_files
from knowledge.service import KnowledgeBase
from storage.store import Device

SEPARATOR = " · "


@dataclass(frozen=True, slots=True)
class Focus:
    """What one question is about: the search filter for the engine and the answer's device line."""

    scope: str | None = None  # the engine's product filter (None: all manuals)
    label: str | None = None  # shown before the answer
    note: str = ""  # shown under the answer


NO_FOCUS = Focus()


def kept(stored: Device) -> str:
    return f"Das Gerät dieses Chats bleibt {stored.label} (ändern: /device NAME)."


def only_there(label: str) -> str:
    return f"Ich habe nur in den Handbüchern zu {label} gesucht; /device off sucht in allen."


def gone(stored: Device) -> str:
    return f"Zu {stored.label} habe ich kein Handbuch mehr – ich habe in allen gesucht (/device ändert das Gerät)."


def remembered(device: Device) -> str:
    return f"Gerät gemerkt: {device.label} – weitere Fragen beziehen sich darauf (/device off hebt das auf)."


def with_device(text: str, focus: Focus) -> str:
    """``text`` with the device line before it and the note under it."""
    if focus.label:
        text = f"{focus.label}{SEPARATOR}{text}"
    return f"{text}\n\n_{focus.note}_" if focus.note else text


class Devices:
    """Device names resolved against the indexed manuals (``knowledge.devices``)."""

    def __init__(self, knowledge: KnowledgeBase) -> None:
        self._knowledge = knowledge

    async def resolve(self, text: str, *, loose: bool = True) -> list[DeviceMatch]:
        """The devices ``text`` names (none while there is no index)."""
        docs = await self._documents()
        return resolve(text, docs, loose=loose) if docs else []

    async def focus(self, stored: Device | None, question: str) -> Focus:
        """Narrowed to ``stored`` unless the question names another brand or model."""
        if stored is None:
            return NO_FOCUS
        docs = await self._documents()
        mine = product_files(docs, stored.scope)
        if docs and not mine:  # its manuals left the index
            return Focus(None, None, gone(stored))
        named = resolve(question, docs, loose=False)
        my_brands = {d.manufacturer for d in docs if d.file in mine and d.manufacturer} | set(brands_in(stored.label))
        other_brands = [b for b in brands_in(question) if b not in my_brands]
        elsewhere = [m for m in named if not m.files & mine]
        if other_brands or (named and len(elsewhere) == len(named)):
            label = elsewhere[0].label if len(elsewhere) == 1 else " / ".join(other_brands or [m.label for m in named])
            return Focus(None, label, kept(stored))
        return Focus(stored.scope, stored.label)

    async def learned(self, text: str, user_id: str) -> Device | None:
        """The one device ``text`` (a photo's brand and model, a clarification answer) names."""
        if not text.strip():
            return None
        found = await self.resolve(text, loose=False)
        if len(found) != 1:
            return None
        return Device(found[0].label, found[0].scope, user_id)

    async def _documents(self) -> list[DocumentInfo]:
        try:
            return await asyncio.to_thread(self._knowledge.documents)
        except IndexMissing:
            return []
