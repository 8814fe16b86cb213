"""Time and size of a ``/pdf`` excerpt: 10 pages copied out of one manual, median over runs.

python bench/excerpt.py                                   # a corpus manual (≥ 10 pages)
python bench/excerpt.py path/to/manual.pdf --first 12 --runs 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.excerpt import excerpt

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "pdfs" / "Growatt_MIC600TL-X_MAN-DE.pdf"
PAGES = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--first", type=int, default=1, help="first page of the excerpt")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    pages = tuple(range(args.first, args.first + PAGES))
    seconds, size = [], 0
    for _ in range(args.runs):
        started = time.perf_counter()
        size = len(excerpt(args.pdf, pages))
        seconds.append(time.perf_counter() - started)
    whole = args.pdf.stat().st_size
    print(
        f"{args.pdf.name}: pages {pages[0]}-{pages[-1]}: median {statistics.median(seconds) * 1000:.1f} ms "
        f"over {args.runs} runs, {size / 1024:.0f} KB (manual {whole / 1024:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
