"""Cold ingest throughput: PDFs → fresh index, then a no-change re-index.

    python bench/ingest.py                     # whole corpus (~4 min on 2 cores)
    python bench/ingest.py --limit 3           # quick run on the first 3 files
    python bench/ingest.py --embedder use --json

Targets: cold ingest ≥ 15 pages/s on 2 cores; a second ``index()`` with nothing
changed ≤ 1 s. The cold time is split by measuring, separately, parse-only
throughput (``parse_document`` over all files) and embedding throughput on a
sample of chunk texts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    CORPUS_PDFS,
    emit,
    load_embedder,
    machine,
    machine_line,
    print_table,
    set_omp_threads,
    verdict,
)

from knowledge.catalog import load_catalog
from knowledge.embedder import Embedder
from knowledge.errors import DocumentUnreadable
from knowledge.indexer import EMBED_BATCH, SourceFile, collect, embedding_text
from knowledge.ingest import parse_document
from knowledge.service import KnowledgeBase

TARGET_PAGES_PER_S = 15.0
TARGET_NOOP_S = 1.0


@dataclass(frozen=True, slots=True)
class ColdResult:
    documents: int
    pages: int
    chunks: int
    seconds: float
    noop_seconds: float
    skipped: int


@dataclass(frozen=True, slots=True)
class ParseResult:
    files: int
    pages: int
    chunks: int
    seconds: float
    texts: list[str]  # embedding texts of every chunk, for the embedding sample


def sources(folder: Path, limit: int | None) -> tuple[list[Path], list[SourceFile]]:
    """What to pass to ``index()`` and the files it will read."""
    found = collect([folder])
    if limit is None:
        return [folder], found
    chosen = found[:limit]
    return [s.path for s in chosen], collect([s.path for s in chosen])


def load_model(embedder: Embedder) -> float:
    """Seconds to load the model (embedders may load lazily on first use): kept out of
    the cold-ingest time, which measures throughput."""
    started = time.perf_counter()
    embedder.passages(["warm up"])
    return time.perf_counter() - started


def cold_ingest(paths: list[Path], embedder: Embedder) -> ColdResult:
    """Index into a fresh data dir (no vector cache), then again with nothing changed."""
    with tempfile.TemporaryDirectory(prefix="nik-bench-ingest-") as tmp:
        data_dir = Path(tmp)
        kb = KnowledgeBase(str(data_dir / "lancedb"), data_dir, embedder)
        started = time.perf_counter()
        report = kb.index(paths)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        again = kb.index(paths)
        noop = time.perf_counter() - started
        assert again.version == report.version, "a no-change index() must not build a new version"
        return ColdResult(report.documents, report.pages, report.chunks, cold, noop, len(report.skipped))


def parse_only(files: list[SourceFile]) -> ParseResult:
    catalogs = {root: load_catalog(root) for root in {s.root for s in files}}
    pages = chunks = 0
    texts: list[str] = []
    started = time.perf_counter()
    for source in files:
        try:
            parsed = parse_document(source.path, source.name, catalogs[source.root].get(source.name))
        except DocumentUnreadable:
            continue
        pages += parsed.info.pages
        chunks += len(parsed.chunks)
        texts.extend(embedding_text(parsed.info.title, c.section, c.text) for c in parsed.chunks)
    return ParseResult(len(files), pages, chunks, time.perf_counter() - started, texts)


def embed_rate(embedder: Embedder, texts: list[str], sample: int) -> tuple[int, float]:
    """(chunks embedded, seconds) for ``sample`` texts spread over the collection,
    in the indexer's batch size."""
    if not texts:
        return 0, 0.0
    step = max(len(texts) / sample, 1.0)
    chosen = [texts[int(i * step)] for i in range(min(sample, len(texts)))]
    embedder.passages(chosen[:2])  # warm: model load / first-call setup is not throughput
    started = time.perf_counter()
    for i in range(0, len(chosen), EMBED_BATCH):
        embedder.passages(chosen[i : i + EMBED_BATCH])
    return len(chosen), time.perf_counter() - started


