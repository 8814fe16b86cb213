"""Choose the page-ranking weights on the generated question set, report them on held-out data.

    python bench/tune.py --data-dir D                       # tune on qa-gen-tune, report every set
    python bench/tune.py --data-dir D --json

Each question's plan (scope, terms, query vector) and candidate lists are fetched once
at the deepest candidate depth of the grid; every weight combination then re-ranks
them in memory (``Retriever.rank``), so a grid of hundreds of combinations costs
seconds. The combination with the best mean of MRR and hit@1 on the tune split wins
(found by coordinate ascent over the grid; a change must improve it); the table then shows it beside the
shipped defaults on the tune split, the held-out split, ``qa-dev.jsonl`` and
``bench/qa-extra.jsonl`` and ``bench/qa-blind.jsonl``. Only the tune split chooses; the others are reported.
"""

from __future__ import annotations

import argparse
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
BLIND = HERE / "qa-blind.jsonl"  # written from the PDFs without running Nik; reported only
# The verdict's evidence, kept small so that it generalises: how much of the question's
# topic the best chunk holds and how much of it no manual in scope contains, how close
# the nearest passage is in the embedder's space, and whether an asked error code is
# found in the best chunk or missing from it. (The best line's share, once a feature,
# took a negative weight beside "absent" and was dropped.)
FEATURES = ["topic_coverage", "closest", "code_missing", "code_found", "absent"]
LEXICAL_FEATURES = ["topic_coverage", "code_missing", "code_found", "absent"]  # embedders without a calibrated cosine
ROUNDS = 3
# A weight moves only when the tune split's objective gains at least what two of its
# answerable questions moving from miss to rank 1 would give: smaller gains are noise.
MIN_GAIN_QUESTIONS = 2
# Answerable questions the verdict may call "not in the manuals" on the tune split. Real
# questions are flagged two to three times as often as generated ones at the same threshold
# (at a 5 % budget: qa-dev 8.6 %, qa-extra 9.4 %, blind 1 15.7 %), so the budget is 2.5 %.
FLAG_BUDGET = 0.025
GRID: dict[str, tuple[float, ...]] = {
    "lexical": (0.45, 0.5, 0.55, 0.6, 0.65, 0.75, 0.85, 0.9),
    "candidates": (40, 60, 100),
    "row": (0.0, 0.2, 0.3, 0.5, 0.7, 1.0),
    "heading": (0.0, 0.05, 0.1, 0.2),
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
            plan = self.retriever.plan(state, q.question, chunks=chunks)
            self.items[q.question] = (plan, self.retriever.pool(chunks, plan, mode, depth))

    def run(self, ranking: Ranking, mode: Mode | None = None) -> dict[str, Any]:
        state = self.kb.state()

        def search(question: str) -> SearchResult:
            plan, pool = self.items[question]
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
        result = cache.retriever.rank(state, plan, pool, 5, cache.mode, ranking)
        rows.append(dict(result.signals))
        answerable.append(q.file is not None)
        decided.append(bool(plan.doubt) or not result.passages)
    return rows, answerable, decided


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 10.0, steps: int = 3000) -> tuple[np.ndarray, float]:
    """Plain L2-regularised logistic regression by gradient descent on standardised
    features; returns weights and intercept for the raw features. (l2 = 1 gave a negative
    weight to the best line's share — evidence against the verdict's own logic — and
    flagged a bare "was bedeutet W08" whose row it had found; l2 = 10 keeps every
    weight's sign sensible.)"""
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
        for name, path in (("tune", TUNE), ("heldout", HELDOUT), ("dev", QA_DEV), ("extra", EXTRA), ("blind", BLIND))
        if path.is_file()
    }
    cached = {name: Cached(kb, qs, depth) for name, qs in sets.items()}
    default = Ranking()
    best, best_score = default, objective(cached["tune"].run(default))
    min_gain = MIN_GAIN_QUESTIONS / sum(q.file is not None for q in sets["tune"])
    # Coordinate ascent: one weight at a time over its grid, the others held, until no
    # weight moves (a full product of the grid would cost minutes for the same optimum).
    for _ in range(ROUNDS):
        moved = False
        for name, values in GRID.items():
            for value in values:
                ranking = replace(best, **{name: value})
                score = objective(cached["tune"].run(ranking))
                if score > best_score + min_gain:
                    best, best_score, moved = ranking, score, True
        if not moved:
            break
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
        "confidence": calibrate(cached, best, FEATURES),
        "confidence_lexical": calibrate(cached, best, LEXICAL_FEATURES),
    }


def calibrate(cached: dict[str, Cached], ranking: Ranking, features: list[str]) -> dict[str, Any]:
    """Fit the "not in the manuals" verdict on the tune split (questions no hard rule
    decided), pick the threshold there, and report flagged / recognised on every set."""
    per_set = {name: signals(cache, ranking) for name, cache in cached.items()}
    rows, answerable, decided = per_set["tune"]
    keep = [i for i, d in enumerate(decided) if not d]
    x = np.array([[rows[i].get(f, 0.0) for f in features] for i in keep])
    y = np.array([float(answerable[i]) for i in keep])
    weights, intercept = fit_logistic(x, y)

    def verdicts(name: str, threshold: float) -> tuple[float, float]:
        rows, answerable, decided = per_set[name]
        sure = [
            not d and intercept + sum(w * r.get(f, 0.0) for w, f in zip(weights, features, strict=True)) >= threshold
            for r, d in zip(rows, decided, strict=True)
        ]
        flagged = [not s for s, a in zip(sure, answerable, strict=True) if a]
        recognised = [not s for s, a in zip(sure, answerable, strict=True) if not a]
        return sum(flagged) / max(len(flagged), 1), sum(recognised) / max(len(recognised), 1)

    curve = []
    for threshold in np.arange(-4.0, 4.01, 0.25):
        flagged, recognised = verdicts("tune", float(threshold))
        curve.append((round(float(threshold), 2), round(flagged, 3), round(recognised, 3)))
    # The threshold that recognises most unanswerable questions while flagging at most
    # FLAG_BUDGET of the answerable ones on the tune split.
    allowed = [c for c in curve if c[1] <= FLAG_BUDGET] or [min(curve, key=lambda c: c[1])]
    chosen = max(allowed, key=lambda c: (c[2], -c[1]))[0]
    by_set = {name: dict(zip(("flagged", "recognised"), verdicts(name, chosen), strict=True)) for name in per_set}
    return {
        "features": features,
        "weights": [round(float(w), 4) for w in weights],
        "intercept": round(float(intercept), 4),
        "threshold": chosen,
        "curve": curve,
        "by_set": by_set,
    }


def print_human(result: dict[str, Any]) -> None:
    for key in ("confidence", "confidence_lexical"):
        conf = result[key]
        print(f"{key}:", dict(zip(conf["features"], conf["weights"], strict=True)), "intercept", conf["intercept"])
        print("  threshold", conf["threshold"], "flagged / recognised by set:", conf["by_set"])
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
