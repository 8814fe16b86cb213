"""The support desk: opens cases, relays both ways between technician and support chat, closes them.

Policy lives here, decided from ``IncomingMessage`` facts alone:

* **Which chat is the support chat**: ``NIK_SUPPORT_CHAT`` (``platform:chat id``); any
  message in it (any topic or thread) is a support team member's. Nobody else can
  answer a case: a reply anywhere else is an ordinary message of that chat.
* **Which case a support message answers**: the post of Nik's it replies to
  (``reply_to_message_id``; in a Teams channel the thread's root, ``thread_id``),
  looked up among the posts of *that* support chat only — so a reply reaches the
  chat of its own case and no other.
* **Technician side**: ``/support [TEXT]`` opens a case (one open case per technician
  and chat). While it is open the technician's messages and photos go to the case
  (as replies to the case message) instead of to Nik; commands still reach Nik, and
  ``/nik TEXT`` asks Nik (the conversation handles that). ``/done`` from either
  side closes the case and tells the other side.
* Without ``NIK_SUPPORT_CHAT`` there is no button and ``/support`` says how to set it.

Case messages are plain text: the technician's words are shown verbatim.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from bot.core.commands import Command
from bot.core.messages import Answer, IncomingMessage, Reply, command_button
from bot.core.turn import Engine
from bot.errors import PhotoRejected
from bot.photos.intake import PhotoIntake
from bot.support.outbox import Outbox, Outboxes, Post, PostFailed
from bot.support.summary import case_summary, own_messages, photo_refs
from storage.cases import Case, Cases
from storage.store import ChatKey, Receipt, Store

log = logging.getLogger(__name__)

COMMANDS = frozenset({"support", "cases", "done"})
SUPPORT_BUTTON = command_button("🧑‍🔧 Support", "/support")
HISTORY = 12  # messages of the technician's conversation read for the summary
PLATFORM_NAMES = {"telegram": "Telegram", "teams": "Teams", "console": "Terminal"}

NOT_SET = (
    "Die Übergabe an den Support ist noch nicht eingerichtet. Ein Administrator setzt dafür "
    "NIK_SUPPORT_CHAT=telegram:<Chat-ID> oder NIK_SUPPORT_CHAT=teams:<Konversations-ID> (die Gruppe "
    "oder der Kanal des Support-Teams), fügt Nik dort hinzu und erwähnt ihn dort einmal."
)
OPENED = (
    "Ich habe Ihr Anliegen als Fall **#{n}** an den Support übergeben. Die Antwort kommt hier in den Chat. "
    "Bis dahin gehen Ihre Nachrichten und Fotos direkt an den Support. /done schließt den Fall, "
    "/nik FRAGE fragt zwischendurch mich."
)
ALREADY_OPEN = "Ihr Fall #{n} ist noch offen – Ihre Nachrichten gehen an den Support. /done schließt ihn."
UNREACHABLE = "Der Support ist gerade nicht erreichbar. Bitte versuchen Sie es später noch einmal."
NOT_DELIVERED = "Das konnte ich nicht an den Support weitergeben. Bitte versuchen Sie es gleich noch einmal."
NO_CASE = "Es ist kein Support-Fall offen. /support übergibt Ihr Anliegen an einen Menschen."
CLOSED_BY_TECHNICIAN = "Fall #{n} ist geschlossen. Ab jetzt antworte wieder ich – fragen Sie einfach."
CLOSED_BY_SUPPORT = "Der Support hat Fall #{n} geschlossen. Ab jetzt antworte wieder ich – fragen Sie einfach."
SUPPORT_CLOSED = "Fall #{n} ist geschlossen."
SUPPORT_SAW_CLOSE = "Fall #{n} wurde von {name} geschlossen."
ALREADY_CLOSED = "Fall #{n} ist bereits geschlossen – die Nachricht habe ich nicht weitergeleitet."
NOT_RELAYED = "Die Antwort zu Fall #{n} konnte ich nicht zustellen. Bitte später noch einmal versuchen."
WHICH_CASE = "Welcher Fall? Antworten Sie mit /done auf die Nachricht des Falls, oder schreiben Sie /done NUMMER."
NOT_HERE = "Das ist der Support-Chat: Fälle öffnen die Techniker in ihrem Chat mit /support."
NO_CASES = "Keine offenen Fälle."
TECHNICIANS_ONLY = "Das geht nur im Support-Chat."
OFFER = "Danke für Ihr Feedback! Soll sich ein Mensch vom Support darum kümmern?"
NO_WORDS = "(ohne eigenen Text, über den Support-Knopf)"

DeviceLookup = Callable[[ChatKey], Awaitable[str | None]]  # a chat's device setting, if known


def support_target(setting: str | None) -> ChatKey | None:
    """``NIK_SUPPORT_CHAT`` (already checked by ``Settings``) as the support chat's key."""
    if not setting:
        return None
    platform, _, chat_id = setting.partition(":")
    return ChatKey(platform, chat_id)


