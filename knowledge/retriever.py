"""Hybrid retrieval: analysed BM25 + multilingual vectors, fused, one hit per page.

1. Query understanding: error codes, German/English stems and the trade glossary
   (``text.query_terms``); brands and model names (``catalog``). A brand the
   question names narrows the search to that brand's manuals; a brand that no
   indexed manual covers makes the result "not confident" (the bot then says the
   manuals do not cover it instead of citing another maker's page).
2. Candidates from LanceDB's native FTS (on the pre-analysed ``terms`` column) and
   from cosine vector search, each limited to ``CANDIDATES``.
3. Weighted reciprocal-rank fusion; the lexical side weighs more because the
   embedder is small. Optional Cohere rerank of the fused top.
4. One passage per (file, page), best first, and a confidence verdict.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from lancedb.table import Table

from knowledge.catalog import brands_in
from knowledge.embedder import Embedder
from knowledge.index import IndexState
from knowledge.models import DocumentInfo, Passage, SearchResult
from knowledge.text import fold, query_terms

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "fts", "vector"]
CANDIDATES = 60
RRF_K = 20
FTS_WEIGHT = 1.0
VECTOR_WEIGHT = 0.6
MIN_COSINE = 0.83  # e5-small cosine below which a passage is only "near", not "about"
MIN_COVERAGE = 0.5  # share of the query's content terms the best passage must contain
_COLUMNS = ["file", "title", "page", "ordinal", "section", "text", "terms"]


class Reranker(Protocol):
    def rerank(self, query: str, texts: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        """(index into texts, relevance) best first."""
        ...


@dataclass(frozen=True, slots=True)
class Candidate:
    key: tuple[str, int, int]
    row: dict[str, object]
    fts_rank: int | None = None
    vector_rank: int | None = None
    cosine: float = 0.0


class Retriever:
    def __init__(self, embedder: Embedder, reranker: Reranker | None = None) -> None:
        self._embedder = embedder
        self._reranker = reranker

    def search(
        self,
        state: IndexState,
        chunks: Table,
        query: str,
        k: int = 5,
        product: str | None = None,
        mode: Mode = "hybrid",
    ) -> SearchResult:
        query = query.strip()
        if not query:
            return SearchResult(query, (), False, "empty query")
        files, doubt = self._scope(state, query, product)
        if files is not None and not files:
            return SearchResult(query, (), False, doubt or "no manual matches the product")
        where = _in_filter(files)
        terms = query_terms(query)
        fts = self._fts(chunks, terms, where) if mode != "vector" else []
        vec = self._vector(chunks, query, where) if mode != "fts" else []
        fused = _fuse(fts, vec, mode)
        passages = _per_page(fused, state)
        if self._reranker is not None and mode == "hybrid" and passages:
            passages = self._rerank(query, passages)
        passages = passages[:k]
        confident, reason = _confidence(query, terms, fused, passages, doubt)
        return SearchResult(query, tuple(passages), confident, reason)

    def _scope(self, state: IndexState, query: str, product: str | None) -> tuple[set[str] | None, str]:
        """Files to search (None: all) and a doubt about the question's subject."""
        docs = state.documents
        if product:
            wanted = fold(product)
            return {d.info.file for d in docs if wanted in fold(_descriptor(d.info))}, ""
        named = brands_in(query)
        if not named:
            return None, ""
        brand_files = {
            d.info.file
            for d in docs
            if set(named) & ({d.info.manufacturer} | set(brands_in(_descriptor(d.info))))
        }
        if brand_files:
            return brand_files, ""
        return None, f"no indexed manual covers {', '.join(named)}"

    def _fts(self, chunks: Table, terms: list[str], where: str | None) -> list[dict[str, object]]:
        if not terms:
            return []
        search = chunks.search(" ".join(terms), query_type="fts", fts_columns="terms").select(_COLUMNS)
        if where:
            search = search.where(where, prefilter=True)
        return list(search.limit(CANDIDATES).to_list())

    def _vector(self, chunks: Table, query: str, where: str | None) -> list[dict[str, object]]:
        vector = self._embedder.query(query)
        search = chunks.search(vector, vector_column_name="vector").distance_type("cosine").select(_COLUMNS)
        if where:
            search = search.where(where, prefilter=True)
        return list(search.limit(CANDIDATES).to_list())

    def _rerank(self, query: str, passages: list[Passage]) -> list[Passage]:
        head = passages[:30]
        try:
            order = self._reranker.rerank(query, [p.text for p in head], len(head))  # type: ignore[union-attr]
        except Exception as err:  # noqa: BLE001 - a remote reranker must never break search
            log.warning("rerank failed, keeping fused order: %s", type(err).__name__)
            return passages
        ranked = [Passage(head[i].file, head[i].title, head[i].page, head[i].text, score, head[i].section)
                  for i, score in order if 0 <= i < len(head)]
        return ranked + passages[len(head):]


