"""The conversation core: one incoming message in, reply events out.

Adapters only report facts (``IncomingMessage``); this module decides policy:

* **Groups**: answer only when mentioned, replied to, commanded, a button was
  pressed, or the user a pending clarification waits for writes. Otherwise nothing
  happens and nothing is stored.
* **Gate**: allow lists and the per-user rate limit (``Gate``) are checked once a
  message is addressed to Nik; a refused one gets at most a note and is not stored.
* **Once, in order**: not here. The inbox drops re-deliveries and the dispatcher runs
  one chat's messages one at a time; ``handle`` expects exactly that of its caller.
* **Buttons**: a pressed command button (``command_button``) is its presser typing
  that command: the same parsing, admin checks and replies.
* **Feedback**: a pressed 👍/👎 (``callback_data`` from ``feedback_data``) is a vote
  on the stored answer it names, accepted from anyone in a group; it gets a short
  thanks, never reaches the engine and is not history. A malformed one is ignored.
* **Pauses**: a clarification's state is stored durably and resumed by the asker's
  next message (in a private chat: the next message), typed or pressed; an expired
  one gets a short note and the message is answered normally.
* **History**: a question turn reads the pause, the last ``window`` messages and the
  summary once (``Store.turn_state``) and writes once, after the engine answered:
  the user message, the reply, the pause change and the inbox row's ``Receipt``
  (``Store.save_turn``). A failed turn stores the user message alone. The rolling
  summary of older messages is written in the background after the turn (``Summaries``).
* **Streaming**: in a private chat the engine's partial answer text is yielded as
  ``Partial`` replies and what it is doing (the agent's tool calls: "Suche: E013") as
  ``Status`` replies while it works, then the final reply; groups get only the final one.
* **Device**: the chat's device (``bot.core.devices``) is read with the turn's state and
  narrows the engine's search; the answer names it. A nameplate photo or a clarification
  answer that names one device replaces it, in the turn's one write, and says so.
* **Photos**: a message's images are sanitized and stored (``PhotoIntake``) before
  anything else happens; a refused image gets a short German note and the message
  is not stored. The engine sees only stripped JPEGs; the history refers to them.
* **Support**: with ``NIK_SUPPORT_CHAT`` a technician can hand the conversation to a human
  (``SupportDesk``): the desk takes ``/support``, ``/cases``, ``/done``, an agent's reply to a
  case and a technician's messages while their case is open; ``/nik TEXT`` still asks Nik.
  "Not in the manuals" answers and the reply to a 👎 carry the support button.
* **Voice**: a voice note is transcribed (``VoiceIntake``) once the photos are in;
  the transcript is shown first ("🎤 Verstanden: …") and then answered and stored as
  if typed (with its caption, if any). Without a speech endpoint, over a limit, or
  with nothing recognised the note says why; the audio itself is never stored.
* **Failures**: expected errors become a short German message; anything else is
  caught once, at the turn boundary, logged with the chat key, and apologised for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core.commands import Command, Commands, parse_command
from bot.core.devices import NO_FOCUS, Devices, Focus, only_there, remembered, with_device
from bot.core.gate import Gate
from bot.core.messages import (
    FEEDBACK_PREFIX,
    Answer,
    Clarification,
    Document,
    IncomingMessage,
    PageImage,
    Partial,
    Picture,
    Progress,
    Reply,
    Status,
    Typing,
    parse_command_button,
    parse_feedback,
    parse_option,
)
from bot.core.pdf import pdf_button
from bot.core.summaries import Summaries, summary_due
from bot.core.turn import Engine, EngineResult, HistoryItem, Turn
from bot.errors import EXPECTED, PhotoRejected
from bot.photos.intake import PhotoIntake
from bot.runtime.metrics import Metrics
from bot.support.desk import SupportDesk
from bot.voice.intake import VoiceIntake
from knowledge.errors import IndexMissing
from storage.store import (
    ChatKey,
    Device,
    DeviceChange,
    NewMessage,
    Pause,
    PauseChange,
    Receipt,
    Store,
    StoredMessage,
    TurnState,
    utc_now,
)
from storage.store import Citation as StoredCitation

log = logging.getLogger(__name__)

APOLOGY = "Entschuldigung, da ist etwas schiefgelaufen. Bitte versuchen Sie es noch einmal."
EXPIRED = "Meine Rückfrage von vorhin ist abgelaufen – ich beantworte Ihre Nachricht als neue Frage."
NO_TEXT = "Bitte schreiben Sie Ihre Frage als Text oder schicken Sie ein Foto vom Display."
PHOTO_ONLY = "[Foto]"  # the stored text of a photo without a caption
THANKS = "Danke für Ihr Feedback!"
STALE_BUTTON = "Diese Auswahl ist nicht mehr offen (oder gilt einem anderen Teammitglied). Fragen Sie gern neu."
_POSITION = re.compile(r"[1-9][0-9]{0,17}")  # a stored message's position (fits a BIGINT)


@dataclass
class _Record:
    """What one turn has produced so far, for its boundary: the log line and, should it
    fail, the user message still to store with what to do to an expired pause."""

    result: EngineResult | None = None
    question: NewMessage | None = None  # built, not stored yet
    pause: PauseChange = "keep"


def chat_key(message: IncomingMessage) -> ChatKey:
    return ChatKey(message.platform, message.chat_id, message.thread_id)


class Conversation:
    """Handles every message of every chat; one instance per process."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        commands: Commands,
        *,
        window: int = 6,
        pause_hours: float = 24.0,
        bot_username: str | None = None,
        gate: Gate | None = None,
        clock: Callable[[], datetime] = utc_now,
        photos: PhotoIntake | None = None,
        metrics: Metrics | None = None,
        support: SupportDesk | None = None,
        voice: VoiceIntake | None = None,
        devices: Devices | None = None,
    ) -> None:
        self._store = store
        self._support = support
        self._voice = voice or VoiceIntake(None)
        self._photos = photos
        self._engine = engine
        self._commands = commands
        self._gate = gate
        self._window = window
        self._pause_for = timedelta(hours=pause_hours)
        self._bot_username = bot_username
        self._clock = clock
        self._metrics = metrics
        self._devices = devices or Devices(commands.knowledge)
        self._summaries = Summaries(store, engine, window) if engine.summarizes else None

    async def handle(self, message: IncomingMessage, *, receipt: Receipt | None = None) -> AsyncIterator[Reply]:
        """The replies to ``message``, in order (nothing when it is not for Nik).

        ``receipt``: the inbox row ``message`` came from; the turn's one write marks it
        done. The caller hands one chat's messages over one at a time (the dispatcher does)."""
        key = chat_key(message)
        vote = _vote(message)
        if vote is None and _is_feedback_press(message):
            return  # a malformed 👍/👎 press: ignored
        pressed = parse_command_button(message.callback_data)
        command = None if vote else parse_command(pressed if pressed is not None else message.text)
        if command and command.target and self._bot_username and command.target.lower() != self._bot_username.lower():
            return  # /cmd@SomeOtherBot
        state = None
        if message.is_group and not _addressed_by_facts(message, command):
            state = await self._store.turn_state(key, self._window)
            if not self._answers_pause(state.pause, message):
                return
        if self._gate is not None:
            note = self._gate.check(message, count=vote is None)  # 👍/👎 presses are not rate-limited
            if note is not None:
                if note:
                    yield Answer(note, kind="refused")  # nothing of the message is stored
                return
        started = time.monotonic()
        kind = "none"
        record = _Record()
        try:
            if vote:
                replies = self._feedback(key, message, *vote)
            else:
                replies = self._turn(key, message, command, state, record, receipt)
            async for reply in replies:
                kind = _kind(reply, kind)
                yield reply
        except EXPECTED as error:
            log.info("expected failure in chat %s: %s", key, type(error).__name__)
            kind = "error"
            if self._metrics is not None:
                self._metrics.llm_errors.labels(type(error).__name__).inc()
            await self._keep_question(key, record, receipt)
            yield Answer(_expected_text(error), kind="error")
        except Exception:
            log.exception("turn failed in chat %s", key)
            kind = "error"
            await self._keep_question(key, record, receipt)
            yield Answer(APOLOGY, kind="error")
        finally:
            self._observe(key, kind, time.monotonic() - started, record.result)

    async def idle(self) -> None:
        """Wait until the background summaries are written."""
        if self._summaries is not None:
            await self._summaries.idle()

    async def aclose(self) -> None:
        """Cancel the background summaries still running (before the store closes)."""
        if self._summaries is not None:
            await self._summaries.aclose()

    def _count_photos(self, result: str, count: int) -> None:
        if self._metrics is not None:
            self._metrics.photos.labels(result).inc(count)

    def _observe(self, key: ChatKey, kind: str, seconds: float, result: EngineResult | None) -> None:
        """One log line and the metrics per turn; no message content at INFO."""
        tool_calls = result.tool_calls if result else 0
        usage = result.usage if result else {}
        where = f"{key.platform}:{key.chat_id}" + (f"/{key.thread_id}" if key.thread_id else "")
        log.info(
            "turn chat=%s kind=%s latency_ms=%d tool_calls=%d",
            where,
            kind,
            seconds * 1000,
            tool_calls,
            extra={"chat": where, "kind": kind, "latency_ms": round(seconds * 1000), "tool_calls": tool_calls},
        )
        if self._metrics is not None:
            self._metrics.turn(key.platform, kind, seconds, tool_calls, usage)

    def _answers_pause(self, pause: Pause | None, message: IncomingMessage) -> bool:
        """A group message nobody addressed: the asker of an open clarification answering it."""
        return pause is not None and pause.user_id == message.user_id and pause.expires_at > self._clock()

    async def _feedback(
        self, key: ChatKey, message: IncomingMessage, position: int, value: int
    ) -> AsyncIterator[Reply]:
        await self._store.add_feedback(key, position, message.user_id, value)  # replaces the user's earlier vote
        yield Answer(THANKS, kind="info") if self._support is None else self._support.vote_reply(THANKS, value)

    async def _turn(
        self,
        key: ChatKey,
        message: IncomingMessage,
        command: Command | None,
        state: TurnState | None,
        record: _Record,
        receipt: Receipt | None,
    ) -> AsyncIterator[Reply]:
        if command is not None and command.name == "nik":  # ask Nik, also while a support case is open
            message, command = replace(message, text=command.args, callback_data=None), None
        elif self._support is not None:
            routed = await self._support.route(message, key, command, receipt)
            if routed is not None:
                for reply in routed:
                    yield reply
                return
        if command is not None:
            async for reply in self._commands.run(command, message, key):
                yield reply
            return
        if (
            message.document is not None
            and self._commands.uploads is not None
            and self._commands.uploads.takes(message)
        ):
            async for reply in self._commands.uploads.take(message, key):
                yield reply
            return
        text = (message.text or "").strip()
        if state is None:
            state = await self._store.turn_state(key, self._window)
        if message.callback_data is not None and not text:
            chosen = _option_pressed(state.pause, message)
            if chosen is None:
                yield Answer(STALE_BUTTON, kind="info")
                return
            text = chosen
        if not text and not message.images and message.audio is None:
            yield Answer(NO_TEXT, kind="info")
            return
        images = message.images
        image_refs: tuple[str, ...] = ()
        if images and self._photos is not None:
            try:
                intake = await asyncio.to_thread(self._photos.take, key, message.message_id, images)
            except PhotoRejected as rejected:
                self._count_photos("rejected", len(images))
                yield Answer(str(rejected), kind="refused")  # nothing stored
                return
            self._count_photos("accepted", len(images))
            images, image_refs = intake.images, intake.refs
        yield Typing()
        if message.audio is not None:
            heard = await self._voice.hear(message.audio)  # SpeechUnavailable: the boundary apologises
            yield heard.note
            text = "\n".join(t for t in (text, heard.text) if t)  # a caption is kept
            if not text and not images:
                return
        pause = state.pause
        if pause is not None and pause.expires_at <= self._clock():
            pause = None
            record.pause = "clear"
            yield Answer(EXPIRED, kind="info")
        resuming = pause is not None and (not message.is_group or pause.user_id == message.user_id)
        record.question = NewMessage(
            "user",
            text or PHOTO_ONLY,
            user_id=message.user_id,
            user_name=message.user_name,
            image_refs=image_refs,
            platform_message_id=message.message_id,
        )
        focus = await self._devices.focus(state.device, text) if text else _photo_focus(state.device)
        turn = Turn(
            question=text,
            images=images,
            history=tuple(_history_item(m) for m in state.history if m.role in ("user", "assistant")),
            summary=state.summary.text if state.summary else None,
            device=focus.scope,
            device_label=focus.label if focus.scope else None,
        )
        if resuming and pause is not None:
            turn = replace(turn, resume=pause.state, reply_to_pause=_chosen_option(text, pause.options))
        if message.is_group:
            result = await self._engine.answer(turn)  # one final message in groups
        else:
            events: asyncio.Queue[Partial | Status | None] = asyncio.Queue()  # None: the engine is done

            async def partial(text: str) -> None:
                await events.put(Partial(text))

            async def status(text: str) -> None:
                await events.put(Status(text))

            task = asyncio.create_task(self._engine.answer(replace(turn, on_partial=partial, on_status=status)))
            task.add_done_callback(lambda _: events.put_nowait(None))
            try:
                headed = replace(focus, note="")
                while (event := await events.get()) is not None:
                    yield Partial(with_device(event.text, headed)) if isinstance(event, Partial) else event
                result = await task  # an engine failure propagates to the turn boundary
            finally:
                if not task.done():  # the caller stopped iterating
                    task.cancel()
                    await asyncio.wait({task})
        hint = result.device_hint or (turn.reply_to_pause or "" if resuming else "")
        learned = await self._devices.learned(hint, message.user_id)
        change: DeviceChange = "keep"
        if learned is not None and (state.device is None or learned.scope != state.device.scope):
            change = learned
            focus = Focus(learned.scope, learned.label, remembered(learned))
        result = replace(result, reply=_about(result.reply, focus))
        reply = await self._remember(key, message, result, resuming, record, receipt, change)
        yield self._support.decorate(reply) if self._support is not None and isinstance(reply, Answer) else reply
        if self._summaries is not None and summary_due(state, self._window):
            self._summaries.start(key)  # once the reply is out, off the chat's path

    async def _remember(
        self,
        key: ChatKey,
        message: IncomingMessage,
        result: EngineResult,
        resumed: bool,
        record: _Record,
        receipt: Receipt | None,
        device: DeviceChange = "keep",
    ) -> Reply:
        """Store the turn in one write (user message, reply, pause change, device change, inbox row done);
        the reply to send, an answer asking for feedback carrying its stored position as
        ``feedback_id``."""
        record.result = result  # for the turn's log line and metrics
        question = record.question
        assert question is not None  # built before the engine ran
        reply = result.reply
        change: PauseChange
        if isinstance(reply, Clarification):
            options = "\n".join(f"{n}. {o}" for n, o in enumerate(reply.options, start=1))
            answer = NewMessage("assistant", f"{reply.question}\n{options}".strip(), kind="clarification")
            now = self._clock()
            change = Pause(  # replaces the answered one
                user_id=message.user_id,
                question=reply.question,
                options=reply.options,
                state=result.pause_state or {},
                asked_message_id=message.message_id,
                created_at=now,
                expires_at=now + self._pause_for,
            )
        else:
            cites = tuple(StoredCitation(c.file, c.title, c.page) for c in reply.citations)
            answer = NewMessage("assistant", reply.text, citations=cites, kind=reply.kind)
            change = "clear" if resumed else record.pause
        stored = await self._store.save_turn(key, [question, answer], pause=change, receipt=receipt, device=device)
        record.question = None
        if isinstance(reply, Clarification):
            return reply
        reply = pdf_button(reply)
        return replace(reply, feedback_id=str(stored[1].position)) if reply.ask_feedback else reply

    async def _keep_question(self, key: ChatKey, record: _Record, receipt: Receipt | None) -> None:
        """A failed turn still remembers what was asked (and forgets an expired pause)."""
        if record.question is not None:
            await self._store.save_turn(key, [record.question], pause=record.pause, receipt=receipt)
            record.question = None


