"""Cold ingest throughput: PDFs → fresh index, then a no-change re-index.

    python bench/ingest.py                     # whole corpus (~4 min on 2 cores)
    python bench/ingest.py --limit 3           # quick run on the first 3 files
    python bench/ingest.py --embedder use --json
    python bench/ingest.py --no-cold --sample 200 --rounds 3   # embedding A/B only

Targets: cold ingest ≥ 15 pages/s on 2 cores; a second ``index()`` with nothing
changed ≤ 1 s. The cold time is split by measuring, separately, parse-only
throughput (``parse_document`` over the indexed files) and embedding throughput.

Embedding is measured as an interleaved A/B on one sample of chunk texts spread
over the whole folder: "old" is ``passages`` over consecutive batches of 32 (the
indexer before length/duplicate handling), "new" is ``embed_passages`` (what the
indexer calls now); ``--batches`` adds other batch sizes. Legs alternate for
``--rounds`` rounds so that a change of machine load hits all of them alike; each
leg reports wall chunks/s, CPU seconds per chunk (less sensitive to other
processes) and the load average when it started. Thread counts cannot be switched
inside one process (OpenMP reads them at load): compare runs with ``--omp-threads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
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
from knowledge.embedder import Embedder, Vectors
from knowledge.errors import DocumentUnreadable
from knowledge.indexer import EMBED_BATCH, SourceFile, collect, embed_passages, embedding_texts
from knowledge.ingest import parse_document
from knowledge.service import KnowledgeBase

TARGET_PAGES_PER_S = 15.0
TARGET_NOOP_S = 1.0
OLD_BATCH = 32  # the indexer's batch before embed_passages


@dataclass(frozen=True, slots=True)
class ColdResult:
    documents: int
    pages: int
    chunks: int
    seconds: float
    noop_seconds: float
    skipped: int


@dataclass(frozen=True, slots=True)
class ParsedFile:
    name: str
    pages: int
    seconds: float
    texts: list[str]  # embedding texts of its chunks


@dataclass(frozen=True, slots=True)
class ParseResult:
    files: int
    pages: int
    chunks: int
    seconds: float
    texts: list[str]  # embedding texts of every chunk, for the embedding sample


@dataclass(frozen=True, slots=True)
class Leg:
    """One embedding variant of the A/B: how it embeds a list of texts."""

    label: str
    embed: Callable[[Sequence[str]], Vectors]


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


def parse_files(files: list[SourceFile]) -> list[ParsedFile]:
    """``parse_document`` over ``files`` (unreadable ones left out), timed per file."""
    catalogs = {root: load_catalog(root) for root in {s.root for s in files}}
    parsed: list[ParsedFile] = []
    for source in files:
        started = time.perf_counter()
        try:
            doc = parse_document(source.path, source.name, catalogs[source.root].get(source.name))
        except DocumentUnreadable:
            continue
        texts = [text for c in doc.chunks for text in embedding_texts(c.section, c.text)]
        parsed.append(ParsedFile(source.name, doc.info.pages, time.perf_counter() - started, texts))
    return parsed


def parse_summary(parsed: list[ParsedFile], names: set[str]) -> ParseResult:
    chosen = [p for p in parsed if p.name in names]
    texts = [t for p in chosen for t in p.texts]
    return ParseResult(len(chosen), sum(p.pages for p in chosen), len(texts), sum(p.seconds for p in chosen), texts)


def spread_sample(texts: list[str], sample: int) -> list[str]:
    """``sample`` texts spread evenly over ``texts`` (all of them if fewer)."""
    if not texts:
        return []
    step = max(len(texts) / sample, 1.0)
    return [texts[int(i * step)] for i in range(min(sample, len(texts)))]


def old_path(embedder: Embedder) -> Callable[[Sequence[str]], Vectors]:
    """The indexer's embedding call before this change: consecutive batches of 32, every text."""

    def embed(texts: Sequence[str]) -> Vectors:
        parts = [embedder.passages(texts[i : i + OLD_BATCH]) for i in range(0, len(texts), OLD_BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)

    return embed


def legs(embedder: Embedder, batches: Sequence[int]) -> list[Leg]:
    chosen = [
        Leg("old: batches of 32", old_path(embedder)),
        Leg(f"new: embed_passages, batch {EMBED_BATCH}", lambda t: embed_passages(embedder, t)),
    ]
    for batch in batches:
        chosen.append(Leg(f"batch {batch}", lambda t, b=batch: embed_passages(embedder, t, b)))
    return chosen


def embed_ab(embedder: Embedder, texts: list[str], chosen: list[Leg], rounds: int) -> dict[str, Any]:
    """Interleaved A/B: every round runs each leg once on the same texts."""
    embedder.passages(texts[:2])  # warm: model load / first-call setup is not throughput
    runs: dict[str, list[dict[str, float]]] = {leg.label: [] for leg in chosen}
    vectors: dict[str, Vectors] = {}
    for _ in range(rounds):
        for leg in chosen:
            load = os.getloadavg()[0]
            wall, cpu = time.perf_counter(), time.process_time()
            vectors[leg.label] = leg.embed(texts)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            runs[leg.label].append(
                {
                    "chunks_per_s": round(len(texts) / wall, 3) if wall else 0.0,
                    "cpu_s_per_chunk": round(cpu / len(texts), 4) if texts else 0.0,
                    "load_1m": round(load, 2),
                }
            )
    reference = vectors[chosen[0].label]
    return {
        "sample_chunks": len(texts),
        "rounds": rounds,
        "legs": [
            {
                "label": leg.label,
                "runs": runs[leg.label],
                "median_chunks_per_s": float(np.median([r["chunks_per_s"] for r in runs[leg.label]])),
                "median_cpu_s_per_chunk": float(np.median([r["cpu_s_per_chunk"] for r in runs[leg.label]])),
                "min_cosine_to_old": round(float(np.min(np.sum(vectors[leg.label] * reference, axis=1))), 6),
            }
            for leg in chosen
        ],
    }


def run(
    folder: Path, embedder_name: str, limit: int | None, sample: int, rounds: int, batches: list[int], cold_run: bool
) -> dict[str, Any]:
    embedder, why = load_embedder(embedder_name)
    if embedder is None:
        return {"embedder": embedder_name, "error": why}
    paths, files = sources(folder, limit)
    model_s = load_model(embedder)
    cold = cold_ingest(paths, embedder) if cold_run else None
    every = parse_files(collect([folder]))
    parse = parse_summary(every, {f.name for f in files})
    collection = parse_summary(every, {p.name for p in every})
    chunks_per_page = collection.chunks / collection.pages if collection.pages else 0.0
    ab = embed_ab(embedder, spread_sample(collection.texts, sample), legs(embedder, batches), rounds)
    for leg in ab["legs"]:
        leg["implied_pages_per_s"] = round(leg["median_chunks_per_s"] / chunks_per_page, 2) if chunks_per_page else 0.0
    result: dict[str, Any] = {
        "embedder": embedder.name,
        "folder": str(folder),
        "machine": machine(),
        "model_load_s": round(model_s, 2),
        "collection": {
            "files": len(every),
            "pages": collection.pages,
            "chunks": collection.chunks,
            "chunks_per_page": round(chunks_per_page, 2),
            "duplicate_texts": collection.chunks - len(set(collection.texts)),
        },
        "embedding_ab": ab,
        "parse_only": {
            "pages": parse.pages,
            "chunks": parse.chunks,
            "seconds": round(parse.seconds, 2),
            "pages_per_s": round(parse.pages / parse.seconds, 2) if parse.seconds else 0.0,
        },
    }
    if cold is not None:
        result.update(cold_figures(cold, len(files), parse, ab["legs"][1]["median_chunks_per_s"]))
    return result


def cold_figures(cold: ColdResult, files: int, parse: ParseResult, chunks_per_s: float) -> dict[str, Any]:
    pages_per_s = cold.pages / cold.seconds if cold.seconds else 0.0
    est_parse = parse.seconds
    est_embed = cold.chunks / chunks_per_s if chunks_per_s else 0.0
    return {
        "cold": {
            "files": files,
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
        "cold_split_estimate": {
            "parse_s": round(est_parse, 2),
            "embed_s": round(est_embed, 2),
            "other_s": round(max(cold.seconds - est_parse - est_embed, 0.0), 2),
        },
    }


def runs_line(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['chunks_per_s']:.2f} @ load {r['load_1m']:.1f}" for r in runs)


def print_human(result: dict[str, Any]) -> None:
    if "error" in result:
        print(result["error"])
        return
    coll, ab, parse = result["collection"], result["embedding_ab"], result["parse_only"]
    print_table(
        f"Embedding A/B — {result['embedder']} — {machine_line(result['machine'])}",
        [
            (
                "collection",
                f"{coll['files']} files, {coll['pages']} pages, {coll['chunks']} chunks "
                f"({coll['chunks_per_page']:.2f}/page), {coll['duplicate_texts']} duplicate texts",
            ),
            ("sample", f"{ab['sample_chunks']} chunks × {ab['rounds']} interleaved rounds"),
            *(
                (
                    leg["label"],
                    f"{leg['median_chunks_per_s']:.2f} chunks/s ≈ {leg['implied_pages_per_s']:.2f} pages/s, "
                    f"{leg['median_cpu_s_per_chunk']:.3f} CPU-s/chunk, min cos {leg['min_cosine_to_old']:.4f}  "
                    f"[runs: {runs_line(leg['runs'])}]",
                )
                for leg in ab["legs"]
            ),
        ],
    )
    if "cold" not in result:
        return
    cold, noop, split = result["cold"], result["noop_reindex"], result["cold_split_estimate"]
    print_table(
        f"Cold ingest — {result['embedder']} — {machine_line(result['machine'])}",
        [
            ("model load (not timed)", f"{result['model_load_s']:.2f} s"),
            ("files / documents", f"{cold['files']} / {cold['documents']} (skipped {cold['skipped']})"),
            ("pages", cold["pages"]),
            ("chunks", cold["chunks"]),
            ("seconds", f"{cold['seconds']:.2f}"),
            ("pages/s", f"{cold['pages_per_s']:.2f}  (target ≥ {TARGET_PAGES_PER_S:g}: {verdict(cold['target_met'])})"),
            ("chunks/s", f"{cold['chunks'] / (cold['seconds'] or 1.0):.2f}"),
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
            ("est. parse", f"{split['parse_s']:.1f} s ({100 * split['parse_s'] / cold_s:.0f} %)"),
            (
                "est. embed",
                f"{split['embed_s']:.1f} s ({100 * split['embed_s'] / cold_s:.0f} %)  "
                f"= {cold['chunks']} chunks at the new leg's chunks/s",
            ),
            ("rest (FTS, writes)", f"{split['other_s']:.1f} s"),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=CORPUS_PDFS, help=f"PDF folder (default {CORPUS_PDFS})")
    parser.add_argument("--embedder", choices=("e5", "use"), default="e5")
    parser.add_argument(
        "--limit", type=int, default=None, help="cold ingest of the first N files only (sorted by name)"
    )
    parser.add_argument("--sample", type=int, default=64, help="chunks in the embedding A/B sample (whole folder)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the embedding A/B")
    parser.add_argument("--batches", default="", help="extra A/B legs: comma-separated batch sizes, e.g. 1,8,128")
    parser.add_argument("--no-cold", dest="cold", action="store_false", help="embedding A/B only, no cold ingest")
    parser.add_argument("--omp-threads", type=int, default=None, help="set OMP_NUM_THREADS for the embedder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    set_omp_threads(args.omp_threads)
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder", file=sys.stderr)
        return 2
    try:
        batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        print(f"--batches {args.batches!r}: expected comma-separated integers", file=sys.stderr)
        return 2
    if args.sample < 1 or args.rounds < 1 or any(b < 1 for b in batches):
        print("--sample, --rounds and batch sizes must be ≥ 1", file=sys.stderr)
        return 2
    result = run(args.folder, args.embedder, args.limit, args.sample, args.rounds, batches, args.cold)
    return emit(result, args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
