"""Peak memory of a process that opens a KnowledgeBase and runs searches.

    python bench/rss.py --data-dir /path/to/NIK_DATA_DIR
    python bench/rss.py --data-dir /path/to/NIK_DATA_DIR --searches 50 --json

Prints RSS (``/proc/self/status`` VmRSS) after each stage and the peak
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` and VmHWM), in MB. Read-only:
nothing is written into the data dir. Run it in its own process (as here) so
nothing else inflates the peak.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path
from typing import Any

from _common import QA_DEV, emit, load_embedder, load_questions, machine, machine_line, print_table

from knowledge.errors import KnowledgeError
from knowledge.service import KnowledgeBase

_FALLBACK_QUERIES = (
    "Was bedeutet Fehler 405?",
    "battery overvoltage protection",
    "Modbus Register Adresse",
    "Isolationsfehler Wechselrichter",
    "how to reset the inverter",
)


def status_mb(field: str) -> float:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM) in MB; NaN where absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def maxrss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, kB on Linux


def run(data_dir: Path, embedder_name: str, searches: int, qa: Path, k: int) -> dict[str, Any]:
    stages: dict[str, float] = {"start (imports done)": round(status_mb("VmRSS"), 1)}
    embedder, why = load_embedder(embedder_name)
    if embedder is None:
        return {"error": why}
    embedder.query("warm up")  # lazy model load happens on first use
    stages["embedder loaded"] = round(status_mb("VmRSS"), 1)
    kb = KnowledgeBase(str(data_dir / "lancedb"), data_dir, embedder)
    state = kb.state()
    stages["index opened"] = round(status_mb("VmRSS"), 1)
    questions = load_questions(qa) if qa.is_file() else list(_FALLBACK_QUERIES)
    queries = (questions * (searches // len(questions) + 1))[:searches]
    for number, query in enumerate(queries, start=1):
        kb.search(query, k=k)
        if number == 1:
            stages["after 1 search"] = round(status_mb("VmRSS"), 1)
    stages[f"after {len(queries)} searches"] = round(status_mb("VmRSS"), 1)
    return {
        "data_dir": str(data_dir),
        "embedder": embedder.name,
        "machine": machine(),
        "documents": len(state.documents),
        "pages": sum(d.info.pages for d in state.documents),
        "searches": len(queries),
        "vmrss_mb": stages,
        "peak_ru_maxrss_mb": round(maxrss_mb(), 1),
        "peak_vmhwm_mb": round(status_mb("VmHWM"), 1),
    }


def print_human(result: dict[str, Any]) -> None:
    if "error" in result:
        print(result["error"])
        return
    rows: list[tuple[str, Any]] = [
        ("index", f"{result['data_dir']}: {result['documents']} docs, {result['pages']} pages"),
        *((f"VmRSS {stage}", f"{mb:8.1f} MB") for stage, mb in result["vmrss_mb"].items()),
        ("peak ru_maxrss", f"{result['peak_ru_maxrss_mb']:8.1f} MB"),
        ("peak VmHWM", f"{result['peak_vmhwm_mb']:8.1f} MB"),
    ]
    title = f"Memory — {result['embedder']} — {result['searches']} searches — {machine_line(result['machine'])}"
    print_table(title, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("NIK_DATA_DIR", "./data")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(default),
        help=f"NIK_DATA_DIR with an index (default: $NIK_DATA_DIR or ./data → {default})",
    )
    parser.add_argument("--embedder", choices=("e5", "use"), default="e5")
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--qa", type=Path, default=QA_DEV, help="questions (JSONL, field 'question')")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.data_dir / "lancedb").is_dir():
        print(f"{args.data_dir}: no lancedb folder here; index first (NIK_DATA_DIR=... nik index)", file=sys.stderr)
        return 2
    try:
        result = run(args.data_dir, args.embedder, args.searches, args.qa, args.k)
    except KnowledgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return emit(result, args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
