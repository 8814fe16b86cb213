"""What the storage tests share besides fixtures: a clock that moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


class ManualClock:
    """Stands still until told to move: equal timestamps on purpose."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
