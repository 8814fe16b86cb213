"""Slash commands, platform-free, German UI: ``/help``, ``/new``, ``/docs``, ``/search``,
``/page``, ``/device`` (the chat's device), ``/forget`` (asks, then deletes the asker's
data in the chat), and for admins ``/reindex``, ``/status`` and ``/report`` (the support desk takes
``/support``, ``/cases``, ``/done``; the conversation ``/nik``).

``parse_command`` reads ``/name@botname args`` from a message's text; ``Commands.run``
turns one command into its replies. Admin commands check ``platform:user_id``
against ``NIK_ADMINS`` before anything runs. ``/reindex`` only starts the background
job (``bot.runtime.jobs``): its progress is a note of the chat's platform that
outlives the turn, or, where there is none (the terminal), the turn's own replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.devices import SEPARATOR, Devices, remembered
from bot.core.messages import Answer, Button, Citation, IncomingMessage, PageImage, Progress, Reply, command_button
from bot.core.pdf import DEFAULT_MAX_BYTES, pdf_reply
from bot.core.privacy import FORGET, forget_user
from bot.core.uploads import Uploads
from bot.photos.intake import PhotoStore
from bot.report.replies import report_replies
from bot.runtime.jobs import BUSY, Jobs
from bot.runtime.metrics import Metrics
from knowledge.errors import DocumentNotFound, IndexMissing
from knowledge.service import KnowledgeBase, names
from knowledge.text import best_lines
from storage.store import ChatKey, Device, Store

EXCERPT_CHARS = 200
SEARCH_HITS = 5

HELP = """Ich bin **Nik** und beantworte Fragen aus den Produkt-Handbüchern – mit Handbuch und Seite als Quelle.

**So fragen Sie:** einfach die Frage schreiben oder als Sprachnachricht schicken, am besten mit Gerät und \
Fehlercode. In Gruppen erwähnen Sie mich oder antworten auf eine meiner Nachrichten.

**Beispiele:**
- Was bedeutet Fehler E013?
- Wie groß muss der Leitungsquerschnitt beim SF-5000TL sein?
- SolarFux Isolationsfehler – was prüfen?

**Befehle:**
/help – diese Hilfe
/new – neues Gespräch beginnen (offene Rückfrage wird verworfen)
/docs – welche Handbücher ich kenne
/search TEXT – Fundstellen in den Handbüchern
/page HANDBUCH SEITE – eine Handbuchseite als Bild
/pdf HANDBUCH SEITEN – Handbuchseiten als PDF, z. B. /pdf SolarFux 12-14 (/pdf allein: die Seiten der letzten Antwort)
/device GERÄT – Gerät für diesen Chat festlegen (/device zeigt es, /device off hebt es auf)
/forget – alles löschen, was ich in diesem Chat von Ihnen gespeichert habe (mit Rückfrage)
/support TEXT – Ihr Anliegen an einen Menschen vom Support übergeben; /done schließt den Fall, \
/nik FRAGE fragt währenddessen mich
/status, /reindex, /report 7d, /remove HANDBUCH – nur für Administratoren \
(Administratoren können mir außerdem ein Handbuch als PDF schicken)"""

UNKNOWN = "Diesen Befehl kenne ich nicht. /help zeigt, was ich kann."
NOT_ADMIN = "Das dürfen nur Administratoren. Bitte wenden Sie sich an Ihren Ansprechpartner für Nik."
NO_INDEX = "Es sind noch keine Handbücher indexiert. Ein Administrator kann das mit /reindex nachholen."
PAGE_USAGE = "So geht's: /page HANDBUCH SEITE, z. B. /page SolarFux_SF-5000TL_Handbuch 12 (Namen zeigt /docs)."
SEARCH_USAGE = "So geht's: /search SUCHTEXT, z. B. /search E013"
DEVICE_NAME_CHARS = 100
DEVICE_OFF = ("off", "aus", "keins", "none")
FORGET_WITHIN = timedelta(minutes=5)
FORGET_ASK = (
    "Soll ich alles löschen, was ich in diesem Chat von Ihnen gespeichert habe? Das sind Ihre Nachrichten "
    "und meine Antworten darauf, Ihre Fotos, Ihre offenen Rückfragen, Ihre Bewertungen und das Gerät, "
    "falls Sie es festgelegt haben. In Gruppen bleiben die Nachrichten der anderen erhalten. "
    "Das lässt sich nicht rückgängig machen. (Gilt 5 Minuten.)"
)
FORGET_NOTHING_OPEN = "Es gibt nichts zu bestätigen. Schicken Sie zuerst /forget (die Rückfrage gilt 5 Minuten)."
FORGET_CANCELLED = "Abgebrochen – nichts gelöscht."


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower case, without the slash and @botname
    args: str
    target: str | None = None  # the @botname the command was addressed to, if any


def parse_command(text: str) -> Command | None:
    """``/docs@NikBot  x y`` → Command("docs", "x y", "NikBot"); None when not a command."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, args = stripped[1:].partition(" ")
    name, _, target = head.partition("@")
    if not name or not name.replace("_", "").isalnum():
        return None
    return Command(name.lower(), args.strip(), target or None)


