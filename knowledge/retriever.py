"""Hybrid retrieval: analysed BM25 + multilingual vectors, ranked by page, with a calibrated verdict.

1. Plan (``Retriever.plan``): error codes, bits and hex values, German/English stems
   and the trade glossary (``text.query_groups``), each group's rarity in the index;
   brands and model names (``catalog``). A brand the question names narrows the search
   to that brand's manuals (a brand no indexed manual covers: "not in the manuals");
   among those, the manuals whose title or file name carry the question's model or
   version words are "named".
2. Pool: candidates from LanceDB's native FTS (on the pre-analysed ``terms`` column)
   and from cosine vector search.
3. Rank: a chunk scores BM25 relative to the best, plus cosine relative to the
   candidates' spread, plus the share of the question's topic that one of its lines
   (a table row) and its section heading hold, plus a bonus when its manual is named.
   A page scores its best chunk plus a share of its neighbours' (tables run on);
   one passage per page; optional Cohere rerank. Weights: ``Ranking``, chosen on the
   generated question set by ``bench/tune.py``.
4. Verdict: a small logistic model over the evidence (``evidence``: the best chunk's share
   of the topic, the share of the topic no manual in scope contains, the nearest cosine,
   an asked code found or missing) decides whether the best page really answers the
   question (``Calibration``, fitted by ``bench/tune.py``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np
import pyarrow as pa
from lancedb.query import LanceVectorQueryBuilder
from lancedb.table import Table

from knowledge.catalog import brands_in
from knowledge.embedder import Embedder, Vectors
from knowledge.index import IndexState
from knowledge.models import DocumentInfo, Passage, SearchResult
from knowledge.text import (
    QUESTION_NOISE,
    STOPWORDS,
    bound_groups,
    camel_words,
    fold,
    model_parts,
    question_language,
    stem,
    words,
)

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "fts", "vector"]
CANDIDATES = 60
NEAR_DUPLICATE = 0.8  # share of words two passages share to count as the same text
_DENSE_WORD = re.compile(r"[^\W_]+(?:[.\-/][^\W_]+)*")  # a word with its inner dots, hyphens, slashes
_VERSION = re.compile(r"(?<!\d)(?<!\d\.)\d{1,2}\.\d{1,3}(?!\d|\.\d)")  # "2.16", "v3.05"; not a date "24.05.2019"
# "5 Set address ....... 12", "Standby . . . . 17", "Recovery ……… - 24 -"
_CONTENTS_LINE = re.compile(r"[.…·](?: ?[.…·]){3,}\s*-?\s*\d+\s*-?\s*$")
TYPO_MIN = 5  # shorter words are not respelled: too many real words lie one swap apart
COVER_CHARS = 300  # the opening of a manual's first page, where it names its products
_COLUMNS = ["file", "title", "page", "ordinal", "section", "text", "terms"]
_FTS_COLUMNS = [*_COLUMNS, "_score"]
_VECTOR_COLUMNS = [*_COLUMNS, "_distance"]
# Chosen by bench/tune.py (coordinate ascent on the generated tune split, 1 542
# questions in four draws; reported on its held-out split, qa-dev, qa-extra and the blind
# sets): see docs/retrieval.md.
LEXICAL_SHARE = 0.6


class Reranker(Protocol):
    def rerank(self, query: str, texts: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        """(index into texts, relevance) best first."""
        ...


@dataclass(frozen=True, slots=True)
class Candidate:
    key: tuple[str, int, int]
    row: dict[str, object]
    bm25: float = 0.0
    cosine: float = 0.0
    score: float = 0.0
    row_share: float = 0.0  # share of the question's topic (rarity-weighted) in the chunk's best line
    heading_share: float = 0.0  # ... in its section heading
    contents: bool = False  # mostly lines of a table of contents (``_contents``)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The weights of page ranking, chosen on the generated question set (bench/tune.py)."""

    lexical: float = LEXICAL_SHARE  # share of BM25 in a chunk's score; the rest is cosine
    candidates: int = CANDIDATES  # depth of each candidate list
    support: float = 0.0  # share of a page's second-best chunk added to its best
    neighbour: float = 0.1  # share of an adjacent page's best chunk added (tables that run on)
    named: float = 0.2  # added for a manual the question names by model or version
    row: float = 0.5  # times the share of the question's topic one line of the chunk (a table row) holds
    heading: float = 0.0  # times the share of the question's topic the chunk's section heading holds


