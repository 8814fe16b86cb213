"""Retrieval quality on a question set (format of ``corpus/qa-dev.jsonl``).

Metrics per mode: page hit@1, page hit@k (a gold page among the top k distinct
pages), doc hit@k, MRR over distinct pages, the same per question kind, and for
unanswerable questions the share the confidence signal flags; for answerable ones
the share it wrongly flags ("answerable_flagged").
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.errors import KnowledgeError
from knowledge.models import SearchResult


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    file: str | None
    pages: tuple[int, ...]
    kind: str


def load_questions(path: Path) -> list[Question]:
    if not path.is_file():
        raise KnowledgeError(f"{path}: no such question file")
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(
                Question(
                    id=str(row.get("id", number)),
                    question=str(row["question"]),
                    file=row.get("file"),
                    pages=tuple(int(p) for p in row.get("pages") or ()),
                    kind=str(row.get("kind", "unknown")),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise KnowledgeError(f"{path}:{number}: not a question record ({err})") from None
    if not questions:
        raise KnowledgeError(f"{path}: no questions")
    return questions


def evaluate(questions: Sequence[Question], search: Callable[[str], SearchResult], k: int = 5) -> dict[str, Any]:
    totals: dict[str, float] = defaultdict(float)
    by_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    answerable = unanswerable = 0
    for q in questions:
        result = search(q.question)
        if q.file is None:
            unanswerable += 1
            totals["unanswerable_detected"] += not result.confident
            by_kind[q.kind]["n"] += 1
            by_kind[q.kind]["unanswerable_detected"] += not result.confident
            continue
        answerable += 1
        hits = [(p.file, p.page) for p in result.passages[:k]]
        gold = {(q.file, page) for page in q.pages}
        rank = next((i for i, hit in enumerate(hits, start=1) if hit in gold), None)
        scores = {
            "hit@1": float(rank == 1),
            f"hit@{k}": float(rank is not None),
            f"doc_hit@{k}": float(any(f == q.file for f, _ in hits)),
            "mrr": 1.0 / rank if rank else 0.0,
            "answerable_flagged": float(not result.confident),
        }
        for name, value in scores.items():
            totals[name] += value
            by_kind[q.kind][name] += value
        by_kind[q.kind]["n"] += 1
    report: dict[str, Any] = {"n": len(questions)}
    for name in ("hit@1", f"hit@{k}", f"doc_hit@{k}", "mrr", "answerable_flagged"):
        report[name] = round(totals[name] / answerable, 3) if answerable else None
    report["unanswerable_detected"] = round(totals["unanswerable_detected"] / unanswerable, 3) if unanswerable else None
    report["by_kind"] = {
        kind: {name: (round(v / values["n"], 3) if name != "n" else int(v)) for name, v in values.items()}
        for kind, values in sorted(by_kind.items())
    }
    return report