def run(folder: Path, embedder_name: str, limit: int | None, sample: int) -> dict[str, Any]:
    embedder, why = load_embedder(embedder_name)
    if embedder is None:
        return {"embedder": embedder_name, "error": why}
    paths, files = sources(folder, limit)
    model_s = load_model(embedder)
    cold = cold_ingest(paths, embedder)
    parse = parse_only(files)
    embedded, embed_seconds = embed_rate(embedder, parse.texts, sample)
    pages_per_s = cold.pages / cold.seconds if cold.seconds else 0.0
    parse_pages_per_s = parse.pages / parse.seconds if parse.seconds else 0.0
    chunks_per_s = embedded / embed_seconds if embed_seconds else 0.0
    est_parse = parse.seconds
    est_embed = cold.chunks / chunks_per_s if chunks_per_s else 0.0
    return {
        "embedder": embedder.name,
        "folder": str(folder),
        "machine": machine(),
        "model_load_s": round(model_s, 2),
        "cold": {
            "files": len(files),
            "documents": cold.documents,
            "skipped": cold.skipped,
            "pages": cold.pages,
            "chunks": cold.chunks,
            "seconds": round(cold.seconds, 2),
            "pages_per_s": round(pages_per_s, 2),
            "target_pages_per_s": TARGET_PAGES_PER_S,
            "target_met": pages_per_s >= TARGET_PAGES_PER_S,
        },
        "noop_reindex": {
            "seconds": round(cold.noop_seconds, 3),
            "target_s": TARGET_NOOP_S,
            "target_met": cold.noop_seconds <= TARGET_NOOP_S,
        },
        "parse_only": {
            "pages": parse.pages,
            "chunks": parse.chunks,
            "seconds": round(parse.seconds, 2),
            "pages_per_s": round(parse_pages_per_s, 2),
        },
        "embedding": {
            "sample_chunks": embedded,
            "batch": EMBED_BATCH,
            "seconds": round(embed_seconds, 2),
            "chunks_per_s": round(chunks_per_s, 2),
        },
        "cold_split_estimate": {
            "parse_s": round(est_parse, 2),
            "embed_s": round(est_embed, 2),
            "other_s": round(max(cold.seconds - est_parse - est_embed, 0.0), 2),
        },
    }


def print_human(result: dict[str, Any]) -> None:
    if "error" in result:
        print(result["error"])
        return
    cold, noop, parse, emb, split = (
        result["cold"],
        result["noop_reindex"],
        result["parse_only"],
        result["embedding"],
        result["cold_split_estimate"],
    )
    print_table(
        f"Cold ingest — {result['embedder']} — {machine_line(result['machine'])}",
        [
            ("model load (not timed)", f"{result['model_load_s']:.2f} s"),
            ("files / documents", f"{cold['files']} / {cold['documents']} (skipped {cold['skipped']})"),
            ("pages", cold["pages"]),
            ("chunks", cold["chunks"]),
            ("seconds", f"{cold['seconds']:.2f}"),
            ("pages/s", f"{cold['pages_per_s']:.2f}  (target ≥ {TARGET_PAGES_PER_S:g}: {verdict(cold['target_met'])})"),
            (
                "no-change index()",
                f"{noop['seconds']:.3f} s  (target ≤ {TARGET_NOOP_S:g} s: {verdict(noop['target_met'])})",
            ),
        ],
    )
    cold_s = cold["seconds"] or 1.0
    print_table(
        "Where the cold time goes (measured separately)",
        [
            ("parse only", f"{parse['pages']} pages in {parse['seconds']:.2f} s = {parse['pages_per_s']:.1f} pages/s"),
            (
                "embedding",
                f"{emb['sample_chunks']} chunks in {emb['seconds']:.2f} s = {emb['chunks_per_s']:.1f} chunks/s",
            ),
            ("est. parse", f"{split['parse_s']:.1f} s ({100 * split['parse_s'] / cold_s:.0f} %)"),
            (
                "est. embed",
                f"{split['embed_s']:.1f} s ({100 * split['embed_s'] / cold_s:.0f} %)  "
                f"= {cold['chunks']} chunks / {emb['chunks_per_s']:.1f} chunks/s",
            ),
            ("rest (FTS, writes)", f"{split['other_s']:.1f} s"),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=CORPUS_PDFS, help=f"PDF folder (default {CORPUS_PDFS})")
    parser.add_argument("--embedder", choices=("e5", "use"), default="e5")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files (sorted by name)")
    parser.add_argument("--sample", type=int, default=64, help="chunks for the embedding-throughput sample")
    parser.add_argument("--omp-threads", type=int, default=None, help="set OMP_NUM_THREADS for the embedder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    set_omp_threads(args.omp_threads)
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder", file=sys.stderr)
        return 2
    result = run(args.folder, args.embedder, args.limit, args.sample)
    return emit(result, args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