@dataclass(frozen=True, slots=True)
class Calibration:
    """The "not in the manuals" verdict: a logistic model over ``evidence`` signals, fitted
    on the generated tune split (bench/tune.py); confident when the logit reaches ``threshold``."""

    weights: tuple[tuple[str, float], ...]
    intercept: float
    threshold: float

    def logit(self, signals: dict[str, float]) -> float:
        return self.intercept + sum(w * signals.get(name, 0.0) for name, w in self.weights)

    def confident(self, signals: dict[str, float]) -> bool:
        return self.logit(signals) >= self.threshold


# Fitted by bench/tune.py on the tune split's questions that no hard rule decided; the
# threshold recognises most unanswerable ones while calling at most 5 % of the answerable
# ones "not in the manuals" there. The cosine is the embedder's own scale, so only e5 has
# a model with it; other embedders use the lexical one.
CALIBRATIONS = {
    "e5-small": Calibration(
        (
            ("topic_coverage", -0.0869),
            ("closest", 28.0562),  # the closest window's cosine
            ("code_missing", 0.0),
            ("code_found", 0.2799),
            ("absent", -4.4033),
        ),
        intercept=-19.9396,
        threshold=0.75,
    ),
}
LEXICAL_CALIBRATION = Calibration(
    (("topic_coverage", 0.4181), ("code_missing", -3.4185), ("code_found", 0.007), ("absent", -4.621)),
    intercept=3.7262,
    threshold=0.75,
)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a question asks for, before any candidate is fetched."""

    query: str
    files: set[str] | None  # the manuals in scope (None: all)
    doubt: str  # why the subject is not covered ("" if it is)
    uncovered: tuple[str, ...]
    named: frozenset[str]  # manuals the question names by model or version
    groups: list[tuple[str, ...]]
    terms: list[str]
    vector: Vectors
    rarity: tuple[float, ...] = ()  # per group: idf of its rarest known term (0: no chunk has any)
    absent: float = 0.0  # share of the topic no manual in scope contains (``_absent``)
    judged: tuple[bool, ...] = ()  # per group: can the manuals in scope show it missing (their language)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the index's chunks contain: per term the number of chunks holding it, and per manual its terms."""

    frequency: dict[str, int]
    chunks: int
    terms: dict[str, frozenset[str]]  # file -> every term of its chunks
    names: dict[str, frozenset[str]]  # file -> the terms of its descriptor (title, file name, maker, products)
    by_language: dict[str, frozenset[str]] = field(default_factory=dict)  # language -> terms of its manuals
    naming: dict[str, frozenset[str]] = field(default_factory=dict)  # file -> ``name_tokens`` of descriptor and cover


@dataclass(frozen=True, slots=True)
class Pool:
    """Raw candidates of both sides (rows as LanceDB returns them)."""

    fts: list[dict[str, object]]
    vec: list[dict[str, object]]