def _photo_focus(stored: Device | None) -> Focus:
    """A photo without a caption: about the chat's device (the engine widens it for a nameplate)."""
    return NO_FOCUS if stored is None else Focus(stored.scope, stored.label)


def _about(reply: Answer | Clarification, focus: Focus) -> Answer | Clarification:
    """The reply naming its device: a device line before an answer, a learned device said first in a question."""
    if isinstance(reply, Clarification):
        return replace(reply, question=f"{focus.note}\n\n{reply.question}") if focus.note else reply
    if reply.kind not in ("answer", "not_found"):
        return reply
    if reply.kind == "not_found" and focus.scope and focus.label and not focus.note:
        focus = replace(focus, note=only_there(focus.label))
    return replace(reply, text=with_device(reply.text, focus))


def _addressed_by_facts(message: IncomingMessage, command: Command | None) -> bool:
    """A group message is for Nik when it mentions or replies to Nik, is a command, or presses
    a button (a 👍/👎 too, by anyone)."""
    return bool(message.mentions_bot or message.reply_to_bot or command is not None or message.callback_data)


def _option_pressed(pause: Pause | None, message: IncomingMessage) -> str | None:
    """The option a pressed clarification button stands for, if its question is still open
    and (in groups) the presser is the asker."""
    number = parse_option(message.callback_data or "")
    if number is None or pause is None or number > len(pause.options):
        return None
    if message.is_group and pause.user_id != message.user_id:
        return None
    return pause.options[number - 1]


