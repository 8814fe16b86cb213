"""Which indexed manuals a device name means: "SF-5000TL", "Growatt MIC 600TL-X", "SolarFux".

A device is what a chat can be narrowed to (``/device``): a ``label`` to show and a
``scope``, the product filter of :meth:`KnowledgeBase.search` (the retriever keeps the
manuals whose title, file name, maker or products contain it, ``product_files``).

Matching, on text folded and stripped of spaces and dashes ("MIC600TL-X" = "mic 600tl x"):

* a product a manual lists that the text contains is a *model* match (strong);
* a brand the text names (built-in brand list or a manual's maker) is a *brand* match:
  its manuals (strong);
* only for an explicit ``/device``: a word of the text with a digit inside a product
  ("5000TL" in "SF-5000TL"), or the text inside a manual's title or file name (weak).

Several matches for the same manuals are one device (named after the manual when they
name several of its models); matches for different manuals are a choice the technician
has to make.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from knowledge.catalog import brands_in
from knowledge.models import DocumentInfo
from knowledge.retriever import product_files
from knowledge.text import fold

_PUNCT = re.compile(r"[^\w\-/.]+")
MIN_PART = 3  # characters of a partial model word ("5000" in "SF-5000TL")


@dataclass(frozen=True, slots=True)
class DeviceMatch:
    label: str  # "SolarFux SF-5000TL"
    scope: str  # the search's product filter: "SF-5000TL"
    files: frozenset[str]  # the manuals ``scope`` keeps


def compact(text: str) -> str:
    """Folded, letters and digits only: "MIC 600TL-X" → "mic600tlx"."""
    return re.sub(r"[\W_]+", "", fold(text))


def resolve(text: str, documents: Iterable[DocumentInfo], *, loose: bool = True) -> list[DeviceMatch]:
    """The devices ``text`` names, one per set of manuals, best first; ``loose``: weak matches too."""
    docs = list(documents)
    if not compact(text):
        return []
    found = _models(text, docs) or _brands(text, docs)
    if not found and loose:
        found = _partial_models(text, docs) or _manuals(text, docs)
    grouped: dict[frozenset[str], list[DeviceMatch]] = {}
    for match in found:
        if match.files:
            grouped.setdefault(match.files, []).append(match)
    by_file = {doc.file: doc for doc in docs}
    unique = []
    for files, matches in grouped.items():
        if len({m.label for m in matches}) > 1 and len(files) == 1:  # "000TL": three models of one manual
            unique.append(_manual(by_file[next(iter(files))], docs))
        else:
            unique.append(matches[0])
    return unique


def _models(text: str, docs: list[DocumentInfo]) -> list[DeviceMatch]:
    asked = compact(text)
    hits = [(doc, product) for doc in docs for product in doc.products if len(compact(product)) >= 2]
    hits = [(doc, product) for doc, product in hits if compact(product) in asked]
    if not hits:
        return []
    longest = max(len(compact(product)) for _, product in hits)  # "SF-5000TL-X" beats "SF-5000TL"
    return [_model(doc, product, docs) for doc, product in hits if len(compact(product)) == longest]


def _partial_models(text: str, docs: list[DocumentInfo]) -> list[DeviceMatch]:
    parts = [compact(w) for w in text.split()]
    parts = [p for p in parts if len(p) >= MIN_PART and any(c.isdigit() for c in p)]
    return [
        _model(doc, product, docs)
        for doc in docs
        for product in doc.products
        if any(part in compact(product) for part in parts)
    ]


def _model(doc: DocumentInfo, product: str, docs: list[DocumentInfo]) -> DeviceMatch:
    label = (
        product if not doc.manufacturer or fold(doc.manufacturer) in fold(product) else f"{doc.manufacturer} {product}"
    )
    return DeviceMatch(label, product, frozenset(product_files(docs, product)))


def _brands(text: str, docs: list[DocumentInfo]) -> list[DeviceMatch]:
    folded = " " + " ".join(_PUNCT.sub(" ", fold(text)).split()) + " "
    named = set(brands_in(text))
    theirs = [
        doc
        for doc in docs
        if doc.manufacturer
        and (
            doc.manufacturer in named
            or f" {fold(doc.manufacturer)} " in folded
            or set(brands_in(doc.manufacturer)) & named
        )
    ]
    return [_manual(doc, docs) for doc in theirs]


def _manuals(text: str, docs: list[DocumentInfo]) -> list[DeviceMatch]:
    asked = compact(text)
    if len(asked) < MIN_PART:
        return []
    return [_manual(doc, docs) for doc in docs if asked in compact(doc.title) or asked in compact(Path(doc.file).stem)]


def _manual(doc: DocumentInfo, docs: list[DocumentInfo]) -> DeviceMatch:
    """One manual as a device: its maker's name when that keeps exactly this manual, else its title."""
    mine = frozenset({doc.file})
    if len(doc.products) == 1:
        only = _model(doc, doc.products[0], docs)
        if only.files == mine:
            return only
    if doc.manufacturer and product_files(docs, doc.manufacturer) == mine:
        return DeviceMatch(doc.manufacturer, doc.manufacturer, mine)
    label = " ".join(part for part in (doc.manufacturer, *doc.products[:1]) if part) or doc.title
    return DeviceMatch(label, doc.title, frozenset(product_files(docs, doc.title)) or mine)
