"""Manuals an admin sends from the chat: checked, stored in ``NIK_MANUALS_DIR``, indexed; ``/remove``.

A document from anyone but an admin (``NIK_ADMINS``) is not stored: without a caption it
gets a note, with one the caption is answered as a question (``takes``).
An admin's must be a PDF (``%PDF-``), at most ``NIK_MAX_MANUAL_BYTES``, and open in
pdfium without a password. It is stored under a sanitised name (``safe_name``: the
base name only, safe characters, ``.pdf``) and the incremental reindex starts, as
``/reindex`` starts it. A manual of that name already there is replaced only after
``/replace yes``: until then the file waits in ``NIK_DATA_DIR/uploads/<asker>/``.
``/remove MANUAL`` asks too (``/remove yes``), then deletes the file and reindexes.
Both questions are requests in the store's confirmation table, valid ``CONFIRM_WITHIN``.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import shutil
import unicodedata
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path, PurePosixPath

from bot.core.messages import Answer, DocumentInput, IncomingMessage, Progress, Reply, command_button
from bot.runtime.jobs import Jobs
from knowledge.errors import DocumentUnreadable
from knowledge.ingest import open_pdf
from knowledge.service import names
from storage.store import ChatKey, Store

REPLACE = "replace"  # the confirmations' action names
REMOVE = "remove"
CONFIRM_WITHIN = timedelta(minutes=5)
PDF_MAGIC = b"%PDF-"
NAME_CHARS = 100  # of a stored manual's stem
MB = 1024 * 1024
DOWNLOAD_LIMITS = {"telegram": 20 * MB}  # what a bot may download from the platform (Bot API getFile)

NOT_ADMIN = "Handbücher hochladen dürfen nur Administratoren – die Datei habe ich nicht gespeichert."
NOT_PDF = "Das ist keine PDF-Datei. Bitte schicken Sie das Handbuch als PDF."
NOT_FETCHED = "Die Datei konnte ich nicht herunterladen. Bitte schicken Sie sie noch einmal."
PROTECTED = "Das PDF ist passwortgeschützt. Bitte schicken Sie es ohne Passwort."
UNREADABLE = "Das PDF lässt sich nicht öffnen (beschädigt oder leer). Nichts gespeichert."
NOTHING_OPEN = "Es gibt nichts zu bestätigen (die Rückfrage gilt 5 Minuten)."
KEPT = "Abgebrochen – das vorhandene Handbuch bleibt, wie es ist."
NOT_REMOVED = "Abgebrochen – nichts gelöscht."
REMOVE_USAGE = "So geht's: /remove HANDBUCH, z. B. /remove SolarFux_SF-5000TL_Handbuch.pdf (Namen zeigt /docs)."
BUSY = (
    "Es läuft gerade eine Indexierung; die Änderung wird mit der nächsten übernommen "
    "(nachts automatisch oder mit /reindex, sobald diese fertig ist)."
)
_UNSAFE = re.compile(r"[^\w.\- ]+")
_RUNS = re.compile(r"[_ ]{2,}|\.{2,}")


def safe_name(name: str) -> str:
    """The name a manual is stored under: base name only (``/`` and ``\\`` both separate),
    letters, digits, ``.-_`` and spaces, no leading dot, at most ``NAME_CHARS``, ending ``.pdf``."""
    base = PurePosixPath(unicodedata.normalize("NFKC", name).replace("\\", "/")).name
    stem = base[:-4] if base.lower().endswith(".pdf") else base
    stem = _RUNS.sub("_", _UNSAFE.sub("_", stem)).strip(" ._-")[:NAME_CHARS].strip(" ._-")
    return f"{stem or 'Handbuch'}.pdf"


class Uploads:
    """Takes admins' manuals into the manuals folder and removes them again."""

    def __init__(
        self, store: Store, jobs: Jobs, manuals_dir: Path, staging_dir: Path, admins: frozenset[str], max_bytes: int
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._manuals = manuals_dir
        self._staging = staging_dir
        self._admins = admins
        self.max_bytes = max_bytes

    def takes(self, message: IncomingMessage) -> bool:
        """Whether a message's document is an upload: an admin's, or one without a caption (which
        gets the note); anyone else's caption is answered as a question and the file ignored."""
        return self._admin(message) or not message.text.strip()

    def wants(self, platform: str, user_id: str, size: int | None) -> bool:
        """Whether an adapter should download this document: an admin's, not over the size cap."""
        return f"{platform}:{user_id}" in self._admins and (size is None or size <= self.max_bytes)

    async def take(self, message: IncomingMessage, key: ChatKey) -> AsyncIterator[Reply]:
        """An uploaded document: refused with a note, stored and indexed, or held for ``/replace yes``."""
        document = message.document
        assert document is not None
        if not self._admin(message):
            yield Answer(NOT_ADMIN, kind="refused")
            return
        refusal = self._refusal(message, document)
        if refusal is not None:
            yield Answer(refusal, kind="refused")
            return
        name = safe_name(document.name)
        target = self._manuals / name
        if target.exists():
            await asyncio.to_thread(self._hold, self._pending(key, message.user_id), name, document.data)
            await self._store.request_confirmation(key, message.user_id, REPLACE, CONFIRM_WITHIN)
            buttons = (command_button("Ersetzen", "/replace yes"), command_button("Abbrechen", "/replace no"))
            text = f"Ein Handbuch „{name}“ gibt es schon. Durch die neue Datei ersetzen? (Gilt 5 Minuten.)"
            yield Answer(text, kind="info", buttons=buttons)
            return
        await asyncio.to_thread(_write_atomically, target, document.data)
        yield Answer(
            f"Gespeichert als „{name}“ ({_megabytes(len(document.data))}). Ich indexiere es jetzt.", kind="info"
        )
        async for reply in self._reindex(key):
            yield reply

    async def replace(self, message: IncomingMessage, key: ChatKey, args: str) -> AsyncIterator[Reply]:
        """``/replace yes``: the held upload replaces the manual of its name; ``/replace no`` drops it."""
        if not self._admin(message):
            yield Answer(NOT_ADMIN, kind="refused")
            return
        pending = self._pending(key, message.user_id)
        answer = args.casefold()
        if answer in ("no", "nein"):
            await self._store.cancel_confirmation(key, message.user_id, REPLACE)
            await asyncio.to_thread(shutil.rmtree, pending, True)
            yield Answer(KEPT, kind="info")
            return
        if answer not in ("yes", "ja"):
            yield Answer("So geht's: /replace yes oder /replace no (nach dem Hochladen).", kind="info")
            return
        held = sorted(pending.glob("*.pdf")) if pending.is_dir() else []
        if not held or not await self._store.take_confirmation(key, message.user_id, REPLACE):
            yield Answer(NOTHING_OPEN, kind="info")
            return
        name = held[-1].name
        await asyncio.to_thread(_move_atomically, held[-1], self._manuals / name)
        await asyncio.to_thread(shutil.rmtree, pending, True)
        yield Answer(f"„{name}“ ersetzt. Ich indexiere es jetzt.", kind="info")
        async for reply in self._reindex(key):
            yield reply

    async def remove(self, message: IncomingMessage, key: ChatKey, args: str) -> AsyncIterator[Reply]:
        """``/remove MANUAL`` asks; ``/remove yes`` deletes it and reindexes; ``/remove no`` cancels."""
        if not self._admin(message):
            yield Answer(NOT_ADMIN, kind="refused")
            return
        pending = self._pending(key, message.user_id) / REMOVE
        answer = args.casefold()
        if not answer:
            yield Answer(REMOVE_USAGE, kind="info")
        elif answer in ("no", "nein"):
            await self._store.cancel_confirmation(key, message.user_id, REMOVE)
            yield Answer(NOT_REMOVED, kind="info")
        elif answer in ("yes", "ja"):
            name = pending.read_text("utf-8") if pending.is_file() else ""
            if not name or not await self._store.take_confirmation(key, message.user_id, REMOVE):
                yield Answer(NOTHING_OPEN, kind="info")
                return
            pending.unlink()
            target = self._manuals / name
            if target.is_file():
                await asyncio.to_thread(target.unlink)
            yield Answer(f"„{name}“ gelöscht. Ich aktualisiere den Index.", kind="info")
            async for reply in self._reindex(key):
                yield reply
        else:
            found = self._manual(args)
            if found is None:
                yield Answer(
                    f"Ein Handbuch „{args[:NAME_CHARS]}“ finde ich nicht. Die Handbücher zeigt /docs.",
                    kind="not_found",
                )
                return
            await asyncio.to_thread(_write_atomically, pending, found.encode())
            await self._store.request_confirmation(key, message.user_id, REMOVE, CONFIRM_WITHIN)
            buttons = (command_button("Löschen", "/remove yes"), command_button("Abbrechen", "/remove no"))
            text = (
                f"„{found}“ löschen und aus dem Index nehmen? Das lässt sich nicht rückgängig machen. (Gilt 5 Minuten.)"
            )
            yield Answer(text, kind="info", buttons=buttons)

    def _admin(self, message: IncomingMessage) -> bool:
        return f"{message.platform}:{message.user_id}" in self._admins

    def _refusal(self, message: IncomingMessage, document: DocumentInput) -> str | None:
        """Why ``document`` cannot be a manual, in German; None when it can."""
        size = document.size if not document.data and document.size is not None else len(document.data)
        if size > self.max_bytes:
            cap = _megabytes(self.max_bytes)
            return f"Die Datei ist zu groß ({_megabytes(size)}); Handbücher dürfen höchstens {cap} haben."
        limit = DOWNLOAD_LIMITS.get(message.platform)
        if not document.data and limit is not None and document.size is not None and document.size > limit:
            return (
                f"Die Datei ist zu groß für mich ({_megabytes(document.size)}): Bots dürfen hier höchstens "
                f"{_megabytes(limit)} herunterladen. Bitte verkleinern Sie das PDF oder legen Sie es direkt "
                "in den Handbuch-Ordner."
            )
        if not document.data:
            return NOT_FETCHED
        if not document.data.startswith(PDF_MAGIC):
            return NOT_PDF
        try:
            pdf = open_pdf(document.data, document.name)
        except DocumentUnreadable as err:
            return PROTECTED if "password" in str(err) else UNREADABLE
        try:
            return UNREADABLE if len(pdf) == 0 else None
        finally:
            pdf.close()

    def _manual(self, wanted: str) -> str | None:
        """The PDF in the manuals folder that ``wanted`` names (file name or stem, any case)."""
        for path in sorted(self._manuals.glob("*.pdf")) if self._manuals.is_dir() else []:
            if names(path.name, wanted):
                return path.name
        return None

    def _pending(self, key: ChatKey, user_id: str) -> Path:
        """The asker's staging folder: what waits for their ``/replace yes`` or ``/remove yes``."""
        asker = "\n".join((key.platform, key.chat_id, key.thread_id or "", user_id))
        return self._staging / hashlib.sha256(asker.encode()).hexdigest()[:32]

    def _hold(self, folder: Path, name: str, data: bytes) -> None:
        """Keep ``data`` as the one upload waiting in ``folder`` (an older one goes)."""
        for old in folder.glob("*.pdf") if folder.is_dir() else []:
            old.unlink()
        _write_atomically(folder / name, data)

    async def _reindex(self, key: ChatKey) -> AsyncIterator[Reply]:
        """The incremental sync, as ``/reindex`` starts it: progress in the chat's note, or here."""
        note = self._jobs.note(key)
        if note is not None:
            if self._jobs.start_reindex(note) is None:
                yield Answer(BUSY, kind="info")
            return
        updates: asyncio.Queue[Progress] = asyncio.Queue()
        if self._jobs.start_reindex(updates.put) is None:
            yield Answer(BUSY, kind="info")
            return
        while not (progress := await updates.get()).done:
            yield progress
        yield progress


def _write_atomically(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` completely or is as it was (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _move_atomically(source: Path, target: Path) -> None:
    """Move ``source`` over ``target``; a copy first when they are on different file systems."""
    try:
        os.replace(source, target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        _write_atomically(target, source.read_bytes())
        source.unlink()


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB".replace(".", ",")
