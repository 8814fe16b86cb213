"""Offline answerer quality: does the reply quote the answer line with the right page?

For each answerable question of a QA file (default ``qa-dev.jsonl``) the reply
counts as correct when a page it quotes is a gold page and the quotes contain the
gold answer's words (≥ 80 % of them, folded). Target: ≥ 70 %.
Unanswerable questions count as correct when the reply is ``not_found``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import QA_DEV, emit

from bot.core.messages import Answer
from bot.offline.answerer import OfflineAnswerer
from knowledge.embedder import E5Embedder
from knowledge.service import KnowledgeBase
from knowledge.text import fold, words

TARGET = 0.70


def _contains_answer(reply: str, answer: str) -> bool:
    """At least 80 % of the gold answer's words occur in the reply's quotes (order and
    spacing differ between PDF text extractors, so words, not strings, are compared)."""
    gold = set(words(answer))
    flat = re.sub(r"[\W_]+", "", fold(reply))
    return bool(gold) and sum(w in flat for w in gold) / len(gold) >= 0.8


def run(data_dir: Path, qa: Path) -> dict[str, Any]:
    kb = KnowledgeBase(str(data_dir / "lancedb"), data_dir, E5Embedder())
    answerer = OfflineAnswerer(kb)
    rows = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    answered = correct = refused = unanswerable = clarified = 0
    misses: list[str] = []
    for row in rows:
        reply = answerer.answer(row["question"])
        if row["file"] is None:
            unanswerable += 1
            refused += isinstance(reply, Answer) and reply.kind == "not_found"
            continue
        answered += 1
        if not isinstance(reply, Answer):
            clarified += 1
            misses.append(f"{row['id']}: clarification {reply.options}")
            continue
        quoted = [c for c in reply.citations if c.label() in reply.text.split("Weitere Fundstellen")[0]]
        page_ok = any(c.file == row["file"] and c.page in row["pages"] for c in quoted)
        text_ok = _contains_answer(reply.text, row["answer"])
        correct += page_ok and text_ok
        if not (page_ok and text_ok):
            misses.append(f"{row['id']}: page {'ok' if page_ok else 'WRONG'}, line {'ok' if text_ok else 'MISSING'}")
    share = correct / answered if answered else 0.0
    return {
        "answerable": answered,
        "answer_line_and_page": correct,
        "share": round(share, 3),
        "target": TARGET,
        "target_met": share >= TARGET,
        "clarifications": clarified,
        "unanswerable": unanswerable,
        "unanswerable_not_found": refused,
        "misses": misses,
    }


def print_human(result: dict[str, Any]) -> None:
    print(
        f"offline answerer: {result['answer_line_and_page']}/{result['answerable']} answerable questions "
        f"quote the answer line with the right page = {result['share']:.0%} "
        f"(target {result['target']:.0%}: {'met' if result['target_met'] else 'NOT met'})"
    )
    print(f"  clarification questions asked: {result['clarifications']}")
    print(f"  unanswerable answered 'not in the manuals': {result['unanswerable_not_found']}/{result['unanswerable']}")
    for miss in result["misses"]:
        print(f"  miss {miss}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="NIK_DATA_DIR holding an index of the corpus")
    parser.add_argument("--qa", type=Path, default=QA_DEV)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return emit(run(args.data_dir, args.qa), args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