class Retriever:
    def __init__(self, embedder: Embedder, reranker: Reranker | None = None, ranking: Ranking | None = None) -> None:
        self._embedder = embedder
        self._reranker = reranker
        self.ranking = ranking or Ranking()
        self._calibration = next(
            (c for prefix, c in CALIBRATIONS.items() if embedder.name.startswith(prefix)), LEXICAL_CALIBRATION
        )
        self._brands: tuple[tuple[int, int], dict[str, frozenset[str]]] = ((-1, -1), {})
        self._vocabulary: tuple[tuple[int, int], Vocabulary] = ((-1, -1), Vocabulary({}, 0, {}, {}))

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
        plan = self.plan(state, query, product, chunks)
        pool = self.pool(chunks, plan, mode, self.ranking.candidates)
        return self.rank(state, plan, pool, k, mode, self.ranking)

    def plan(self, state: IndexState, query: str, product: str | None = None, chunks: Table | None = None) -> Plan:
        files, doubt = self._scope(state, query, product)
        vocabulary = self._vocabulary_of(state, chunks)
        bound = [(_respelled(g, vocabulary.frequency), is_bound) for g, is_bound in bound_groups(query)]
        groups = [g for g, _ in bound]
        rarity = tuple(_rarity(g, vocabulary.frequency, vocabulary.chunks) for g in groups)
        # A word bound to the question's language says nothing by its absence from manuals
        # that are all written in another language.
        language = question_language(query)
        foreign = bool(language) and all(
            d.info.language != language for d in state.documents if files is None or d.info.file in files
        )
        # A word is bound to the question's language when manuals in that language print it.
        native = vocabulary.by_language.get(language, frozenset())
        judged = tuple(not (is_bound and foreign and native.intersection(g)) for g, is_bound in bound)
        return Plan(
            query=query,
            files=files,
            doubt=doubt,
            uncovered=tuple(brands_in(query)) if doubt else (),
            named=_named(query, files, vocabulary),
            groups=groups,
            terms=list(dict.fromkeys(t for g in groups for t in g)),
            vector=self._embedder.query(_dense_query(query, files, vocabulary)),
            rarity=rarity,
            absent=_absent(groups, rarity, files, vocabulary, judged),
            judged=judged,
        )

    def _vocabulary_of(self, state: IndexState, chunks: Table | None) -> Vocabulary:
        """The index's terms, counted and per manual; read once per index revision."""
        version = (state.version, state.revision)
        if chunks is not None and self._vocabulary[0] != version:
            counts: dict[str, int] = {}
            by_file: dict[str, set[str]] = {}
            names: dict[str, set[str]] = {}
            rows = chunks.search().select(["file", "terms"]).limit(max(chunks.count_rows(), 1)).to_list()
            for row in rows:
                terms = set(str(row["terms"]).split())
                for term in terms:
                    counts[term] = counts.get(term, 0) + 1
                by_file.setdefault(str(row["file"]), set()).update(terms)
                names.setdefault(str(row["file"]), set()).update(_fields(row)[0])
            covers = {
                str(row["file"]): str(row["text"])[:COVER_CHARS]
                for row in chunks.search()
                .where("page = 1 AND ordinal = 0")
                .select(["file", "text"])
                .limit(max(len(state.documents), 1))
                .to_list()
            }
            naming = {
                d.info.file: frozenset(name_tokens(f"{_descriptor(d.info)} {covers.get(d.info.file, '')}"))
                for d in state.documents
            }
            languages = {d.info.file: d.info.language for d in state.documents}
            by_language: dict[str, set[str]] = {}
            for file, terms in by_file.items():
                by_language.setdefault(languages.get(file, ""), set()).update(terms)
            frozen = {f: frozenset(t) for f, t in by_file.items()}
            self._vocabulary = (
                version,
                Vocabulary(
                    counts,
                    len(rows),
                    frozen,
                    {f: frozenset(n) for f, n in names.items()},
                    {lang: frozenset(t) for lang, t in by_language.items()},
                    naming,
                ),
            )
        return self._vocabulary[1]

    def pool(self, chunks: Table, plan: Plan, mode: Mode, depth: int) -> Pool:
        if plan.files is not None and not plan.files:
            return Pool([], [])  # no manual is in scope
        where = _in_filter(plan.files)
        # an index built before window vectors (until the next `nik index`) has only ``vector``
        dense = "windows" if "windows" in chunks.schema.names else "vector"
        fts = self._fts(chunks, plan.terms, where, depth, dense) if mode != "vector" else None
        vec = self._vector(chunks, plan.vector, where, depth, dense) if mode != "fts" else None
        return Pool(_with_closest(fts, plan.vector, dense), _with_closest(vec, plan.vector, dense))

    def rank(self, state: IndexState, plan: Plan, pool: Pool, k: int, mode: Mode, ranking: Ranking) -> SearchResult:
        if plan.files is not None and not plan.files:
            return SearchResult(plan.query, (), False, plan.doubt or "no manual matches the product")
        fused = _fuse(pool.fts[: ranking.candidates], pool.vec[: ranking.candidates], plan, mode, ranking)
        passages = _newest_first(_per_page(fused, state, ranking), state)
        if self._reranker is not None and mode == "hybrid" and passages:
            passages = self._rerank(plan.query, passages)
        passages = passages[:k]
        signals = evidence(plan, fused, passages)
        confident, reason = _confidence(plan, passages, signals, self._calibration)
        return SearchResult(plan.query, tuple(passages), confident, reason, plan.uncovered, tuple(signals.items()))

    def _scope(self, state: IndexState, query: str, product: str | None) -> tuple[set[str] | None, str]:
        """Files to search (None: all) and a doubt about the question's subject."""
        docs = state.documents
        if product:
            return product_files((d.info for d in docs), product), ""
        folded = f" {' '.join(words(query))} "
        makers = {d.info.manufacturer for d in docs if d.info.manufacturer}
        # Brands from the built-in list, plus makers that only the catalog names.
        named = list(dict.fromkeys([*brands_in(query), *(m for m in makers if f" {fold(m)} " in folded)]))
        if not named:
            return None, ""
        brands = self._document_brands(state)
        brand_files = {file for file, theirs in brands.items() if set(named) & theirs}
        if brand_files:
            return brand_files, ""
        return None, f"no indexed manual covers {', '.join(named)}"

    def _document_brands(self, state: IndexState) -> dict[str, frozenset[str]]:
        """Each manual's brands (manufacturer and brands its title/products name), once per index revision."""
        version = (state.version, state.revision)
        if self._brands[0] != version:
            brands = {
                d.info.file: frozenset({d.info.manufacturer, *brands_in(_descriptor(d.info))}) for d in state.documents
            }
            self._brands = (version, brands)
        return self._brands[1]

    def _fts(self, chunks: Table, terms: list[str], where: str | None, depth: int, dense: str) -> pa.Table | None:
        if not terms:
            return None
        search = chunks.search(" ".join(terms), query_type="fts", fts_columns="terms").select([*_FTS_COLUMNS, dense])
        if where:
            search = search.where(where, prefilter=True)
        return search.limit(depth).to_arrow()

    def _vector(self, chunks: Table, vector: Vectors, where: str | None, depth: int, dense: str) -> pa.Table:
        search = chunks.search(vector, vector_column_name="vector")
        assert isinstance(search, LanceVectorQueryBuilder)
        # refine_factor re-scores ANN hits exactly (recall 0.67 → 0.97 at 100k chunks);
        # without an ANN index the search is exact anyway.
        search = search.distance_type("cosine").refine_factor(10).select([*_VECTOR_COLUMNS, dense])
        if where:
            search = search.where(where, prefilter=True)
        return search.limit(depth).to_arrow()

    def _rerank(self, query: str, passages: list[Passage]) -> list[Passage]:
        head = passages[:30]
        try:
            order = self._reranker.rerank(query, [p.text for p in head], len(head))  # type: ignore[union-attr]
        except Exception as err:
            log.warning("rerank failed, keeping fused order: %s", type(err).__name__)
            return passages
        ranked = [
            Passage(head[i].file, head[i].title, head[i].page, head[i].text, score, head[i].section)
            for i, score in order
            if 0 <= i < len(head)
        ]
        return ranked + passages[len(head) :]


