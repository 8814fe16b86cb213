"""The agent's three tools: their JSON schemas, strict argument checks, and execution.

A bad call (malformed JSON, unknown key, wrong type, too long, unknown tool) never
raises: it becomes an error text the model reads as the tool result, so it can
correct itself. ``ask_user_clarification`` is not executed here: it ends the turn
(``parse_clarification`` only checks its arguments). The pages tools returned are
remembered, so the answer's ``[Title, S. N]`` can be matched to real citations
(with the page's lines closest to the citing sentence as their preview). ``ToolBox.status`` words a call for the
chat while it runs ("🔎 Suche: E013", "📖 Lese Handbuch …, S. 8").
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.core.messages import Citation, Clarification
from knowledge.errors import KnowledgeError
from knowledge.models import DocumentInfo
from knowledge.service import KnowledgeBase
from knowledge.text import best_lines

SEARCH = "search_knowledge"
FULL_DOCUMENT = "get_full_document"
CLARIFY = "ask_user_clarification"
TOOL_NAMES = (SEARCH, FULL_DOCUMENT, CLARIFY)

SEARCH_HITS = 5
HIT_CHARS = 1200
DOCUMENT_CHARS = 12_000
MAX_PAGES = 30
MAX_OPTIONS = 6
STATUS_CHARS = 60  # a status line's query or manual title, at most
EXCERPT_CHARS = 300  # a citation's preview text, at most
EXCERPT_LINES = 3  # the page lines a preview quotes
CONTEXT_CHARS = 300  # the answer text before a label that picks those lines

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": SEARCH,
            "description": "Durchsucht die Handbücher. Liefert Fundstellen mit Titel, Datei, Seite und Text.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Suchanfrage, z. B. Fehlercode oder Stichworte"},
                    "product": {"type": "string", "description": "Optional: Hersteller oder Modell zum Filtern"},
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": FULL_DOCUMENT,
            "description": "Liest Seiten eines Handbuchs im Volltext (Datei aus den Suchergebnissen).",
            "parameters": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "description": "Dateiname des Handbuchs"},
                    "pages": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": MAX_PAGES},
                },
                "required": ["file"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": CLARIFY,
            "description": "Stellt dem Techniker eine Rückfrage, z. B. welches Gerät gemeint ist. Beendet den Zug.",
            "parameters": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "options": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_OPTIONS},
                },
                "required": ["question"],
                "additionalProperties": False,
            },
        },
    },
]

_CITED = re.compile(r"\[([^\[\]]+?),\s*S\.\s*(\d+)\]")


class _BadCall(ValueError):
    """Arguments the model must fix; the message goes back to it (never leaves this module)."""


@dataclass(frozen=True, slots=True)
class _Field:
    kind: type
    required: bool = False
    max_len: int = 0  # characters of a string / items of a list; 0: unchecked
    item_kind: type | None = None
    item_len: int = 0


_SEARCH_ARGS = {"query": _Field(str, True, 500), "product": _Field(str, False, 100)}
_DOCUMENT_ARGS = {"file": _Field(str, True, 300), "pages": _Field(list, False, MAX_PAGES, int)}
_CLARIFY_ARGS = {"question": _Field(str, True, 500), "options": _Field(list, False, MAX_OPTIONS, str, 80)}


def _arguments(raw: str, spec: dict[str, _Field]) -> dict[str, Any]:
    try:
        args = json.loads(raw or "{}")
    except json.JSONDecodeError as err:
        raise _BadCall(f"arguments are not valid JSON ({err.msg})") from None
    if not isinstance(args, dict):
        raise _BadCall("arguments must be a JSON object")
    unknown = sorted(set(args) - set(spec))
    if unknown:
        raise _BadCall(f"unknown argument(s): {', '.join(unknown)}")
    for name, want in spec.items():
        if name not in args or args[name] is None:
            if want.required:
                raise _BadCall(f"missing argument: {name}")
            args.pop(name, None)
            continue
        value = args[name]
        if not _is(value, want.kind):
            raise _BadCall(f"{name} must be of type {want.kind.__name__}")
        if isinstance(value, str) and not value.strip():
            raise _BadCall(f"{name} must not be empty")
        if want.max_len and len(value) > want.max_len:
            raise _BadCall(f"{name} is too long (at most {want.max_len})")
        if want.item_kind is not None:
            for item in value:
                if not _is(item, want.item_kind):
                    raise _BadCall(f"every item of {name} must be of type {want.item_kind.__name__}")
                if want.item_len and len(item) > want.item_len:
                    raise _BadCall(f"an item of {name} is too long (at most {want.item_len})")
    return args


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def parse_clarification(raw: str) -> Clarification | str:
    """The question to ask, or an error text for the model."""
    try:
        args = _arguments(raw, _CLARIFY_ARGS)
    except _BadCall as err:
        return f"Error: {err}"
    options = tuple(o.strip() for o in args.get("options", ()) if o.strip())
    return Clarification(args["question"].strip(), options)


class ToolBox:
    """Runs tool calls for one turn and remembers the pages they returned."""

    def __init__(
        self, knowledge: KnowledgeBase, seen: list[Citation] | None = None, *, product: str | None = None
    ) -> None:
        self._knowledge = knowledge
        self._product = product  # the chat's device: the search's filter when the model names none
        self.seen: dict[tuple[str, int], Citation] = {}
        self._texts: dict[tuple[str, int], str] = {}  # the text tools returned of each page
        for citation in seen or ():
            self._remember(citation)

    async def run(self, name: str, raw: str) -> str:
        try:
            if name == SEARCH:
                return await self._search(_arguments(raw, _SEARCH_ARGS))
            if name == FULL_DOCUMENT:
                return await self._document(_arguments(raw, _DOCUMENT_ARGS))
            if name == CLARIFY:
                return "Error: ask_user_clarification cannot be combined with this call"
            return f"Error: unknown tool {name[:60]!r}; available tools: {', '.join(TOOL_NAMES)}"
        except _BadCall as err:
            return f"Error: {err}"
        except KnowledgeError as err:
            return f"Error: {err}"

    def status(self, name: str, raw: str) -> str | None:
        """What the chat is shown while the call ``name(raw)`` runs ("Suche: E013"); None for
        a call that ends the turn or whose arguments are unusable (the model gets the error)."""
        try:
            if name == SEARCH:
                args = _arguments(raw, _SEARCH_ARGS)
                product = f" ({_one_line(args['product'], 40)})" if args.get("product") else ""
                return f"🔎 Suche: {_one_line(args['query'], STATUS_CHARS)}{product}"
            if name == FULL_DOCUMENT:
                args = _arguments(raw, _DOCUMENT_ARGS)
                titles = {c.file: c.title for c in self.seen.values()}
                manual = titles.get(args["file"]) or Path(args["file"]).stem
                return f"📖 Lese Handbuch {_one_line(manual, STATUS_CHARS)}{_pages(args.get('pages'))}"
        except _BadCall:
            return None
        return None

    def cited(self, text: str) -> tuple[Citation, ...]:
        """The pages ``text`` cites as ``[Title, S. N]`` that tools returned this turn, in order,
        each with the page's lines closest to the words before its first label as the excerpt."""
        found: dict[Citation, None] = {}
        for label in _CITED.finditer(text):
            key = (_norm(label.group(1)), int(label.group(2)))
            citation = self.seen.get(key)
            if citation is None or citation in found:
                continue
            before = text[max(0, label.start() - CONTEXT_CHARS) : label.start()]
            lines = best_lines(self._texts.get(key, ""), before, EXCERPT_LINES)
            found[replace(citation, excerpt=_excerpt(" ".join(lines))) if lines else citation] = None
        return tuple(found)

    async def _search(self, args: dict[str, Any]) -> str:
        result = await asyncio.to_thread(
            self._knowledge.search, args["query"], SEARCH_HITS, args.get("product") or self._product
        )
        hits = []
        for passage in result.passages:
            self._remember(Citation(passage.file, passage.title, passage.page, _excerpt(passage.text)), passage.text)
            text = _cut(passage.text, HIT_CHARS)
            hits.append({"title": passage.title, "file": passage.file, "page": passage.page, "text": text})
        payload: dict[str, Any] = {"confident": result.confident, "hits": hits}
        if result.uncovered_brands:
            payload["no_manual_for"] = list(result.uncovered_brands)
        return json.dumps(payload, ensure_ascii=False)

    async def _document(self, args: dict[str, Any]) -> str:
        pages = args.get("pages")
        if pages is not None and any(p < 1 for p in pages):
            raise _BadCall("pages are numbered from 1")
        docs = await asyncio.to_thread(self._knowledge.documents)
        info = _find(docs, args["file"])
        if info is None:
            names = ", ".join(d.file for d in docs[:20])
            raise _BadCall(f"no manual is called {args['file'][:100]!r}; manuals: {names}")
        found = await asyncio.to_thread(self._knowledge.full_document, info.file, pages)
        budget = DOCUMENT_CHARS
        out: list[dict[str, Any]] = []
        truncated = False
        for page in found:
            if budget <= 0:
                truncated = True
                break
            text = _cut(page.text, budget)
            truncated = truncated or len(text) < len(page.text)
            budget -= len(text)
            self._remember(Citation(info.file, info.title, page.number, _excerpt(page.text)), page.text)
            out.append({"page": page.number, "text": text})
        payload = {"title": info.title, "file": info.file, "pages": out, "truncated": truncated}
        return json.dumps(payload, ensure_ascii=False)

    def _remember(self, citation: Citation, text: str = "") -> None:
        key = (_norm(citation.title), citation.page)
        self.seen.setdefault(key, citation)
        if len(text) > len(self._texts.get(key, "")):
            self._texts[key] = text


def _find(docs: list[DocumentInfo], file: str) -> DocumentInfo | None:
    wanted = file.strip().lower()
    for doc in docs:
        name = doc.file.lower()
        if wanted in (name, Path(name).name, Path(name).stem, doc.title.lower()):
            return doc
    return None


def _excerpt(text: str) -> str:
    """The start of a page's text on one line: a cited source's preview."""
    return _one_line(text, EXCERPT_CHARS)


def _one_line(text: str, limit: int) -> str:
    return _cut(" ".join(text.split()), limit)


def _pages(pages: list[int] | None) -> str:
    """The pages part of a status line: ", S. 8", ", S. 8–10" or ", S. 3, 5, 9 …"."""
    if not pages:
        return ""
    ordered = sorted(set(pages))
    if len(ordered) > 1 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f", S. {ordered[0]}–{ordered[-1]}"
    shown = ", ".join(str(p) for p in ordered[:4])
    return f", S. {shown}" + (" …" if len(ordered) > 4 else "")


def _norm(title: str) -> str:
    return " ".join(title.split()).casefold()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
