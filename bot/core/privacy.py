"""Forgetting a user: their rows (``Store.forget_user``) and their photos, and what to tell them.

``/forget`` in a chat and ``nik forget`` for an admin run the same steps: the database
first (one transaction; the rules are in ``storage.forget``), then the photo files
the deleted messages referred to, and the whole photo folder of a chat that went.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.photos.intake import PhotoStore
from storage.store import ChatKey, Store

FORGET = "forget"  # the confirmation's action name

# German names (one, several) of what was deleted, for the summary; a table not listed shows its own name.
_NAMES = {
    "messages": ("Nachricht", "Nachrichten"),
    "photos": ("Foto", "Fotos"),
    "pauses": ("offene Rückfrage", "offene Rückfragen"),
    "feedback": ("Bewertung", "Bewertungen"),
    "devices": ("Geräteeinstellung", "Geräteeinstellungen"),
    "summaries": ("Gesprächszusammenfassung", "Gesprächszusammenfassungen"),
    "confirmations": ("Bestätigung", "Bestätigungen"),
    "references": ("Chat-Verweis", "Chat-Verweise"),
    "inbox": ("eingegangene Nachricht (Zwischenspeicher)", "eingegangene Nachrichten (Zwischenspeicher)"),
    "support_cases": ("Support-Fall", "Support-Fälle"),
    "chats": ("Chat", "Chats"),
    "users": ("Benutzereintrag", "Benutzereinträge"),
}


def _named(table: str, n: int) -> str:
    one, several = _NAMES.get(table, (table, table))
    return f"{n} {one if n == 1 else several}"


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """What was deleted: rows per table, and ``photos`` files."""

    rows: dict[str, int]
    photos: int

    @property
    def counts(self) -> dict[str, int]:
        return {**self.rows, "photos": self.photos} if self.photos else dict(self.rows)

    def german(self) -> str:
        if not self.counts:
            return "Es war nichts von Ihnen gespeichert."
        return "Gelöscht: " + ", ".join(_named(table, n) for table, n in self.counts.items()) + "."


async def forget_user(
    store: Store,
    photos: PhotoStore | None,
    platform: str,
    user_id: str,
    key: ChatKey | None = None,
    *,
    confirm: str | None = None,
) -> ForgetReport | None:
    """Delete ``user_id``'s rows in ``key``'s chat (everywhere on ``platform`` without one) and
    their photos; None when ``confirm`` names a request that is not open (nothing deleted)."""
    forgotten = await store.forget_user(platform, user_id, key, confirm=confirm)
    if forgotten is None:
        return None
    deleted = 0
    if photos is not None:
        deleted = await asyncio.to_thread(photos.delete, forgotten.image_refs, forgotten.chats)
    return ForgetReport(forgotten.rows, deleted)
