"""Warm search latency through ``KnowledgeBase.search`` (the bot's code path).

    python bench/search.py --data-dir /path/to/NIK_DATA_DIR   # an index of the corpus
    python bench/search.py                                    # builds the corpus into a temp dir (~4 min)
    python bench/search.py --synthetic 100000                 # 100k-chunk synthetic index
    python bench/search.py --synthetic 100000 --ann all       # + IVF_PQ and IVF_HNSW_SQ vector indexes

Targets: p50 ≤ 30 ms on the real corpus (questions of ``qa-dev.jsonl``, each run
``--repeat`` times after ``--warmup`` queries); p50 ≤ 80 ms on 100k chunks. The
query-embedding time (``embedder.query``) is reported alone, and also the
lexical-only (``mode="fts"``) and vector-only (``mode="vector"``) latencies.

The synthetic index is written through ``knowledge.index`` exactly as the indexer
writes one (``chunk_schema``/``PAGE_SCHEMA``, one ``add`` per file, the same
``build_fts_index`` call, ``commit_state``), with text drawn from the real
corpus' word frequencies, error codes and page numbers, ``terms`` analysed by
``knowledge.text.index_terms`` (memoised per word), and random unit vectors in
place of embeddings (embedding 100k texts takes hours on 2 cores). Vector search
cost does not depend on the vectors' values; ANN recall on random vectors is a
worst case, so the recall figure printed for ANN is a lower bound.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
import pypdfium2 as pdfium
from _common import (
    CORPUS_PDFS,
    QA_DEV,
    emit,
    latency_summary,
    load_embedder,
    load_questions,
    machine,
    machine_line,
    print_table,
    set_omp_threads,
    verdict,
)

from knowledge import index
from knowledge.catalog import BRANDS
from knowledge.embedder import Embedder, Vectors
from knowledge.errors import IndexMissing, KnowledgeError
from knowledge.index import IndexedDocument, IndexState
from knowledge.indexer import build_fts_index
from knowledge.models import DocumentInfo
from knowledge.retriever import CANDIDATES, Mode
from knowledge.service import KnowledgeBase
from knowledge.text import detect_language, error_codes, index_terms

TARGET_REAL_P50_MS = 30.0
TARGET_SYNTHETIC_P50_MS = 80.0
ANN_KINDS = ("ivf_pq", "ivf_hnsw_sq")
REFINE = 10  # refine_factor tried for the recall figure (the retriever sets none)

# Fallback vocabulary when the corpus is not there: trade words, German and English.
_ROOTS_DE = (
    "wechselrichter batterie spannung strom leistung fehler störung anzeige netz einspeisung modul "
    "sicherung schutz temperatur lüfter relais isolation erdung kabel anschluss klemme display menü "
    "einstellung parameter ladung entladung zelle speicher zähler schnittstelle protokoll register "
    "adresse wartung montage inbetriebnahme abschaltung überhitzung überspannung unterspannung "
    "frequenz phase leiter gerät handbuch kapitel seite hinweis warnung gefahr prüfen messen"
).split()
_ROOTS_EN = (
    "inverter battery voltage current power fault error display grid feed module fuse protection "
    "temperature fan relay insulation ground cable connection terminal menu setting parameter charge "
    "discharge cell storage meter interface protocol register address maintenance installation "
    "commissioning shutdown overheating overvoltage undervoltage frequency phase device manual "
    "chapter page note warning danger check measure value default range status alarm"
).split()


# --------------------------------------------------------------------------- measuring


class TimedEmbedder:
    """Passes through to an embedder and records how long each ``query()`` took, so a
    search's time splits into query embedding and retrieval (LanceDB + fusion)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.query_ms = 0.0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._inner.passages(texts)

    def query(self, text: str) -> Vectors:
        started = time.perf_counter()
        try:
            return self._inner.query(text)
        finally:
            self.query_ms = (time.perf_counter() - started) * 1000.0


