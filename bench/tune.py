"""Choose the page-ranking weights on the generated question set, report them on held-out data.

    python bench/tune.py --data-dir D                       # tune on qa-gen-tune, report every set
    python bench/tune.py --data-dir D --json

Each question's plan (scope, terms, query vector) and candidate lists are fetched once
at the deepest candidate depth of the grid; every weight combination then re-ranks
them in memory (``Retriever.rank``), so a grid of hundreds of combinations costs
seconds. The combination with the best mean of MRR and hit@1 on the tune split wins
(ties: the simpler one, earlier in the grid); the table then shows it beside the
shipped defaults on the tune split, the held-out split, ``qa-dev.jsonl`` and
``bench/qa-extra.jsonl``. Only the tune split chooses; the others are reported.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import QA_DEV, emit

from knowledge.embedder import E5Embedder
from knowledge.evaluation import Question, evaluate, load_questions
from knowledge.models import SearchResult
from knowledge.retriever import Mode, Plan, Pool, Ranking, Retriever
from knowledge.service import KnowledgeBase

HERE = Path(__file__).resolve().parent
TUNE = HERE / "qa-gen-tune.jsonl"
HELDOUT = HERE / "qa-gen-heldout.jsonl"
EXTRA = HERE / "qa-extra.jsonl"
FEATURES = [
    "coverage",
    "known_coverage",
    "weighted_coverage",
    "unknown_share",
    "bm25",
    "cosine",
    "closest",
    "gap",
    "scoped",
    "named",
    "groups",
    "code_asked",
    "code_missing",
]
FLAG_BUDGET = 0.06  # answerable questions the verdict may call "not in the manuals" on the tune split
GRID: dict[str, tuple[float, ...]] = {
    "lexical": (0.45, 0.55, 0.65, 0.75, 0.85),
    "candidates": (40, 60, 100),
    "support": (0.0, 0.1, 0.2),
    "neighbour": (0.0, 0.05, 0.1, 0.2),
    "named": (0.0, 0.05, 0.1, 0.2),
}


class Cached:
    """Plans and candidate pools of a question set, fetched once."""

    def __init__(self, kb: KnowledgeBase, questions: list[Question], depth: int, mode: Mode = "hybrid") -> None:
        self.kb = kb
        self.retriever: Retriever = kb.retriever
        state = kb.state()
        chunks = kb.chunks_table()
        self.mode = mode
        self.questions = questions
        self.items: dict[str, tuple[Plan, Pool]] = {}
        for q in questions:
            plan = self.retriever.plan(state, q.question)
            self.items[q.question] = (plan, self.retriever.pool(chunks, plan, mode, depth))

    def run(self, ranking: Ranking, mode: Mode | None = None) -> dict[str, Any]:
        state = self.kb.state()

        def search(question: str) -> SearchResult:
            plan, pool = self.items[question]
            if plan.files is not None and not plan.files:
                return SearchResult(question, (), False, plan.doubt)
            return self.retriever.rank(state, plan, pool, 5, mode or self.mode, ranking)

        return evaluate(self.questions, search, k=5)


def signals(cache: Cached, ranking: Ranking) -> tuple[list[dict[str, float]], list[bool], list[bool]]:
    """Per question of the set: the evidence, whether it is answerable, and whether a hard
    rule (uncovered brand, no passage) already decided it."""
    state = cache.kb.state()
    rows: list[dict[str, float]] = []
    answerable: list[bool] = []
    decided: list[bool] = []
    for q in cache.questions:
        plan, pool = cache.items[q.question]
        result = (
            SearchResult(q.question, (), False, plan.doubt)
            if plan.files is not None and not plan.files
            else cache.retriever.rank(state, plan, pool, 5, cache.mode, ranking)
        )
        rows.append(dict(result.signals))
        answerable.append(q.file is not None)
        decided.append(bool(plan.doubt) or not result.passages)
    return rows, answerable, decided


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 3000) -> tuple[np.ndarray, float]:
    """Plain L2-regularised logistic regression by gradient descent on standardised
    features; returns weights and intercept for the raw features."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    w = np.zeros(z.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        grad_w = z.T @ (p - y) / len(y) + l2 * w / len(y)
        grad_b = float(np.mean(p - y))
        w -= 0.5 * grad_w
        b -= 0.5 * grad_b
    return w / std, b - float(np.sum(w * mean / std))


def objective(report: dict[str, Any]) -> float:
    return (float(report["mrr"]) + float(report["hit@1"])) / 2


def tune(data_dir: Path) -> dict[str, Any]:
    kb = KnowledgeBase(str(data_dir / "lancedb"), data_dir, E5Embedder())
    depth = int(max(GRID["candidates"]))
    sets = {
        name: load_questions(path)
        for name, path in (("tune", TUNE), ("heldout", HELDOUT), ("dev", QA_DEV), ("extra", EXTRA))
        if path.is_file()
    }
    cached = {name: Cached(kb, qs, depth) for name, qs in sets.items()}
    default = Ranking()
    best, best_score = default, objective(cached["tune"].run(default))
    for values in itertools.product(*GRID.values()):
        ranking = replace(default, **dict(zip(GRID, values, strict=True)))
        score = objective(cached["tune"].run(ranking))
        if score > best_score + 1e-9:
            best, best_score = ranking, score
    rows = []
    for name, cache in cached.items():
        for label, ranking in (("default", default), ("tuned", best)):
            report = cache.run(ranking)
            rows.append({"set": name, "weights": label, **{k: report[k] for k in ("n", "hit@1", "hit@5", "mrr")}})
    return {
        "best": asdict(best),
        "default": asdict(default),
        "grid": {k: list(v) for k, v in GRID.items()},
        "rows": rows,
    }


def print_human(result: dict[str, Any]) -> None:
    conf = result["confidence"]
    print("confidence:", dict(zip(conf["features"], conf["weights"], strict=True)), "intercept", conf["intercept"])
    print("threshold", conf["threshold"], "by set:", conf["by_set"])
    print("chosen on the tune split:", ", ".join(f"{f.name}={result['best'][f.name]}" for f in fields(Ranking)))
    print(f"{'set':10} {'weights':8} {'n':>4} {'hit@1':>6} {'hit@5':>6} {'MRR':>6}")
    for row in result["rows"]:
        figures = " ".join(f"{row[k]:>6.3f}" for k in ("hit@1", "hit@5", "mrr"))
        print(f"{row['set']:10} {row['weights']:8} {row['n']:>4} {figures}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="NIK_DATA_DIR holding an index of the corpus")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    return emit(tune(args.data_dir), args.json, print_human)


if __name__ == "__main__":
    raise SystemExit(main())