def _dense_query(query: str, files: set[str] | None, vocabulary: Vocabulary) -> str:
    """What the embedder sees of the question: without the words that merely name the
    manuals in scope (the scope already holds them; left in, they pull the vector to
    every page of those manuals) and without the words that frame a phone question."""
    names = vocabulary.naming
    naming = frozenset().union(*(names[f] for f in files if f in names)) if files else frozenset()
    kept = [
        w
        for w in _DENSE_WORD.findall(query)
        if fold(w) not in QUESTION_NOISE and not (fold(w) in naming or naming.issuperset(words(w)))
    ]
    return " ".join(kept) or query


def _respelled(group: tuple[str, ...], frequency: dict[str, int]) -> tuple[str, ...]:
    """A word no chunk holds also stands for the most frequent word that chunks hold and
    that it becomes when two neighbouring letters are swapped back ("regisetr" → "register")."""
    if any(term in frequency for term in group):
        return group
    swapped = {
        term[:i] + term[i + 1] + term[i] + term[i + 2 :]
        for term in group
        if len(term) >= TYPO_MIN and term.isalpha()
        for i in range(len(term) - 1)
    }
    # The group holds stems; a swapped stem is stemmed again ("regisetr" → "register" → "regist").
    known = [t for term in swapped for t in {term, stem(term, "de"), stem(term, "en")} if t in frequency]
    return (*group, max(known, key=lambda t: (frequency[t], t))) if known else group