def _fuse(fts: list[dict[str, object]], vec: list[dict[str, object]], mode: Mode) -> list[Candidate]:
    found: dict[tuple[str, int, int], Candidate] = {}
    for rank, row in enumerate(fts):
        key = _key(row)
        found[key] = Candidate(key, row, fts_rank=rank)
    for rank, row in enumerate(vec):
        key = _key(row)
        cosine = 1.0 - float(row.get("_distance", 1.0))  # type: ignore[arg-type]
        old = found.get(key)
        found[key] = Candidate(key, old.row if old else row, old.fts_rank if old else None, rank, cosine)

    def score(c: Candidate) -> float:
        total = 0.0
        if c.fts_rank is not None and mode != "vector":
            total += FTS_WEIGHT / (RRF_K + c.fts_rank)
        if c.vector_rank is not None and mode != "fts":
            total += VECTOR_WEIGHT / (RRF_K + c.vector_rank)
        return total

    ranked = sorted(found.values(), key=score, reverse=True)
    return [Candidate(c.key, {**c.row, "_fused": score(c)}, c.fts_rank, c.vector_rank, c.cosine) for c in ranked]


def _per_page(candidates: list[Candidate], state: IndexState) -> list[Passage]:
    titles = {d.info.file: d.info.title for d in state.documents}
    seen: set[tuple[str, int]] = set()
    passages: list[Passage] = []
    for c in candidates:
        file, page = str(c.row["file"]), int(c.row["page"])  # type: ignore[call-overload]
        if (file, page) in seen:
            continue
        seen.add((file, page))
        passages.append(
            Passage(file, titles.get(file, str(c.row["title"])), page, str(c.row["text"]),
                    round(float(c.row["_fused"]), 6), str(c.row["section"]))  # type: ignore[arg-type]
        )
    return passages


def _confidence(query: str, terms: list[str], fused: list[Candidate], passages: list[Passage],
                doubt: str) -> tuple[bool, str]:
    if doubt:
        return False, doubt
    if not passages:
        return False, "no passage matches"
    best = fused[0]
    cosine = max((c.cosine for c in fused[:5]), default=0.0)
    chunk_terms = set(str(best.row.get("terms", "")).split())
    own = [t for t in terms if not t.startswith("c")] or terms
    coverage = sum(t in chunk_terms for t in own) / max(len(own), 1)
    codes = [t for t in terms if re.fullmatch(r"c[a-z]?\d+", t)]
    if codes and not any(code in chunk_terms for code in codes):
        return False, "the error code does not occur in the best passage"
    if cosine >= MIN_COSINE or coverage >= MIN_COVERAGE:
        return True, ""
    return False, f"weak match (cosine {cosine:.2f}, coverage {coverage:.2f})"


def _key(row: dict[str, object]) -> tuple[str, int, int]:
    return (str(row["file"]), int(row["page"]), int(row["ordinal"]))  # type: ignore[call-overload]


def _in_filter(files: set[str] | None) -> str | None:
    if files is None:
        return None
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in sorted(files))
    return f"file IN ({quoted})"


def _descriptor(info: DocumentInfo) -> str:
    return " ".join([info.title, info.file.replace("_", " "), info.manufacturer, *info.products])