@dataclass(frozen=True, slots=True)
class Commands:
    knowledge: KnowledgeBase
    store: Store
    admins: frozenset[str]
    manuals_dir: Path
    llm: str  # the model name, or "offline"
    progress_seconds: float = 3.0  # how often /reindex reports
    metrics: Metrics | None = None
    jobs: Jobs | None = field(default=None, compare=False)  # None: a runner of its own
    photos: PhotoStore | None = field(default=None, compare=False)  # /forget deletes the user's photos here
    pdf_max_bytes: int = DEFAULT_MAX_BYTES  # /pdf refuses bigger excerpts (the platform's upload limit)
    uploads: Uploads | None = field(default=None, compare=False)  # an admin's manuals from the chat, /remove

    def __post_init__(self) -> None:
        if self.jobs is None:
            jobs = Jobs(self.knowledge, self.manuals_dir, metrics=self.metrics, progress_seconds=self.progress_seconds)
            object.__setattr__(self, "jobs", jobs)

    @property
    def runner(self) -> Jobs:
        """The background jobs /reindex starts (the schedule starts the same ones)."""
        assert self.jobs is not None  # set in __post_init__
        return self.jobs

    async def run(self, command: Command, message: IncomingMessage, key: ChatKey) -> AsyncIterator[Reply]:
        name = command.name
        if name in ("start", "help"):
            yield Answer(HELP, kind="info")
        elif name == "new":
            yield await self._new(key)
        elif name == "docs":
            yield await asyncio.to_thread(self._docs)
        elif name == "search":
            device = await self.store.device(key) if command.args else None
            yield await asyncio.to_thread(self._search, command.args, device)
        elif name == "page":
            yield await asyncio.to_thread(self._page, command.args)
        elif name == "pdf":
            yield await pdf_reply(self.knowledge, self.store, key, command.args, self.pdf_max_bytes)
        elif name == "device":
            yield await self._device(key, message, command.args)
        elif name == "forget":
            yield await self._forget(key, message, command.args)
        elif name == "report":
            if f"{message.platform}:{message.user_id}" not in self.admins:
                yield Answer(NOT_ADMIN, kind="refused")
            else:
                for reply in await report_replies(self.store, self.knowledge, command.args, is_group=message.is_group):
                    yield reply
        elif name in ("replace", "remove") and self.uploads is not None:
            async for reply in (self.uploads.replace if name == "replace" else self.uploads.remove)(
                message, key, command.args
            ):
                yield reply
        elif name in ("reindex", "status"):
            if f"{message.platform}:{message.user_id}" not in self.admins:
                yield Answer(NOT_ADMIN, kind="refused")
            elif name == "status":
                yield await self._status()
            else:
                async for reply in self._reindex(key):
                    yield reply
        else:
            yield Answer(UNKNOWN, kind="info")

    async def _new(self, key: ChatKey) -> Answer:
        had_pause = await self.store.pause(key) is not None
        await self.store.new_conversation(key)
        text = "Neues Gespräch – worum geht es?"
        if had_pause:
            text += " Meine offene Rückfrage habe ich verworfen."
        return Answer(text, kind="info")

    def _docs(self) -> Answer:
        try:
            docs = self.knowledge.documents()
        except IndexMissing:
            return Answer(NO_INDEX, kind="info")
        if not docs:
            return Answer("Ich kenne noch keine Handbücher.", kind="info")
        lines = [f"- {d.title} ({d.pages} S.) – `{d.file}`" for d in docs]
        return Answer(f"**Handbücher ({len(docs)}):**\n" + "\n".join(lines), kind="info")

    def _search(self, query: str, device: Device | None = None) -> Answer:
        if not query:
            return Answer(SEARCH_USAGE, kind="info")
        result = self.knowledge.search(query, k=SEARCH_HITS, product=device.scope if device else None)
        about = f"{device.label}{SEPARATOR}" if device else ""
        if not result.confident or not result.passages:
            return Answer(f"{about}Dazu steht nichts in den Handbüchern.", kind="not_found")
        blocks, cites = [], []
        for number, p in enumerate(result.passages, start=1):
            lines = best_lines(p.text, query) or p.text.splitlines()[:3]
            excerpt = " ⏎ ".join(line.strip() for line in lines if line.strip())
            if len(excerpt) > EXCERPT_CHARS:
                excerpt = excerpt[: EXCERPT_CHARS - 1] + "…"
            blocks.append(f"{number}. **{p.title}, S. {p.page}**\n> {excerpt}")
            cites.append(Citation(p.file, p.title, p.page))
        return Answer(about + "\n\n".join(blocks), tuple(cites), kind="info")

    def _page(self, args: str) -> Reply:
        document, _, number = args.rpartition(" ")
        if not document.strip() or not number.isdigit():
            return Answer(PAGE_USAGE, kind="info")
        try:
            png = self.knowledge.render_page(document.strip(), int(number))
            info = next(d for d in self.knowledge.documents() if names(d.file, document))
        except DocumentNotFound as err:
            return Answer(f"Diese Seite finde ich nicht: {err}. Die Handbücher zeigt /docs.", kind="not_found")
        citation = Citation(info.file, info.title, int(number))
        return PageImage(png, f"{info.title}, S. {number}", citation)

    async def _device(self, key: ChatKey, message: IncomingMessage, args: str) -> Answer:
        """/device: show; /device off: clear; /device NAME: the one device NAME means, or a choice."""
        if not args:
            device = await self.store.device(key)
            if device is None:
                return Answer(
                    "Für diesen Chat ist kein Gerät festgelegt. So geht's: /device SF-5000TL (Namen zeigt /docs).",
                    kind="info",
                )
            return Answer(
                f"Gerät für diesen Chat: {device.label}. Ändern: /device NAME, aufheben: /device off.", kind="info"
            )
        if args.casefold() in DEVICE_OFF:
            if await self.store.clear_device(key):
                return Answer("Gerät vergessen – ich suche wieder in allen Handbüchern.", kind="info")
            return Answer("Für diesen Chat war kein Gerät festgelegt.", kind="info")
        name = " ".join(args.split())[:DEVICE_NAME_CHARS]
        try:
            indexed = {d.file: d.title for d in await asyncio.to_thread(self.knowledge.documents)}
        except IndexMissing:
            return Answer(NO_INDEX, kind="info")
        found = await Devices(self.knowledge).resolve(name)
        if not found:
            return Answer(
                f"„{name}“ finde ich in keinem Handbuch. Welche Handbücher ich kenne, zeigt /docs.", kind="not_found"
            )
        if len(found) > 1:
            labels = sorted({match.label for match in found})
            return Answer(
                "Das passt auf mehrere Geräte – welches meinen Sie?\n"
                + "\n".join(f"- /device {label}" for label in labels),
                kind="info",
                buttons=_buttons((label, f"/device {label}") for label in labels),
            )
        match = found[0]
        device = Device(match.label, match.scope, message.user_id)
        await self.store.set_device(key, device)
        titles = ", ".join(sorted(indexed.get(file, file) for file in match.files))
        text = f"{remembered(device)}\nIch suche dann nur in: {titles}."
        pause = await self.store.pause(key)
        if pause is not None and pause.user_id == message.user_id:  # most likely "Welches Gerät meinen Sie?"
            await self.store.clear_pause(key)
            text += f"\nMeine offene Rückfrage („{pause.question}“) habe ich verworfen – fragen Sie gern neu."
        return Answer(text, kind="info")

    async def _forget(self, key: ChatKey, message: IncomingMessage, args: str) -> Answer:
        """/forget asks; /forget yes (within ``FORGET_WITHIN``, by the asker) deletes; /forget no cancels."""
        answer = args.casefold()
        if not answer:
            await self.store.request_confirmation(key, message.user_id, FORGET, FORGET_WITHIN)
            buttons = (command_button("Ja, alles löschen", "/forget yes"), command_button("Abbrechen", "/forget no"))
            return Answer(FORGET_ASK, kind="info", buttons=buttons)
        if answer in ("no", "nein"):
            await self.store.cancel_confirmation(key, message.user_id, FORGET)
            return Answer(FORGET_CANCELLED, kind="info")
        if answer not in ("yes", "ja"):
            return Answer("So geht's: /forget – ich frage dann nach, bevor ich etwas lösche.", kind="info")
        report = await forget_user(self.store, self.photos, key.platform, message.user_id, key, confirm=FORGET)
        if report is None:
            return Answer(FORGET_NOTHING_OPEN, kind="info")
        others = " Die Nachrichten der anderen bleiben erhalten." if message.is_group else ""
        return Answer(report.german() + others, kind="info")

    async def _reindex(self, key: ChatKey) -> AsyncIterator[Reply]:
        """Start the background sync; its progress goes to the chat's note, or follows here."""
        note = self.runner.note(key)
        if note is not None:
            if self.runner.start_reindex(note) is None:
                yield Answer(BUSY, kind="info")
            return  # the note keeps being edited after this turn
        updates: asyncio.Queue[Progress] = asyncio.Queue()
        if self.runner.start_reindex(updates.put) is None:
            yield Answer(BUSY, kind="info")
            return
        while not (progress := await updates.get()).done:  # no platform note here: follow the job
            yield progress
        yield progress

    async def _status(self) -> Answer:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        counts = await self.store.counts(today)
        try:
            state = await asyncio.to_thread(self.knowledge.state)
            docs = [d.info for d in state.documents]
            chunks = await asyncio.to_thread(self.knowledge.chunk_count)
            index = (
                f"Index: Version {state.version} vom {state.created_at}\n"
                f"Handbücher: {len(docs)}, Seiten: {sum(d.pages for d in docs)}, Abschnitte: {chunks}"
            )
        except IndexMissing:
            index = "Index: noch keiner"
        lines = [
            index,
            f"Embedder: {self.knowledge.embedder.name}",
            f"Sprachmodell: {self.llm}",
            f"Datenbank: {self.store.engine.dialect.name}",
            f"Fragen heute: {counts['turns']} in {counts['chats']} Chats",
        ]
        if self.metrics is not None:
            mine = self.metrics.today()
            lines.append(f"Dieser Prozess: {mine['turns']} Antworten, {mine['errors']} Fehler heute")
            lines.append(f"Läuft seit: {_duration(self.metrics.uptime_seconds)}")
        return Answer("\n".join(lines), kind="info")


def _buttons(commands: Iterable[tuple[str, str]]) -> tuple[Button, ...]:
    """Command buttons for (label, command) pairs; one whose command does not fit a button is left out."""
    made: list[Button] = []
    for label, command in commands:
        try:
            made.append(command_button(label, command))
        except ValueError:
            continue
    return tuple(made)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} Tagen"
