"""The offline answerer: what Nik says when no LLM is configured.

Deterministic and extractive: it searches, and when the search is confident it
quotes the lines of the best page that answer the question (for an error code,
the table row) with ``[Title, S. N]``. When the best pages belong to different
makers and the question names none, it asks which device is meant; when nothing
matches it says the manuals do not contain it. It never writes a sentence of its
own about the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.messages import Answer, Citation, Clarification
from knowledge.catalog import brands_in
from knowledge.models import DocumentInfo, Passage, SearchResult
from knowledge.service import KnowledgeBase
from knowledge.text import best_lines, error_codes, fold, line_scores

QUOTED_LINES = 8
LINE_CHARS = 300
SECOND_QUOTE = 0.9  # quote the runner-up page too when it scored this close to the first
CLOSE_SCORE = 0.85  # a passage this close to the best one is an equally good candidate
SEMANTIC_SHARE = 0.5  # weight of embedding closeness against the lexical line score
MAX_OPTIONS = 4


@dataclass(frozen=True, slots=True)
class OfflineAnswerer:
    knowledge: KnowledgeBase

    def answer(self, question: str, product: str | None = None) -> Answer | Clarification:
        result = self.knowledge.search(question, k=5, product=product)
        if not result.confident or not result.passages:
            return not_found(result)
        documents = {d.file: d for d in self.knowledge.documents()}
        if product is None:
            options = _device_options(question, result, documents)
            if len(options) > 1:
                return Clarification("Welches Gerät meinen Sie?", options)
        return quote(question, result, self._line_scores(question))

    def _line_scores(self, question: str) -> Callable[[list[str]], list[float]]:
        """Lexical line scores plus, scaled to the same range, each line's closeness
        to the question in the embedder's space: the word a technician types is
        often not the word the manual prints."""
        embedder = self.knowledge.embedder
        asked = embedder.query(question)

        def score(lines: list[str]) -> list[float]:
            lexical = line_scores(lines, question)
            worth = [i for i, line in enumerate(lines) if len(line.strip()) >= 8]
            if not worth:
                return lexical
            cosines = embedder.passages([lines[i] for i in worth]) @ asked
            top_lexical = max(lexical) or 1.0
            low, high = float(cosines.min()), float(cosines.max())
            blended = [value / top_lexical for value in lexical]
            for i, cosine in zip(worth, cosines, strict=True):
                blended[i] += SEMANTIC_SHARE * (float(cosine) - low) / max(high - low, 1e-6)
            return blended

        return score


def quote(question: str, result: SearchResult, scorer: Callable[[list[str]], list[float]] | None = None) -> Answer:
    """The best page's answering lines; the runner-up's too when it scored nearly as well."""
    first = result.passages[0]
    quoted = [p for p in result.passages[:2] if p is first or p.score >= first.score * SECOND_QUOTE]
    asked = set(error_codes(question))
    if asked & set(error_codes(first.text)):
        # The best page lists the asked code: a runner-up without it is noise.
        quoted = [p for p in quoted if p is first or asked & set(error_codes(p.text))]
    chosen = [_lines(question, p, scorer) for p in quoted]
    blocks = [_block(p, lines) for p, lines in zip(quoted, chosen, strict=True)]
    cited = [Citation(p.file, p.title, p.page, _excerpt(lines)) for p, lines in zip(quoted, chosen, strict=True)]
    more = [Citation(p.file, p.title, p.page, _excerpt(p.text.splitlines())) for p in result.passages[len(quoted) : 3]]
    text = "Laut Handbuch:\n" + "\n\n".join(blocks)
    if more:
        text += "\n\nWeitere Fundstellen: " + ", ".join(c.label() for c in more)
    return Answer(text, (*cited, *more), "answer", ask_feedback=True)


def _lines(question: str, passage: Passage, scorer: Callable[[list[str]], list[float]] | None) -> list[str]:
    """The lines of ``passage`` that answer ``question`` best."""
    scores = scorer(passage.text.splitlines()) if scorer else None
    return best_lines(passage.text, question, QUOTED_LINES, scores) or passage.text.splitlines()[:QUOTED_LINES]


def _block(passage: Passage, lines: list[str]) -> str:
    quoted = "\n".join(f"> {_short(line)}" for line in lines)
    return f"{quoted}\n{Citation(passage.file, passage.title, passage.page).label()}"


def _excerpt(lines: list[str]) -> str:
    """The quoted lines on one line: the citation's preview."""
    return _short(" ".join(" ".join(lines).split()))


def not_found(result: SearchResult) -> Answer:
    if result.uncovered_brands:
        brands = " / ".join(result.uncovered_brands)
        text = f"Zu {brands} habe ich kein Handbuch. Dazu kann ich leider nichts sagen."
    else:
        text = "Dazu steht in den Handbüchern nichts, was ich sicher zuordnen kann."
    hint = " Formulieren Sie die Frage gern anders oder nennen Sie Gerät und Fehlercode."
    return Answer(text + hint, (), "not_found")


def _device_options(question: str, result: SearchResult, documents: dict[str, DocumentInfo]) -> tuple[str, ...]:
    """Devices among the close top hits (and every hit listing the asked error code),
    when the question names no brand or product."""
    if brands_in(question):
        return ()
    folded = fold(question)
    best = result.passages[0].score
    codes = set(error_codes(question))
    close: list[Passage] = [
        p
        for p in result.passages
        if (p in result.passages[:3] and p.score >= best * CLOSE_SCORE) or (codes & set(error_codes(p.text)))
    ]
    options: dict[str, None] = {}
    for passage in close:
        info = documents.get(passage.file)
        if info is None:
            continue
        if any(fold(name) in folded for name in (info.manufacturer, *info.products) if len(name) >= 3):
            return ()  # the question names the device after all
        label = " ".join(part for part in (info.manufacturer, *info.products[:1]) if part) or info.title
        options.setdefault(label, None)
    makers = {documents[p.file].manufacturer for p in close if p.file in documents}
    return tuple(options)[:MAX_OPTIONS] if len(makers) > 1 else ()


def _short(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"