def _named(query: str, files: set[str] | None, vocabulary: Vocabulary) -> frozenset[str]:
    """The manuals among ``files`` whose title, file name, products or cover page carry
    most of the question's model and version words; a word counts less the more of
    them carry it, and not at all when every one does."""
    names = vocabulary.naming
    scope = [f for f in names if files is None or f in files]
    if len(scope) < 2:
        return frozenset()
    asked = set(name_tokens(query))
    carriers = {token: sum(token in names[f] for f in scope) for token in asked}
    counts = {f: sum(1 / carriers[t] for t in names[f] & asked if carriers[t] < len(scope)) for f in scope}
    best = max(counts.values())
    if best == 0:
        return frozenset()
    return frozenset(f for f, n in counts.items() if n >= best - 1e-9)


def name_tokens(text: str) -> list[str]:
    """Words a technician uses to name a model, edition or kind of document: folded words,
    their letter and digit runs, version marks inside them ("SmartEVSEv2" → ``v2``,
    "V1.24" → ``v1``), and the kind of document a word names ("Datenblatt", "DS" → ``datasheet``)."""
    folded = fold(f"{text} {camel_words(text)}".replace("_", " "))
    tokens = [w for w in words(folded) if w not in STOPWORDS and not (w.isdigit() and len(w) < 3)]
    tokens += [part for w in tokens for part in model_parts(w) if not (part.isdigit() and len(part) < 3)]
    tokens += re.findall(r"(?<![a-z])v\d+|(?<=[a-z])v\d+", folded)
    tokens += _VERSION.findall(folded)
    tokens += [DOCUMENT_KINDS[w] for w in tokens if w in DOCUMENT_KINDS]
    return list(dict.fromkeys(tokens))


# How technicians, titles and file names name the kind of a document.
DOCUMENT_KINDS = {
    **dict.fromkeys(["datenblatt", "datasheet", "ds", "datenblad"], "datasheet"),
    **dict.fromkeys(["kurzanleitung", "schnellanleitung", "quick", "quickguide", "snelstartgids"], "quickguide"),
    **dict.fromkeys(
        ["handbuch", "bedienungsanleitung", "installationsanleitung", "manual", "handleiding", "gebruikershandleiding"],
        "manual",
    ),
    **dict.fromkeys(["protokoll", "protocol", "protokol"], "protocol"),
    **dict.fromkeys(["zertifikat", "certificate", "bescheinigung"], "certificate"),
}


