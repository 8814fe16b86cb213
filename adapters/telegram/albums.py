"""Albums: several updates sharing one ``media_group_id`` become one message.

Every part is stored in the inbox on its own (so nothing is lost), and announced
here as it arrives (``add``). The dispatcher runs a chat's updates in order, so the
first part's turn runs first: it waits until no new part has arrived for
``quiet`` seconds, then takes every announced part (``collect``) and answers them
as one message. The later parts' turns find themselves taken and do nothing.

After a restart nothing is announced: each stored part is then answered alone —
split, but not lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Payload = dict[str, Any]


@dataclass
class _Album:
    parts: dict[str, Payload] = field(default_factory=dict)  # message id → update payload, not yet taken
    taken: set[str] = field(default_factory=set)  # answered by a leader, their own turn is skipped
    last: float = 0.0  # when the latest part arrived


class Albums:
    def __init__(self, quiet: float = 1.5, clock: Callable[[], float] = time.monotonic) -> None:
        self._quiet = quiet
        self._clock = clock
        self._albums: dict[tuple[str, str], _Album] = {}

    def add(self, chat_id: str, group: str, message_id: str, payload: Payload) -> None:
        """A part was stored (call it right after the inbox took it)."""
        album = self._albums.setdefault((chat_id, group), _Album())
        album.parts[message_id] = payload
        album.last = self._clock()

    async def collect(self, chat_id: str, group: str, message_id: str) -> list[Payload] | None:
        """The parts to answer as one message, in order; ``[]`` when a leader took this part
        already; None when the part was never announced (answer it alone)."""
        key = (chat_id, group)
        album = self._albums.get(key)
        if album is None:
            return None
        if message_id in album.taken:
            album.taken.discard(message_id)
            self._forget_if_done(key, album)
            return []
        if message_id not in album.parts:
            return None
        while (left := album.last + self._quiet - self._clock()) > 0:
            await asyncio.sleep(left)
        ordered = sorted(album.parts.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0)
        album.taken.update(m for m, _ in ordered if m != message_id)
        album.parts.clear()
        self._forget_if_done(key, album)
        return [payload for _, payload in ordered]

    def _forget_if_done(self, key: tuple[str, str], album: _Album) -> None:
        if not album.parts and not album.taken:
            del self._albums[key]
