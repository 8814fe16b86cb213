"""Teams' streaming protocol in a personal chat: progress notes, the answer as it grows, the final message.

As Microsoft documents it (Teams platform, "Stream bot messages", REST):

* Each update is a ``typing`` activity POSTed like a message, with text and a
  ``streaminfo`` entity. The first one (``streamSequence`` 1, no ``streamId``) is
  answered 201 with the stream id; every later one names that id and counts on
  (2, 3, …). ``streamType`` is ``informative`` (the blue progress line: "Ich suche in
  den Handbüchern…", "🔎 Suche: E013") until the first ``streaming`` update, which
  carries the answer so far; each streaming text must extend the one before.
* The final message is a ``message`` with ``streamType: final`` and the stream id,
  without a sequence; it carries what a normal message carries (cards, citation
  entities, the AI label).
* One request at a time, each after the previous one was answered, at most one per
  ``every`` seconds (Teams throttles at one per second): text arriving in between
  is buffered and only the newest is sent. A stream must end within two minutes:
  after ``limit`` seconds no update goes out and the final message replaces the
  streamed one in place (an update of its activity), as Microsoft's SDK does.
* 403 ``ContentStreamNotAllowed`` on the first request: streaming is not allowed
  here (``allowed`` turns False and the caller sends normally); on a later one the
  user may have pressed Stop (``stopped``: nothing more is sent, not even the final).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, ErrorResponseException
from msrest.exceptions import ClientRequestError

from adapters.teams.entities import StreamType, stream_info
from adapters.teams.outbound import deliver, status_of

log = logging.getLogger(__name__)

EVERY = 1.0  # seconds between two requests of a stream, at least
LIMIT = 110.0  # seconds after the first request: Teams ends a stream after 120
INFORMATIVE_CHARS = 1000  # Teams' limit for an informative update
STREAMING_CHARS = 24_000  # as render.TEXT_LIMIT: a streamed text is the message to be


class Stream:
    """The streamed messages of one turn; after each final message the next update starts a new stream."""

    def __init__(
        self,
        context: TurnContext,
        *,
        every: float = EVERY,
        limit: float = LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._context = context
        self._every = every
        self._limit = limit
        self._clock = clock
        self._lock = asyncio.Lock()  # one request at a time, in order
        self._timer: asyncio.Task[None] | None = None
        self._last = -float("inf")  # when the previous request was answered (the next stream's too)
        self.allowed = True  # False once Teams refused to stream in this chat
        self.stopped = False  # the user pressed Stop: this stream sends nothing more
        self._reset()

    def _reset(self) -> None:
        self._id: str | None = None
        self._sequence = 0
        self._started = 0.0
        self._shown = ""  # the streamed text Teams shows
        self._pending: tuple[StreamType, str] | None = None
        self._quiet = False  # no more updates in this stream (an update failed); the final still goes
        self.stopped = False

    @property
    def open(self) -> bool:
        """A stream has started and is not final yet."""
        return self._id is not None

    async def inform(self, text: str) -> None:
        """A progress note (``informative``); dropped once the answer text streams."""
        if self._shown or (self._pending is not None and self._pending[0] == "streaming"):
            return  # Teams takes informative updates only before the answer
        await self._queue("informative", _cut(" ".join(text.split()), INFORMATIVE_CHARS))

    async def grow(self, text: str) -> None:
        """The answer so far (``streaming``); dropped when it does not extend what Teams shows."""
        text = _cut(text.strip(), STREAMING_CHARS)
        if not text or not text.startswith(self._shown):
            return  # the model started over: the final message will show the answer
        await self._queue("streaming", text)

    async def finish(self, activity: Activity) -> bool:
        """Send ``activity`` as the open stream's final message; False when no stream is open
        (the caller sends it as a normal message)."""
        if not self.open:
            return False
        await self._cancel_timer()
        self._pending = None  # the final message says it all
        async with self._lock:
            stream_id = self._id
            assert stream_id is not None
            if self.stopped:
                log.info("the user stopped the stream: the final message is not sent")
            elif self._clock() - self._started > self._limit:
                await self._replace(activity, stream_id)
            else:
                await self._pace()
                try:
                    await self._final(activity, stream_id)
                finally:
                    self._last = self._clock()
            self._reset()
        return True

    async def close(self) -> None:
        """The turn is over: drop what is still buffered."""
        await self._cancel_timer()
        self._pending = None

    # -- sending -------------------------------------------------------------------

    async def _queue(self, kind: StreamType, text: str) -> None:
        if not self.allowed or self.stopped or self._quiet or not text:
            return
        self._pending = (kind, text)
        if not self.open:
            await self._flush()  # the first request at once: it opens the stream
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._later(), name="nik-teams-stream")

    async def _later(self) -> None:
        # Until nothing is buffered: text that arrives while a request is under way is
        # sent after it (the timer is still running then, so ``_queue`` starts no other).
        while self._pending is not None and self.allowed and not (self.stopped or self._quiet):
            await asyncio.sleep(max(0.0, self._last + self._every - self._clock()))
            await asyncio.shield(self._flush())  # a request under way is not cut off

    async def _flush(self) -> None:
        async with self._lock:
            if self._pending is None or self.stopped or self._quiet:
                return
            if self.open and self._clock() - self._started > self._limit:
                self._quiet = True  # too close to Teams' time limit: only the final message is left
                return
            await self._pace()
            if self._pending is None:
                return
            kind, text = self._pending
            self._pending = None
            await self._update(kind, text)

    async def _update(self, kind: StreamType, text: str) -> None:
        sequence = self._sequence + 1
        activity = Activity(type=ActivityTypes.typing, text=text, entities=[stream_info(kind, self._id, sequence)])
        try:
            response = await deliver(lambda: self._context.send_activity(activity), "a streaming update")
        except ErrorResponseException as error:
            self._refused(error)
            return
        except ClientRequestError as error:  # it may have arrived or not
            log.info("streaming update failed: %s", error)
            self.allowed = self.open  # without the stream's id there is no going on: normal messages
            return
        finally:
            self._last = self._clock()
        self._sequence = sequence
        if not self.open:
            if response is None or not response.id:
                log.warning("Teams answered the stream's first update without a stream id: not streaming")
                self.allowed = False
                return
            self._id = response.id
            self._started = self._last
        if kind == "streaming":
            self._shown = text

    def _refused(self, error: ErrorResponseException) -> None:
        message = _message(error).lower()
        if not self.open:
            log.info("Teams does not stream here (%s): normal messages", status_of(error))
            self.allowed = False
        elif status_of(error) == 403 and "cancel" in message:
            log.info("the user stopped the stream")
            self.stopped = True
        else:
            log.info("streaming update refused (%s %s): no more updates", status_of(error), message[:100])
            self._quiet = True

    async def _final(self, activity: Activity, stream_id: str) -> None:
        entities = list(activity.entities or [])
        activity.entities = [stream_info("final", stream_id, None), *entities]
        try:
            await deliver(lambda: self._context.send_activity(activity), "a final streamed message")
        except ErrorResponseException as error:
            if status_of(error) != 403:
                raise
            if "cancel" in _message(error).lower():
                log.info("the user stopped the stream: the final message was refused")
                return
            log.info("the final streamed message was refused (%s): replacing the message", _message(error)[:100])
            activity.entities = entities
            await self._replace(activity, stream_id)

    async def _replace(self, activity: Activity, stream_id: str) -> None:
        """The streamed message updated in place with ``activity`` (no stream entity)."""
        activity.id = stream_id
        await deliver(lambda: self._context.update_activity(activity), "the streamed message")

    async def _pace(self) -> None:
        wait = self._last + self._every - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _cancel_timer(self) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        self._timer = None


def _message(error: ErrorResponseException) -> str:
    """The connector's error message (``{"error": {"code", "message"}}``), else the exception text."""
    inner = getattr(getattr(error, "error", None), "error", None)
    return str(getattr(inner, "message", None) or error)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