def _fuse(
    fts: list[dict[str, object]], vec: list[dict[str, object]], plan: Plan, mode: Mode, ranking: Ranking
) -> list[Candidate]:
    """Union of both candidate lists, scored with everything known about each:
    BM25 relative to the best BM25, and cosine (computed for every candidate from
    its stored window vectors: the closest window) relative to the candidates' spread;
    plus the bonus of a manual the question names."""
    found: dict[tuple[str, int, int], Candidate] = {}
    for row in fts:
        found[_key(row)] = Candidate(_key(row), row, bm25=float(row["_score"]))  # type: ignore[arg-type]
    for row in vec:
        found.setdefault(_key(row), Candidate(_key(row), row))
    if not found:
        return []
    cosines = {key: float(c.row["closest"]) for key, c in found.items()}  # type: ignore[arg-type]
    top_bm25 = max((c.bm25 for c in found.values()), default=0.0) or 1.0
    high = max(cosines.values())
    low = min(cosines.values())
    spread = max(high - low, 1e-6)

    def score(c: Candidate) -> float:
        lexical = c.bm25 / top_bm25
        dense = (cosines[c.key] - low) / spread
        named = ranking.named if c.key[0] in plan.named else 0.0
        bonus = named + ranking.row * c.row_share + ranking.heading * c.heading_share
        if mode == "fts":
            return lexical + bonus
        if mode == "vector":
            return dense + named
        return ranking.lexical * lexical + (1 - ranking.lexical) * dense + bonus

    structured = ranking.row or ranking.heading
    scored = []
    for c in found.values():
        row_share, heading_share = _field_matches(c.row, plan) if structured else (0.0, 0.0)
        c = replace(
            c, cosine=cosines[c.key], row_share=row_share, heading_share=heading_share, contents=_contents(c.row)
        )
        scored.append(replace(c, score=score(c)))
    # A table of contents names sections and answers from none: its chunks come after the others.
    return sorted(scored, key=lambda c: (not c.contents, c.score), reverse=True)


def _with_closest(found: pa.Table | None, query: Vectors, dense: str = "windows") -> list[dict[str, object]]:
    """Candidate rows, each with its cosine to the question as ``closest``: that of its
    closest window of lines (computed on the Arrow buffers: the window vectors never
    become Python lists). ``dense="vector"``: an index without windows, the chunk's vector."""
    if found is None or found.num_rows == 0:
        return []
    column = found.column(dense).combine_chunks()
    if dense == "vector":
        closest = column.values.to_numpy(zero_copy_only=False).reshape(-1, len(query)) @ query
    else:  # every chunk has at least one window (``indexer.windows``)
        offsets = column.offsets.to_numpy()
        cosines = column.values.values.to_numpy(zero_copy_only=False).reshape(-1, len(query)) @ query
        closest = np.maximum.reduceat(cosines, offsets[:-1])
    rows = found.drop_columns([dense]).to_pylist()
    for row, cosine in zip(rows, closest.tolist(), strict=True):
        row["closest"] = cosine
    return rows


def _contents(row: dict[str, object]) -> bool:
    """Most of the chunk's lines are contents lines (a heading, dot leaders, a page number)."""
    lines = [line for line in str(row.get("text", "")).splitlines() if line.strip()]
    return sum(bool(_CONTENTS_LINE.search(line)) for line in lines) * 2 > len(lines)


def _fields(row: dict[str, object]) -> tuple[set[str], set[str], list[set[str]]]:
    """A chunk's terms by field: descriptor, section heading, each text line (one line of
    terms per field, ``text.field_terms``); an index built before fields were kept has
    only the text."""
    fields = str(row.get("terms", "")).split("\n")
    if len(fields) < 3:
        return set(), set(), [set(" ".join(fields).split())]
    return set(fields[0].split()), set(fields[1].split()), [set(line.split()) for line in fields[2:]]


def _topic(plan: Plan, descriptor: set[str]) -> list[tuple[tuple[str, ...], float]]:
    """The question's term groups with their rarity, without the words that merely name this manual."""
    weights = plan.rarity or tuple(1.0 for _ in plan.groups)
    return [(g, w) for g, w in zip(plan.groups, weights, strict=True) if w > 0 and not descriptor.intersection(g)]