def time_calls(call: Callable[[str], object], queries: Sequence[str], repeat: int) -> list[float]:
    """Milliseconds per call, each query ``repeat`` times (query-major order)."""
    samples: list[float] = []
    for query in queries:
        for _ in range(repeat):
            started = time.perf_counter()
            call(query)
            samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def measure_kb(
    kb: KnowledgeBase,
    queries: Sequence[str],
    repeat: int,
    warmup: int,
    k: int,
    modes: Sequence[Mode] = ("hybrid", "fts", "vector"),
) -> dict[str, Any]:
    """First (cold) search, then warm latencies per mode and for the query embedding alone."""
    started = time.perf_counter()
    kb.search(queries[0], k=k)
    first_ms = (time.perf_counter() - started) * 1000.0
    for query in (list(queries) * (warmup // max(len(queries), 1) + 1))[:warmup]:
        kb.search(query, k=k)
    result: dict[str, Any] = {"first_search_ms": round(first_ms, 1), "queries": len(queries), "repeat": repeat}
    timed = kb.embedder if isinstance(kb.embedder, TimedEmbedder) else None
    for mode in modes:
        embed_ms: list[float] = []

        def call(query: str, mode: Mode = mode, embed_ms: list[float] = embed_ms) -> None:
            if timed is not None:
                timed.query_ms = 0.0
            kb.search(query, k=k, mode=mode)
            if timed is not None:
                embed_ms.append(timed.query_ms)

        samples = time_calls(call, queries, repeat)
        result[mode] = latency_summary(samples)
        if timed is not None and any(embed_ms):  # the retriever may embed the query in every mode
            result[f"{mode}_minus_embed"] = latency_summary([s - e for s, e in zip(samples, embed_ms, strict=True)])
    result["embed_query"] = latency_summary(time_calls(kb.embedder.query, queries, repeat))
    return result


# --------------------------------------------------------------------------- real corpus


def open_or_build(
    data_dir: Path | None, corpus: Path, limit: int | None, embedder: Embedder, tmp: Path
) -> tuple[KnowledgeBase, dict[str, Any]]:
    if data_dir is not None:
        if not (data_dir / "lancedb").is_dir():  # KnowledgeBase would create the folder; stay read-only
            raise IndexMissing(f"{data_dir}: no lancedb folder here; index first (NIK_DATA_DIR=... nik index)")
        kb = KnowledgeBase(str(data_dir / "lancedb"), data_dir, TimedEmbedder(embedder))
        state = kb.state()  # raises IndexMissing / EmbedderMismatch
        chunks = lancedb.connect(str(data_dir / "lancedb")).open_table(state.chunks_table).count_rows()
        return kb, {
            "source": str(data_dir),
            "documents": len(state.documents),
            "pages": sum(d.info.pages for d in state.documents),
            "chunks": chunks,
            "build_s": None,
        }
    paths: list[Path] = [corpus]
    if limit is not None:
        paths = sorted(p for p in corpus.iterdir() if p.suffix.lower() == ".pdf")[:limit]
    kb = KnowledgeBase(str(tmp / "lancedb"), tmp, TimedEmbedder(embedder))
    started = time.perf_counter()
    report = kb.index(paths)
    return kb, {
        "source": f"built from {corpus}" + (f" (first {limit} files)" if limit else ""),
        "documents": report.documents,
        "pages": report.pages,
        "chunks": report.chunks,
        "build_s": round(time.perf_counter() - started, 1),
    }


def run_real(args: argparse.Namespace, embedder: Embedder) -> dict[str, Any]:
    questions = load_questions(args.qa)
    with tempfile.TemporaryDirectory(prefix="nik-bench-search-") as tmp:
        kb, info = open_or_build(args.data_dir, args.corpus, args.limit, embedder, Path(tmp))
        latencies = measure_kb(kb, questions, args.repeat, args.warmup, args.k)
    p50 = latencies["hybrid"]["p50_ms"]
    return {
        "kind": "real",
        "embedder": embedder.name,
        "machine": machine(),
        "index": info,
        **latencies,
        "target_p50_ms": TARGET_REAL_P50_MS,
        "target_met": p50 <= TARGET_REAL_P50_MS,
    }


# --------------------------------------------------------------------------- synthetic index


@dataclass(frozen=True, slots=True)
class Vocabulary:
    words: dict[str, list[str]]  # language → surface words
    weights: dict[str, np.ndarray]  # language → sampling probabilities
    source: str


def corpus_vocabulary(corpus: Path, pages_per_file: int, size: int) -> Vocabulary:
    """Word frequencies of the corpus' raw PDF text, per detected language."""
    counters: dict[str, Counter[str]] = {"de": Counter(), "en": Counter()}
    token = re.compile(r"[^\W\d_][^\W_]{1,23}|\d{1,4}")
    files = sorted(corpus.glob("*.pdf")) if corpus.is_dir() else []
    for path in files:
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            continue
        try:
            texts = []
            for number in range(min(len(pdf), pages_per_file)):
                page = pdf[number]
                textpage = page.get_textpage()
                texts.append(textpage.get_text_range())
                textpage.close()
                page.close()
        finally:
            pdf.close()
        text = "\n".join(texts)
        language = detect_language(text)
        counters["de" if language == "de" else "en"].update(token.findall(text))
    if sum(len(c) for c in counters.values()) < 500:
        return generated_vocabulary(size)
    words: dict[str, list[str]] = {}
    weights: dict[str, np.ndarray] = {}
    for language, counter in counters.items():
        if not counter:
            counter = counters["en" if language == "de" else "de"]
        common = counter.most_common(size)
        words[language] = [w for w, _ in common]
        counts = np.array([c for _, c in common], dtype=np.float64)
        weights[language] = counts / counts.sum()
    return Vocabulary(words, weights, f"{len(files)} corpus PDFs (≤ {pages_per_file} pages each)")


def generated_vocabulary(size: int) -> Vocabulary:
    """German/English trade roots, compounds and model-like tokens, Zipf-weighted."""
    rng = random.Random(7)
    words: dict[str, list[str]] = {}
    weights: dict[str, np.ndarray] = {}
    for language, roots in (("de", _ROOTS_DE), ("en", _ROOTS_EN)):
        found = dict.fromkeys(roots)
        while len(found) < size:
            a, b = rng.choice(roots), rng.choice(roots)
            found.setdefault(a + b if language == "de" else f"{a}{rng.randint(1, 999)}", None)
        words[language] = list(found)[:size]
        ranks = np.arange(1, len(words[language]) + 1, dtype=np.float64)
        weights[language] = (1.0 / ranks) / (1.0 / ranks).sum()
    return Vocabulary(words, weights, "generated")


class TermMemo:
    """``index_terms`` of whitespace-separated text, memoised per token.

    ``index_terms(text)`` is ``error_codes(text)`` followed by the terms of each word
    of ``words(text)``; words never span white space, so the per-token terms (minus
    that token's own codes) concatenate to the same list."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str], list[str]] = {}

    def terms(self, text: str, language: str) -> list[str]:
        out = error_codes(text)
        for token in text.split():
            key = (token, language)
            cached = self._memo.get(key)
            if cached is None:
                cached = index_terms(token, language)[len(error_codes(token)) :]
                self._memo[key] = cached
            out.extend(cached)
        return out


def _code(rng: random.Random) -> str:
    number = rng.randint(1, 999)
    style = rng.random()
    if style < 0.4:
        return f"Error {number}"
    if style < 0.6:
        return f"Fehler {number}"
    return f"{rng.choice('EFW')}{number:03d}"


def _chunk_text(rng: random.Random, nrng: np.random.Generator, vocab: Vocabulary, language: str) -> str:
    count = int(np.clip(nrng.normal(110, 30), 20, 170))
    picks = nrng.choice(len(vocab.words[language]), size=count, p=vocab.weights[language])
    tokens = [vocab.words[language][i] for i in picks]
    lines: list[str] = []
    position = 0
    while position < len(tokens):
        width = rng.randint(6, 14)
        line = " ".join(tokens[position : position + width])
        if rng.random() < 0.08:
            line = f"{_code(rng)} {line}"
        lines.append(line)
        position += width
    return "\n".join(lines)


class VectorSource:
    """Synthetic chunk vectors: random unit vectors, or (``base`` given) noisy copies of
    real chunk embeddings, each at cosine ≈ ``cosine`` to its base vector, so the
    collection is clustered like real embeddings and ANN recall means something."""

    def __init__(self, dim: int, rng: np.random.Generator, base: np.ndarray | None, cosine: float) -> None:
        self._dim = dim
        self._rng = rng
        self._base = base
        self._noise = float(np.tan(np.arccos(cosine))) / np.sqrt(dim)

    def take(self, count: int) -> np.ndarray:
        if self._base is None:
            vectors = self._rng.standard_normal((count, self._dim), dtype=np.float32)
        else:
            picks = self._rng.integers(0, len(self._base), size=count)
            noise = self._rng.standard_normal((count, self._dim), dtype=np.float32) * np.float32(self._noise)
            vectors = self._base[picks] + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32)


def real_vectors(data_dir: Path, embedder: Embedder) -> np.ndarray:
    """All chunk vectors of the current index in ``data_dir`` (read-only)."""
    db = lancedb.connect(str(data_dir / "lancedb"))
    state = index.require_state(db, embedder.name)
    column = db.open_table(state.chunks_table).to_arrow().column("vector").combine_chunks()
    return np.asarray(column.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, state.dim)


def build_synthetic(
    root: Path, rows: int, files: int, dim: int, embedder_name: str, vocab: Vocabulary, seed: int, source: VectorSource
) -> dict[str, Any]:
    """Write a committed ``chunks_v1``/``pages_v1`` index of ``rows`` chunks under ``root``."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    memo = TermMemo()
    db = index.connect(str(root / "lancedb"))
    chunks = db.create_table("chunks_v1", schema=index.chunk_schema(dim), mode="overwrite")
    pages = db.create_table("pages_v1", schema=index.PAGE_SCHEMA, mode="overwrite")
    brands = list(BRANDS)
    documents: list[IndexedDocument] = []
    started = time.perf_counter()
    per_file = [rows // files + (1 if i < rows % files else 0) for i in range(files)]
    total_pages = 0
    for number, count in enumerate(per_file):
        language = "de" if number % 2 == 0 else "en"
        brand = brands[number % len(brands)]
        suffix = rng.choice(["TL", "K", "H", ""])
        model = f"{rng.choice('ABCDHMSX')}{rng.randint(1, 99)}-{rng.randint(100, 9999)}{suffix}"
        kind = "Handbuch" if language == "de" else "Manual"
        file = f"{brand.replace(' ', '_').replace('/', '')}_{model}_{kind}_{number:03d}.pdf"
        title = f"{brand} {model} {kind}"
        descriptor = f"{title} {Path(file).stem.replace('_', ' ')} {brand} {model}"
        texts: list[str] = []
        sections: list[str] = []
        page_numbers: list[int] = []
        ordinals: list[int] = []
        page, ordinal, section = 1, 0, ""
        for _ in range(count):
            if ordinal >= 1 and rng.random() < 0.65:  # ~1.5 chunks per page
                page, ordinal = page + 1, 0
            if ordinal == 0 and (not section or rng.random() < 0.15):
                words = rng.sample(vocab.words[language][:2000], 2)
                section = f"{rng.randint(1, 12)}.{rng.randint(1, 9)} {words[0].capitalize()} {words[1]}"
            texts.append(_chunk_text(rng, nrng, vocab, language))
            sections.append(section)
            page_numbers.append(page)
            ordinals.append(ordinal)
            ordinal += 1
        terms = [
            " ".join(memo.terms(f"{descriptor}\n{s}\n{t}", language)) for s, t in zip(sections, texts, strict=True)
        ]
        vectors = source.take(count)
        table = pa.Table.from_pydict(
            {
                "file": [file] * count,
                "title": [title] * count,
                "page": page_numbers,
                "ordinal": ordinals,
                "section": sections,
                "language": [language] * count,
                "text": texts,
                "terms": terms,
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
                # one window per synthetic chunk: its own vector
                "windows": pa.ListArray.from_arrays(
                    pa.array(np.arange(count + 1, dtype=np.int32)),
                    pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
                ),
            },
            schema=index.chunk_schema(dim),
        )
        chunks.add(table)  # one add per file, as the indexer does
        by_page: dict[int, list[str]] = {}
        for p, t in zip(page_numbers, texts, strict=True):
            by_page.setdefault(p, []).append(t)
        pages.add(
            pa.Table.from_pydict(
                {
                    "file": [file] * len(by_page),
                    "page": list(by_page),
                    "text": ["\n".join(v) for v in by_page.values()],
                },
                schema=index.PAGE_SCHEMA,
            )
        )
        total_pages += page
        info = DocumentInfo(
            file=file,
            title=title,
            pages=page,
            language=language,
            manufacturer=brand,
            products=(model,),
            sha256=hashlib.sha256(file.encode()).hexdigest(),
            indexed_at=index.now_iso(),
        )
        documents.append(IndexedDocument(info, str(root / "missing" / file)))
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    build_fts_index(chunks)  # the product's own call (knowledge/indexer.py)
    fts_s = time.perf_counter() - started
    state = IndexState(
        1,
        index.now_iso(),
        embedder_name,
        dim,
        tuple(sorted(documents, key=lambda d: d.info.file)),
        round(write_s + fts_s, 2),
    )
    index.commit_state(db, state)
    return {
        "chunks": chunks.count_rows(),
        "files": files,
        "pages": total_pages,
        "dim": dim,
        "vocabulary": vocab.source,
        "generate_and_write_s": round(write_s, 1),
        "fts_index_s": round(fts_s, 1),
    }


def synthetic_queries(count: int, qa: Path, vocab: Vocabulary, seed: int) -> list[str]:
    """The dev questions, then generated ones (codes, brands, content words) up to ``count``."""
    rng = random.Random(seed + 1)
    queries = load_questions(qa)[:count] if qa.is_file() else []
    brands = list(BRANDS)
    while len(queries) < count:
        language = rng.choice(["de", "en"])
        content = [w for w in vocab.words[language][50:3000] if len(w) >= 5]
        a, b, c = rng.sample(content, 3)
        shape = len(queries) % 5
        if shape == 0:
            queries.append(f"Was bedeutet Fehler {rng.choice('EFW')}{rng.randint(1, 999):03d}?")
        elif shape == 1:
            queries.append(f"{rng.choice(brands)} error {rng.randint(1, 999)} {a}")
        elif shape == 2:
            queries.append(f"{a} {b} {c}")
        elif shape == 3:
            queries.append(f"wie stelle ich {a} bei {b} ein")
        else:
            queries.append(f"how to check {a} {b} on the {rng.choice(brands)} {c}")
    return queries


def create_ann(table: lancedb.table.Table, kind: str) -> float:
    """Add a cosine ANN index on ``vector``; returns seconds."""
    from lancedb.index import HnswSq, IvfPq

    config = IvfPq(distance_type="cosine") if kind == "ivf_pq" else HnswSq(distance_type="cosine")
    started = time.perf_counter()
    table.create_index("vector", config=config, replace=True)
    return time.perf_counter() - started


def vector_recall(
    table: Any, embedder: Embedder, queries: Sequence[str], refine: int | None = None
) -> tuple[float, float]:
    """Mean share of the exact top-``CANDIDATES`` cosine neighbours the ANN index returns
    (as the retriever queries it, or with ``refine_factor(refine)``), and the median
    milliseconds of that ANN query alone (no embedding, no filter)."""

    def keys(rows: list[dict[str, Any]]) -> set[tuple[str, int, int]]:
        return {(str(r["file"]), int(r["page"]), int(r["ordinal"])) for r in rows}

    columns = ["file", "page", "ordinal", "_distance"]
    shares: list[float] = []
    times: list[float] = []
    for query in queries:
        vector = embedder.query(query)
        exact = (
            table.search(vector, vector_column_name="vector")
            .distance_type("cosine")
            .select(columns)
            .bypass_vector_index()
            .limit(CANDIDATES)
            .to_list()
        )
        approx_query = table.search(vector, vector_column_name="vector").distance_type("cosine").select(columns)
        if refine:
            approx_query = approx_query.refine_factor(refine)
        started = time.perf_counter()
        approx = approx_query.limit(CANDIDATES).to_list()
        times.append((time.perf_counter() - started) * 1000.0)
        shares.append(len(keys(exact) & keys(approx)) / max(len(exact), 1))
    if not shares:
        return 0.0, 0.0
    return float(np.mean(shares)), float(np.median(times))


def run_synthetic(args: argparse.Namespace, embedder: Embedder) -> dict[str, Any]:
    vocab = corpus_vocabulary(args.corpus, args.vocab_pages, args.vocab_size)
    queries = synthetic_queries(args.queries, args.qa, vocab, args.seed)
    with tempfile.TemporaryDirectory(prefix="nik-bench-synthetic-") as tmp:
        root = Path(tmp)
        base = real_vectors(args.vectors_from, embedder) if args.vectors_from else None
        source = VectorSource(embedder.dim, np.random.default_rng(args.seed + 2), base, args.noise_cosine)
        build = build_synthetic(root, args.synthetic, args.files, embedder.dim, embedder.name, vocab, args.seed, source)
        build["vectors"] = (
            f"{len(base)} real chunk vectors from {args.vectors_from} + noise (cosine≈{args.noise_cosine:g})"
            if base is not None
            else "random unit vectors"
        )
        uri = str(root / "lancedb")
        flat = measure_kb(KnowledgeBase(uri, root, TimedEmbedder(embedder)), queries, args.repeat, args.warmup, args.k)
        variants: dict[str, Any] = {"flat": flat}
        needed = flat["hybrid"]["p50_ms"] > TARGET_SYNTHETIC_P50_MS
        kinds: tuple[str, ...] = ANN_KINDS if args.ann == "all" or (args.ann == "auto" and needed) else ()
        if args.ann in ANN_KINDS:
            kinds = (args.ann,)
        for kind in kinds:
            table = lancedb.connect(uri).open_table("chunks_v1")
            seconds = create_ann(table, kind)
            table = lancedb.connect(uri).open_table("chunks_v1")
            kb = KnowledgeBase(uri, root, TimedEmbedder(embedder))  # fresh handles see the new index
            recall, ann_ms = vector_recall(table, embedder, queries)
            refined, refined_ms = vector_recall(table, embedder, queries, REFINE)
            variants[kind] = {
                "index_build_s": round(seconds, 1),
                "vector_recall_at_candidates": round(recall, 3),
                f"vector_recall_refine_{REFINE}": round(refined, 3),
                "ann_query_p50_ms": round(ann_ms, 1),
                f"ann_query_refine_{REFINE}_p50_ms": round(refined_ms, 1),
                **measure_kb(kb, queries, args.repeat, args.warmup, args.k),
            }
    for variant in variants.values():
        variant["target_met"] = variant["hybrid"]["p50_ms"] <= TARGET_SYNTHETIC_P50_MS
    return {
        "kind": "synthetic",
        "embedder": embedder.name,
        "machine": machine(),
        "index": build,
        "target_p50_ms": TARGET_SYNTHETIC_P50_MS,
        "ann_needed": needed,
        "variants": variants,
    }


# --------------------------------------------------------------------------- output


def _latency_rows(result: dict[str, Any], target: float) -> list[tuple[str, Any]]:
    def line(s: dict[str, float]) -> str:
        return f"p50 {s['p50_ms']:7.1f}  p95 {s['p95_ms']:7.1f}  max {s['max_ms']:7.1f} ms  (n={s['n']})"

    hybrid = result["hybrid"]
    rows = [
        ("search (hybrid)", line(hybrid) + f"  target p50 ≤ {target:g}: {verdict(hybrid['p50_ms'] <= target)}"),
        ("  embed query only", line(result["embed_query"])),
    ]
    if "hybrid_minus_embed" in result:
        rows.append(("  hybrid minus embed", line(result["hybrid_minus_embed"])))
    for mode in ("fts", "vector"):
        rows.append((f"  mode={mode}", line(result[mode])))
        if f"{mode}_minus_embed" in result:
            rows.append((f"  {mode} minus embed", line(result[f"{mode}_minus_embed"])))
    rows.append(("first (cold) search", f"{result['first_search_ms']:.1f} ms"))
    return rows


def print_human(result: dict[str, Any]) -> None:
    where = machine_line(result["machine"])
    info = result["index"]
    if result["kind"] == "real":
        print_table(
            f"Warm search — {result['embedder']} — {where}",
            [
                (
                    "index",
                    f"{info['source']}: {info['documents']} docs, {info['pages']} pages, {info['chunks']} chunks"
                    + (f", built in {info['build_s']} s" if info["build_s"] is not None else ""),
                ),
                ("queries", f"{result['queries']} × {result['repeat']}"),
                *_latency_rows(result, TARGET_REAL_P50_MS),
            ],
        )
        return
    print_table(
        f"Synthetic search — {info['chunks']} chunks — {result['embedder']} — {where}",
        [
            (
                "index",
                f"{info['files']} files, {info['pages']} pages, dim {info['dim']}, vocabulary: {info['vocabulary']}",
            ),
            ("vectors", info["vectors"]),
            ("build", f"generate+write {info['generate_and_write_s']} s, FTS index {info['fts_index_s']} s"),
        ],
    )
    for name, variant in result["variants"].items():
        rows = [("queries", f"{variant['queries']} × {variant['repeat']}")]
        if name != "flat":
            rows += [
                ("ANN index build", f"{variant['index_build_s']} s"),
                (
                    "vector recall@60",
                    f"{variant['vector_recall_at_candidates']:.3f} vs exact, as the retriever "
                    f"queries; {variant[f'vector_recall_refine_{REFINE}']:.3f} with "
                    f"refine_factor={REFINE}",
                ),
                (
                    "ANN query alone",
                    f"p50 {variant['ann_query_p50_ms']:.1f} ms; "
                    f"{variant[f'ann_query_refine_{REFINE}_p50_ms']:.1f} ms with refine_factor="
                    f"{REFINE}",
                ),
            ]
        title = "brute-force vector search" if name == "flat" else f"ANN vector index {name.upper()}"
        print_table(f"  {title}", rows + _latency_rows(variant, TARGET_SYNTHETIC_P50_MS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="existing NIK_DATA_DIR with the corpus indexed")
    parser.add_argument("--corpus", type=Path, default=CORPUS_PDFS, help="PDFs to index when no --data-dir")
    parser.add_argument("--limit", type=int, default=None, help="index only the first N PDFs (no --data-dir)")
    parser.add_argument("--qa", type=Path, default=QA_DEV, help="questions (JSONL, field 'question')")
    parser.add_argument("--repeat", type=int, default=5, help="runs per question")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--embedder", choices=("e5", "use"), default="e5")
    parser.add_argument("--synthetic", type=int, default=None, metavar="CHUNKS", help="synthetic index of this size")
    parser.add_argument("--files", type=int, default=100, help="files in the synthetic index")
    parser.add_argument("--queries", type=int, default=50, help="queries for the synthetic run")
    parser.add_argument("--vocab-pages", type=int, default=40, help="pages per corpus PDF read for the vocabulary")
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument(
        "--ann",
        choices=("auto", "none", "all", *ANN_KINDS),
        default="auto",
        help="synthetic: ANN vector indexes to try (auto: both if brute force misses the target)",
    )
    parser.add_argument(
        "--vectors-from",
        type=Path,
        default=None,
        metavar="DATA_DIR",
        help="synthetic: noisy copies of the chunk vectors of this index instead of random vectors",
    )
    parser.add_argument(
        "--noise-cosine",
        type=float,
        default=0.9,
        help="synthetic with --vectors-from: cosine of each copy to its real vector",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--omp-threads",
        type=int,
        default=None,
        help="set OMP_NUM_THREADS for the embedder (1 avoids spin-wait stalls on a busy 2-core box)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    set_omp_threads(args.omp_threads)
    embedder, why = load_embedder(args.embedder)
    if embedder is None:
        print(json.dumps({"error": why}) if args.json else why)
        return 0
    try:
        result = run_synthetic(args, embedder) if args.synthetic else run_real(args, embedder)
    except KnowledgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return emit(result, args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
