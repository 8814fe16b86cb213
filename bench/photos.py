"""Photo pipeline quality and speed: generated display photos of codes from the corpus's error tables.

Codes and their rows come from the display-code tables of the shared corpus (Growatt
MIC ``Error: 408`` / ``Warning 203``, Deye ``F13`` / ``W01``, SMA ``F952``). Each
code is drawn as an LCD showing the code and the start of its message, photographed
at three difficulty levels (``tests/photo_maker.py``: rotation, perspective, noise,
blur, glare, size), then run through the real pipeline: ``sanitize`` → OCR →
``understand`` → offline engine on a full-corpus index.

* code read: the reading's codes include the drawn code (canonical form);
* page cited: the answer's first citation is the row's page — directly, or after the
  engine asked which device and the technician picked the right one (one round);
* time per photo: sanitize + OCR + understanding (not the search), p50 / p95;
* peak RSS of the process (``ru_maxrss``).

Targets: code read ≥ 95 / 90 / 80 % (easy / medium / hard), page cited ≥ 80 %
overall, p50 ≤ 1.5 s per photo.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS_PDFS, REPO, emit, machine, machine_line, percentile, print_table, verdict

sys.path.insert(0, str(REPO / "tests"))

from photo_maker import LEVELS, display_photo

from bot.core.messages import Answer, Clarification, ImageInput
from bot.core.turn import Turn
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.photos.intake import sanitize
from bot.photos.vision import PhotoReader
from knowledge.embedder import E5Embedder
from knowledge.ingest import parse_document
from knowledge.ocr import RapidOcr
from knowledge.service import KnowledgeBase
from knowledge.text import error_codes

TABLES = ("Growatt_MIC600TL-X_MAN-DE.pdf", "Deye_SUN_Inverter_Modbus_EN.pdf", "SMA_CAN_protocol.pdf")
TARGETS = {"easy": 0.95, "medium": 0.90, "hard": 0.80}
PAGE_TARGET = 0.80
P50_TARGET_S = 1.5
# a code-table row: the code first, then (after a cell break) its meaning
_ROW = re.compile(r"^\s*((?:error|warning)\s*:?\s*\d{3}|[EFW]\d{2,3})\b\s*\|?\s*([^|]*)", re.I)


def table_rows(pdfs: Path) -> list[tuple[str, int, str, str]]:
    """(file, page, code as printed, message) of every display-code row, one per code."""
    rows: dict[str, tuple[str, int, str, str]] = {}
    for name in TABLES:
        parsed = parse_document(pdfs / name, name)
        for page in parsed.pages:
            for line in page.lines:
                found = _ROW.match(line)
                if not found:
                    continue
                code = " ".join(found.group(1).replace(":", " ").split())
                words = [w for w in re.findall(r"[^\W\d_][^\W_]{2,}", found.group(2)) if not w.isupper()]
                rows.setdefault(f"{name}:{code.lower()}", (name, page.number, code, " ".join(words[:3])))
    return list(rows.values())


def run(data_dir: Path | None, per_level: int, seed: int) -> dict[str, Any]:
    rows = table_rows(CORPUS_PDFS)
    picked = random.Random(seed).sample(rows, min(per_level, len(rows)))
    with tempfile.TemporaryDirectory() as temporary:
        folder = data_dir or Path(temporary)
        kb = KnowledgeBase(str(folder / "lancedb"), folder, E5Embedder())
        if data_dir is None or not (folder / "lancedb").is_dir():
            started = time.monotonic()
            kb.index([CORPUS_PDFS])
            print(f"indexed the corpus in {time.monotonic() - started:.0f} s", file=sys.stderr)
        reader = PhotoReader(RapidOcr())
        engine = OfflineEngine(OfflineAnswerer(kb), reader)
        reader.read((ImageInput(display_photo(["E000"]), "image/jpeg"),))  # load the models before timing
        results: dict[str, Any] = {}
        seconds: list[float] = []
        cited_total = direct_total = 0
        misses: list[str] = []
        for level, shot in LEVELS.items():
            read_ok = cited = direct = 0
            for number, (file, page, code, message) in enumerate(picked):
                data = display_photo([code, message] if message else [code], shot, seed=seed + number)
                started = time.monotonic()
                clean = sanitize(ImageInput(data, "image/jpeg"), 20 << 20)
                reading = reader.read((clean,))
                seconds.append(time.monotonic() - started)
                wanted = set(error_codes(code))
                got = {c for shown in reading.codes for c in error_codes(shown)}
                ok = wanted <= got
                read_ok += ok
                result = asyncio.run(engine.answer(Turn("", images=(clean,))))
                reply, first_try = result.reply, True
                if isinstance(reply, Clarification) and result.pause_state and result.pause_state["kind"] == "device":
                    first_try = False
                    option = next((o for o in reply.options if o.split()[0].lower() in file.lower()), None)
                    if option is not None:
                        resumed = Turn(option, resume=result.pause_state, reply_to_pause=option)
                        reply = asyncio.run(engine.answer(resumed)).reply
                hit = (
                    isinstance(reply, Answer)
                    and bool(reply.citations)
                    and (
                        reply.citations[0].file,
                        reply.citations[0].page,
                    )
                    == (file, page)
                )
                cited += hit
                direct += hit and first_try
                if not ok or not hit:
                    misses.append(f"{level} {code!r} read {reading.codes} -> {'page ok' if hit else 'page miss'}")
            n = len(picked)
            results[level] = {"photos": n, "code_read": round(read_ok / n, 3), "page_cited": round(cited / n, 3)}
            cited_total += cited
            direct_total += direct
        photos = len(picked) * len(LEVELS)
    return {
        "machine": machine(),
        "photos": photos,
        "codes": len(picked),
        "levels": results,
        "page_cited": round(cited_total / photos, 3),
        "page_cited_without_asking": round(direct_total / photos, 3),
        "seconds_p50": round(percentile(seconds, 50), 2),
        "seconds_p95": round(percentile(seconds, 95), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "misses": misses,
    }


def human(r: dict[str, Any]) -> None:
    rows: list[tuple[str, Any]] = []
    for level, v in r["levels"].items():
        met = verdict(v["code_read"] >= TARGETS[level])
        rows.append((f"code read, {level}", f"{v['code_read']:.0%} (target ≥ {TARGETS[level]:.0%}: {met})"))
    cited = f"{r['page_cited']:.0%} (target ≥ {PAGE_TARGET:.0%}: {verdict(r['page_cited'] >= PAGE_TARGET)})"
    fast = verdict(r["seconds_p50"] <= P50_TARGET_S)
    rows += [
        ("page cited, overall", cited),
        ("  of which without asking back", f"{r['page_cited_without_asking']:.0%}"),
        ("time per photo p50 / p95", f"{r['seconds_p50']} s / {r['seconds_p95']} s (p50 ≤ {P50_TARGET_S} s: {fast})"),
        ("peak RSS", f"{r['peak_rss_mb']} MB"),
    ]
    title = f"Photos: {r['photos']} ({r['codes']} codes × {len(r['levels'])} levels) – {machine_line(r['machine'])}"
    print_table(title, rows)
    for miss in r["misses"]:
        print(f"  miss: {miss}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="corpus index (built when missing)")
    parser.add_argument("--per-level", type=int, default=20, help="codes drawn per difficulty level (default 20)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return emit(run(args.data_dir, args.per_level, args.seed), args.json, human)


if __name__ == "__main__":
    raise SystemExit(main())