def _share(topic: list[tuple[tuple[str, ...], float]], terms: set[str]) -> float:
    total = sum(w for _, w in topic)
    return sum(w for g, w in topic if terms.intersection(g)) / total if total else 0.0


def _topic_coverage(row: dict[str, object], plan: Plan) -> float:
    """The rarity-weighted share of the question's topic the whole chunk holds, leaving out
    the words its manuals' language cannot show (``Plan.judged``)."""
    descriptor, section, lines = _fields(row)
    judged = plan.judged or tuple(True for _ in plan.groups)
    kept = replace(
        plan,
        groups=[g for g, j in zip(plan.groups, judged, strict=True) if j],
        rarity=tuple(r for r, j in zip(plan.rarity, judged, strict=True) if j) if plan.rarity else (),
    )
    return _share(_topic(kept, descriptor), section.union(*lines))


def _field_matches(row: dict[str, object], plan: Plan) -> tuple[float, float]:
    """How much of the question's topic one line of the chunk (a table row) and its section
    heading hold; a table of contents' line (dot leaders, page number) is no row."""
    descriptor, section, lines = _fields(row)
    topic = _topic(plan, descriptor)
    text = str(row.get("text", "")).splitlines()
    if len(text) == len(lines):  # a contents line names a section; it does not answer from it
        lines = [terms for terms, line in zip(lines, text, strict=True) if not _CONTENTS_LINE.search(line)]
    return max((_share(topic, line) for line in lines), default=0.0), _share(topic, section)


def _per_page(candidates: list[Candidate], state: IndexState, ranking: Ranking) -> list[Passage]:
    """One passage per page, the page scored by its best chunk, a share of its second
    best, and a share of the best chunk of the page before or after it."""
    titles = {d.info.file: d.info.title for d in state.documents}
    best: dict[tuple[str, int], Candidate] = {}
    second: dict[tuple[str, int], float] = {}
    for c in candidates:  # best first
        page = (c.key[0], c.key[1])
        if page not in best:
            best[page] = c
        elif page not in second:
            second[page] = c.score

    def page_score(page: tuple[str, int]) -> float:
        around = max(
            (best[n].score for n in ((page[0], page[1] - 1), (page[0], page[1] + 1)) if n in best), default=0.0
        )
        return best[page].score + ranking.support * second.get(page, 0.0) + ranking.neighbour * around

    scored = sorted(
        ((page_score(page), c) for page, c in best.items()),
        key=lambda pair: (not pair[1].contents, pair[0]),  # contents pages last (``_fuse``)
        reverse=True,
    )
    return [
        Passage(
            c.key[0],
            titles.get(c.key[0], str(c.row["title"])),
            c.key[1],
            str(c.row["text"]),
            round(score, 6),
            str(c.row["section"]),
        )
        for score, c in scored
    ]


def _newest_first(passages: list[Passage], state: IndexState) -> list[Passage]:
    """Among near-identical passages from two editions of one maker's manual (the
    same error table in "SmartEVSE v2" and "v3"), cite the newer edition first."""
    makers = {d.info.file: d.info.manufacturer for d in state.documents}
    ordered = list(passages)
    for i in range(min(len(ordered), 6)):
        for j in range(i + 1, min(len(ordered), 6)):
            a, b = ordered[i], ordered[j]
            if a.file == b.file or not makers.get(a.file) or makers.get(a.file) != makers.get(b.file):
                continue
            if _edition(b.file) > _edition(a.file) and _overlap(a.text, b.text) >= NEAR_DUPLICATE:
                ordered[i], ordered[j] = (
                    replace(b, score=a.score),
                    replace(a, score=b.score),
                )
    return ordered


def _edition(file: str) -> tuple[int, ...]:
    """The version a file name carries ("..._v3.0.pdf", "...V1.24_EN.pdf"); () if none."""
    found = re.findall(r"(?i)v(\d+(?:\.\d+)*)", file)
    return tuple(int(part) for part in found[0].split(".")) if found else ()


