"""Webhook load, short form: 50 updates/s for a few seconds at a separate ``nik serve``.

The full 60 s run is ``bench/webhook_load.py``. Here: no 5xx, no lost and no
duplicated answer, and acknowledgements that do not wait for the turns.
"""

from __future__ import annotations

from pathlib import Path

from webhook_load import run_load


async def test_fifty_updates_a_second_are_acknowledged_and_each_answered_once(kb_dir: Path) -> None:
    result = await run_load(kb_dir, rate=50, seconds=4, chats=40)
    assert result.sent == 200
    assert result.non_2xx == 0, result
    assert result.lost == 0 and result.duplicated == 0, result
    assert result.answered == result.sent
    # Generous on a loaded 2-core CI box: the ack stores the update and returns; it never runs the turn.
    assert result.ack_p95_ms < 1000, result
