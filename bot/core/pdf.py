"""``/pdf``: pages of a manual as a PDF file, and the "📄 PDF" button under answers with sources.

``/pdf MANUAL PAGES`` (the file name as ``/docs`` lists it or a unique part of the
title; pages "12", "12-14", "12,14") sends those pages, at most ``MAX_PAGES``;
``/pdf`` alone the pages the chat's last answer cites. An excerpt over the platform's
upload limit (``NIK_PDF_MAX_BYTES``) is refused with its size and a hint to ask fewer pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bot.core.messages import Answer, Citation, Document, command_button
from knowledge.devices import resolve
from knowledge.errors import DocumentNotFound, IndexMissing
from knowledge.excerpt import excerpt, file_name, page_label, parse_pages
from knowledge.models import DocumentInfo
from knowledge.service import KnowledgeBase
from storage.store import ChatKey, Store

MAX_PAGES = 20
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
HISTORY_LOOKBACK = 20  # messages searched for the last answer with sources
USAGE = (
    "So geht's: /pdf HANDBUCH SEITEN, z. B. /pdf SolarFux_SF-5000TL_Handbuch 12-14 oder 12,14 "
    "(Namen zeigt /docs); /pdf allein schickt die Seiten der letzten Antwort."
)
NO_LAST = "Ich habe in diesem Gespräch noch keine Antwort mit Quellen gegeben. " + USAGE
NO_INDEX = "Es sind noch keine Handbücher indexiert. Ein Administrator kann das mit /reindex nachholen."


async def pdf_reply(
    knowledge: KnowledgeBase, store: Store, key: ChatKey, args: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> Answer | Document:
    """The reply to ``/pdf args`` in the chat ``key``."""
    if not args.strip():
        wanted = await _last_cited(store, key)
        if wanted is None:
            return Answer(NO_LAST, kind="info")
        return await asyncio.to_thread(_excerpt_reply, knowledge, wanted[0], wanted[1], max_bytes)
    name, _, spec = args.strip().rpartition(" ")
    pages = parse_pages(spec)
    if not name.strip() or pages is None:
        return Answer(USAGE, kind="info")
    return await asyncio.to_thread(_excerpt_reply, knowledge, name.strip(), pages, max_bytes)


def pdf_button(answer: Answer) -> Answer:
    """``answer`` with a "📄 PDF" button for the pages it cites from its first manual, when one fits."""
    if not answer.citations or answer.kind != "answer":
        return answer
    file = answer.citations[0].file
    pages = sorted({c.page for c in answer.citations if c.file == file})[:MAX_PAGES]
    for name in dict.fromkeys((file, Path(file).stem)):  # the stem is the shorter form /pdf knows too
        for count in range(len(pages), 0, -1):  # fewer pages when the list does not fit
            try:
                button = command_button("📄 PDF", f"/pdf {name} {page_label(pages[:count])}")
            except ValueError:
                continue
            return replace(answer, buttons=(*answer.buttons, button))
    return answer


async def _last_cited(store: Store, key: ChatKey) -> tuple[str, tuple[int, ...]] | None:
    """The first manual the chat's last answer with sources cites, and its cited pages."""
    for message in reversed(await store.history(key, HISTORY_LOOKBACK)):
        if message.role == "assistant" and message.citations:
            file = message.citations[0].file
            return file, tuple(sorted({c.page for c in message.citations if c.file == file}))
    return None


def _excerpt_reply(knowledge: KnowledgeBase, name: str, pages: Sequence[int], max_bytes: int) -> Answer | Document:
    try:
        info = _manual(knowledge, name)
        if info is None:
            return Answer(
                f"„{name}“ passt auf kein Handbuch oder auf mehrere. Die Namen zeigt /docs.", kind="not_found"
            )
        capped = tuple(pages[:MAX_PAGES])
        outside = [n for n in capped if not 1 <= n <= info.pages]
        if outside:
            return Answer(
                f"{info.title} hat die Seiten 1–{info.pages}, nicht {page_label(sorted(outside))}.", kind="not_found"
            )
        _, source = knowledge.source(info.file)
        if source.suffix.lower() != ".pdf":
            return Answer(f"{info.title} ist kein PDF – davon kann ich keine Seiten schicken.", kind="not_found")
        data = excerpt(source, capped)
    except IndexMissing:
        return Answer(NO_INDEX, kind="info")
    except DocumentNotFound as err:
        return Answer(f"Diese Seiten finde ich nicht: {err}. Die Handbücher zeigt /docs.", kind="not_found")
    label = page_label(capped)
    if len(data) > max_bytes:
        fewer = max(1, len(capped) * max_bytes // len(data) - 1)
        hint = f"{capped[0]}-{capped[0] + fewer - 1}" if fewer > 1 else str(capped[0])
        return Answer(
            f"Die Seiten {label} aus {info.title} sind als PDF {_megabytes(len(data))} groß – "
            f"ich kann höchstens {_megabytes(max_bytes)} schicken. Bitte weniger Seiten auf einmal, "
            f"z. B. /pdf {info.file} {hint}.",
            kind="refused",
        )
    caption = f"{info.title}, S. {label}"
    if len(pages) > len(capped):
        caption += f" (nur die ersten {MAX_PAGES} der {len(pages)} Seiten – mehr schicke ich nicht auf einmal)"
    return Document(data, file_name(info.title, capped), caption, Citation(info.file, info.title, capped[0]))


def _manual(knowledge: KnowledgeBase, name: str) -> DocumentInfo | None:
    """The one manual ``name`` means: its file name (as the knowledge base finds it), else a unique title part."""
    try:
        return knowledge.source(name)[0]
    except DocumentNotFound:
        pass
    docs = knowledge.documents()
    found = [m for m in resolve(name, docs) if len(m.files) == 1]
    files = {file for m in found for file in m.files}
    if len(files) != 1:
        return None
    return next(d for d in docs if d.file in files)


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")