class SupportDesk:
    """The hand-off to humans of one process; ``target`` None: not set up."""

    def __init__(
        self,
        store: Store,
        cases: Cases,
        outboxes: Outboxes,
        target: ChatKey | None,
        *,
        engine: Engine | None = None,
        photos: PhotoIntake | None = None,
        device: DeviceLookup | None = None,  # INTEGRATOR: connect the per-chat device setting (/device) here
    ) -> None:
        self._store = store
        self.cases = cases
        self.outboxes = outboxes
        self.target = target
        self._engine = engine
        self._photos = photos
        self._device = device

    @property
    def configured(self) -> bool:
        return self.target is not None

    def register(self, platform: str, outbox: object) -> None:
        """A platform of ``nik serve`` that can post outside the turn (an ``Outbox``)."""
        if isinstance(outbox, Outbox):
            self.outboxes.register(platform, outbox)

    def in_support_chat(self, message: IncomingMessage) -> bool:
        target = self.target
        return target is not None and message.platform == target.platform and message.chat_id == target.chat_id

    def decorate(self, reply: Answer) -> Answer:
        """A "not in the manuals" answer gets the support button (when support is set up)."""
        if not self.configured or reply.kind != "not_found" or SUPPORT_BUTTON in reply.buttons:
            return reply
        return replace(reply, buttons=(*reply.buttons, SUPPORT_BUTTON))

    def vote_reply(self, thanks: str, value: int) -> Answer:
        """The reply to a 👍/👎; under a 👎 the offer of a human."""
        if value < 0 and self.configured:
            return Answer(OFFER, kind="info", buttons=(SUPPORT_BUTTON,))
        return Answer(thanks, kind="info")

    async def route(
        self, message: IncomingMessage, key: ChatKey, command: Command | None, receipt: Receipt | None = None
    ) -> list[Reply] | None:
        """The replies when the desk handles ``message`` (possibly none); None when Nik answers it."""
        name = command.name if command is not None else None
        if name in COMMANDS:
            return await self._command(message, key, command)
        if self.target is None or command is not None or message.callback_data is not None:
            return None
        if not message.text.strip() and not message.images:
            return None  # voice, stickers …: Nik says what it understands
        if self.in_support_chat(message):
            case = await self.cases.by_post(self.target, _replied_ids(message))
            return None if case is None else await self._to_technician(case, message)
        case = await self.cases.open_case_of(key, message.user_id)
        return None if case is None else await self._to_support(case, message, receipt)

    # -- commands ------------------------------------------------------------------

    async def _command(self, message: IncomingMessage, key: ChatKey, command: Command | None) -> list[Reply]:
        assert command is not None
        if self.target is None:
            return [Answer(NOT_SET, kind="info")]
        if command.name == "cases":
            if not self.in_support_chat(message):
                return [Answer(TECHNICIANS_ONLY, kind="info")]
            return [Answer(await self._list(), kind="info")]
        if command.name == "done":
            if self.in_support_chat(message):
                return await self._support_done(message, command.args)
            return await self._technician_done(message, key)
        if self.in_support_chat(message):
            return [Answer(NOT_HERE, kind="info")]
        return await self._open(message, key, command.args)

    async def _open(self, message: IncomingMessage, key: ChatKey, words: str) -> list[Reply]:
        assert self.target is not None
        existing = await self.cases.open_case_of(key, message.user_id)
        if existing is not None:
            return [Answer(ALREADY_OPEN.format(n=existing.number), kind="info")]
        history = own_messages(await self._store.history(key, HISTORY), message.user_id)
        summary = await case_summary(history, self._engine)
        photos = await asyncio.to_thread(self._load, photo_refs(history))
        photos += await self._clean(key, message)
        device = await self._device(key) if self._device is not None else None
        case = await self.cases.open(key, message.user_id, message.user_name, words, self.target)
        text = case_text(case, summary, device)
        try:
            ids = await self.outboxes.post(self.target, Post(text, photos))
        except PostFailed as error:
            log.warning("case #%d not posted to the support chat: %s", case.number, error)
            await self.cases.close(case.number, "support", status="failed")
            return [Answer(UNREACHABLE, kind="error")]
        for number, posted in enumerate(ids):
            await self.cases.posted(case.number, posted, root=number == 0)
        log.info("case #%d opened from %s:%s", case.number, key.platform, key.chat_id)
        return [Answer(OPENED.format(n=case.number), kind="info")]

    async def _technician_done(self, message: IncomingMessage, key: ChatKey) -> list[Reply]:
        case = await self.cases.open_case_of(key, message.user_id)
        if case is None or not await self.cases.close(case.number, "technician"):
            return [Answer(NO_CASE, kind="info")]
        notice = Post(SUPPORT_SAW_CLOSE.format(n=case.number, name=case.user_name), reply_to=case.support_message_id)
        try:
            await self.outboxes.post(case.support, notice)
        except PostFailed as error:
            log.warning("support chat not told that case #%d was closed: %s", case.number, error)
        return [Answer(CLOSED_BY_TECHNICIAN.format(n=case.number), kind="info")]

    async def _support_done(self, message: IncomingMessage, args: str) -> list[Reply]:
        assert self.target is not None
        case = None
        if args.strip().lstrip("#").isdigit():
            found = await self.cases.by_number(int(args.strip().lstrip("#")))
            case = found if found is not None and found.support == self.target else None
        elif not args.strip():
            case = await self.cases.by_post(self.target, _replied_ids(message))
        if case is None:
            return [Answer(WHICH_CASE, kind="info")]
        if not await self.cases.close(case.number, "support"):
            return [Answer(ALREADY_CLOSED.format(n=case.number), kind="info")]
        try:
            await self.outboxes.post(case.chat, Post(CLOSED_BY_SUPPORT.format(n=case.number)))
        except PostFailed as error:
            log.warning("technician not told that case #%d was closed: %s", case.number, error)
        return [Answer(SUPPORT_CLOSED.format(n=case.number), kind="info")]

    async def _list(self) -> str:
        assert self.target is not None
        cases = await self.cases.open_cases(self.target)
        if not cases:
            return NO_CASES
        lines = [
            f"#{c.number} – {c.user_name} ({PLATFORM_NAMES.get(c.chat.platform, c.chat.platform)}), "
            f"seit {c.opened_at:%d.%m. %H:%M} UTC: {_quote(c.words, 80)}"
            for c in cases
        ]
        return f"Offene Fälle ({len(cases)}):\n" + "\n".join(lines)

    # -- relaying ------------------------------------------------------------------

    async def _to_support(self, case: Case, message: IncomingMessage, receipt: Receipt | None) -> list[Reply]:
        try:
            photos = await self._clean(case.chat, message)
        except PhotoRejected as rejected:
            return [Answer(str(rejected), kind="refused")]
        text = (
            f"#{case.number} {case.user_name}: {message.text}".rstrip()
            if message.text
            else f"#{case.number} {case.user_name}:"
        )
        try:
            ids = await self.outboxes.post(case.support, Post(text, photos, reply_to=case.support_message_id))
        except PostFailed as error:
            log.warning("follow-up of case #%d not relayed: %s", case.number, error)
            return [Answer(NOT_DELIVERED, kind="error")]
        for posted in ids:
            await self.cases.posted(case.number, posted, receipt=receipt)
        return []

    async def _to_technician(self, case: Case, message: IncomingMessage) -> list[Reply]:
        if not case.is_open:
            return [Answer(ALREADY_CLOSED.format(n=case.number), kind="info")]
        try:
            photos = await self._clean(case.support, message)
        except PhotoRejected as rejected:
            return [Answer(str(rejected), kind="refused")]
        text = f"Support ({message.user_name}): {message.text}" if message.text else f"Support ({message.user_name}):"
        try:
            await self.outboxes.post(case.chat, Post(text, photos))
        except PostFailed as error:
            log.warning("support reply to case #%d not relayed: %s", case.number, error)
            return [Answer(NOT_RELAYED.format(n=case.number), kind="error")]
        return []

    async def _clean(self, key: ChatKey, message: IncomingMessage) -> tuple[bytes, ...]:
        """The message's photos as stripped JPEGs (``PhotoRejected`` when one is unsafe)."""
        if not message.images or self._photos is None:
            return ()
        intake = await asyncio.to_thread(self._photos.take, key, message.message_id, message.images)
        return tuple(image.data for image in intake.images)

    def _load(self, refs: Sequence[str]) -> tuple[bytes, ...]:
        if self._photos is None:
            return ()
        found = []
        for ref in refs:
            try:
                found.append(self._photos.store.load(ref))
            except FileNotFoundError:  # pruned meanwhile
                continue
        return tuple(found)


def case_text(case: Case, summary: str, device: str | None = None) -> str:
    """The case message in the support chat (plain text)."""
    who = f"{case.user_name} ({PLATFORM_NAMES.get(case.chat.platform, case.chat.platform)})"
    lines = [f"🧑‍🔧 Support-Fall #{case.number}", f"Von: {who}"]
    if device:
        lines.append(f"Gerät: {device}")
    lines.append(f"Anliegen: {_quote(case.words) if case.words.strip() else NO_WORDS}")
    lines += ["", "Bisher mit Nik:", summary, ""]
    lines.append("Antworten Sie auf diese Nachricht, um zu antworten; /done als Antwort schließt den Fall.")
    return "\n".join(lines)


def _quote(words: str, limit: int | None = None) -> str:
    text = words.strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"„{text}“"


def _replied_ids(message: IncomingMessage) -> list[str]:
    """The message ids a support message may answer a case by: the replied-to message, the thread root."""
    return [m for m in (message.reply_to_message_id, message.thread_id) if m]