def _overlap(a: str, b: str) -> float:
    first, second = set(words(a)), set(words(b))
    return len(first & second) / max(min(len(first), len(second)), 1)


def _rarity(group: tuple[str, ...], frequency: dict[str, int], total: int) -> float:
    found = [frequency[t] for t in group if frequency.get(t)]
    return math.log(1 + total / min(found)) if found else 0.0


def _absent(
    groups: list[tuple[str, ...]],
    rarity: tuple[float, ...],
    files: set[str] | None,
    vocabulary: Vocabulary,
    judged: tuple[bool, ...],
) -> float:
    """The rarity-weighted share of the question's topic that no manual in scope contains
    anywhere; a word no manual contains at all weighs as the rarest term can. Groups that
    merely name a manual in scope, and groups whose absence the manuals' language cannot
    show (``judged`` false), are not part of it."""
    scope = list(vocabulary.terms) if files is None else [f for f in files if f in vocabulary.terms]
    if not scope or not groups:
        return 0.0
    rarest = math.log(1 + vocabulary.chunks)
    total = missing = 0.0
    for group, weight, judge in zip(groups, rarity, judged, strict=True):
        if not judge or any(vocabulary.names.get(f, frozenset()).intersection(group) for f in scope):
            continue
        weight = weight or rarest
        total += weight
        if not any(vocabulary.terms[f].intersection(group) for f in scope):
            missing += weight
    return missing / total if total else 0.0


def evidence(plan: Plan, fused: list[Candidate], passages: Sequence[Passage]) -> dict[str, float]:
    """What the verdict weighs: how much of the question's topic the best page's chunk
    holds and how much of it no manual in scope contains, how close the nearest passage
    is, and whether an asked error code is found in that chunk or missing from it."""
    if not fused or not passages:
        return {}
    top = next((c for c in fused if (c.key[0], c.key[1]) == (passages[0].file, passages[0].page)), fused[0])
    terms = set(str(top.row.get("terms", "")).split())
    codes = [t for g in plan.groups for t in g if re.fullmatch(r"c[a-z]?\d+", t)]
    numbers = {re.sub(r"^c[a-z]?", "", code) for code in codes}
    code_found = any(code in terms for code in codes) or bool(numbers & terms)
    return {
        "topic_coverage": _topic_coverage(top.row, plan),
        "closest": max(c.cosine for c in fused),
        "code_missing": float(bool(codes) and not code_found),
        "code_found": float(bool(codes) and code_found),
        "absent": plan.absent,
    }


def _confidence(
    plan: Plan, passages: Sequence[Passage], signals: dict[str, float], calibration: Calibration
) -> tuple[bool, str]:
    if plan.doubt:
        return False, plan.doubt
    if not passages or not signals:
        return False, "no passage matches"
    if calibration.confident(signals):
        return True, ""
    if signals.get("code_missing"):
        return False, "the error code does not occur in the best passage"
    return False, (
        f"weak evidence: the best passage holds {signals['topic_coverage']:.0%} of the question's topic, "
        f"no manual in scope {signals['absent']:.0%} of it, nearest cosine {signals['closest']:.2f}"
    )


def _key(row: dict[str, object]) -> tuple[str, int, int]:
    return (str(row["file"]), int(row["page"]), int(row["ordinal"]))  # type: ignore[call-overload]


def _in_filter(files: set[str] | None) -> str | None:
    if files is None:
        return None
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in sorted(files))
    return f"file IN ({quoted})"


def product_files(documents: Iterable[DocumentInfo], product: str) -> set[str]:
    """The manuals a product filter keeps: those whose title, file name, maker or products contain it."""
    wanted = fold(product)
    return {info.file for info in documents if wanted in fold(_descriptor(info))}


def _descriptor(info: DocumentInfo) -> str:
    return " ".join([info.title, info.file.replace("_", " "), info.manufacturer, *info.products])