def _history_item(message: StoredMessage) -> HistoryItem:
    return HistoryItem(message.role, message.content)


def _kind(reply: Reply, previous: str) -> str:
    """The kind a turn is counted as: its last answer-like reply's."""
    if isinstance(reply, Answer):
        return reply.kind
    if isinstance(reply, Clarification):
        return "clarification"
    if isinstance(reply, PageImage | Document | Picture | Progress):
        return "info"
    return previous


def _is_feedback_press(message: IncomingMessage) -> bool:
    return message.callback_data is not None and message.callback_data.startswith(FEEDBACK_PREFIX)


def _vote(message: IncomingMessage) -> tuple[int, int] | None:
    """``(answer position, +1 | -1)`` for a valid 👍/👎 press, else None."""
    if not _is_feedback_press(message) or message.callback_data is None:
        return None
    parsed = parse_feedback(message.callback_data)
    if parsed is None or not _POSITION.fullmatch(parsed[0]):
        return None
    return int(parsed[0]), parsed[1]


def _chosen_option(text: str, options: tuple[str, ...]) -> str:
    """A typed number picks that option; anything else is the answer as typed."""
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    for option in options:
        if option.casefold() == text.casefold():
            return option
    return text


def _expected_text(error: Exception) -> str:
    if isinstance(error, IndexMissing):
        return "Es sind noch keine Handbücher indexiert. Ein Administrator kann das mit /reindex nachholen."
    return f"Das hat leider nicht geklappt: {error}"
