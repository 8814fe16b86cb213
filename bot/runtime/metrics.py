"""Prometheus metrics of one process, in their own registry (``GET /metrics`` renders it).

One ``Metrics`` per process, made in the composition root and handed to what it
observes; tests make their own and read the values back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
REINDEX_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.turns = Counter(
            "nik_turns", "Turns answered, by platform and reply kind", ["platform", "kind"], registry=r
        )
        self.turn_seconds = Histogram(
            "nik_turn_seconds", "Wall-clock time of a turn", ["platform"], buckets=TURN_BUCKETS, registry=r
        )
        self.tool_calls = Counter("nik_tool_calls", "Tool calls made by the agent", registry=r)
        self.llm_tokens = Counter("nik_llm_tokens", "LLM tokens used", ["kind"], registry=r)
        self.llm_errors = Counter("nik_llm_errors", "Turns the LLM failed after retries", ["error"], registry=r)
        self.retrieval_seconds = Histogram(
            "nik_retrieval_seconds", "Time of one knowledge-base search", buckets=FAST_BUCKETS, registry=r
        )
        self.reindex_runs = Counter("nik_reindex_runs", "Index runs, by result", ["result"], registry=r)
        self.reindex_seconds = Histogram(
            "nik_reindex_seconds", "Duration of an index run", buckets=REINDEX_BUCKETS, registry=r
        )
        self.photos = Counter("nik_photos", "Photos received, by result", ["result"], registry=r)
        self.started = time.monotonic()
        self._day = _today()
        self._today = {"turns": 0, "errors": 0}

    def turn(self, platform: str, kind: str, seconds: float, tool_calls: int, usage: dict[str, int]) -> None:
        self.turns.labels(platform, kind).inc()
        self.turn_seconds.labels(platform).observe(seconds)
        self.tool_calls.inc(tool_calls)
        for name, count in usage.items():
            self.llm_tokens.labels(name.removesuffix("_tokens")).inc(count)
        self._roll_day()
        self._today["turns"] += 1
        self._today["errors"] += kind == "error"

    def today(self) -> dict[str, int]:
        """This process's turns and errors since midnight UTC."""
        self._roll_day()
        return dict(self._today)

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _roll_day(self) -> None:
        if (day := _today()) != self._day:
            self._day, self._today = day, {"turns": 0, "errors": 0}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()
