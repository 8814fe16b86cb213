"""Slash commands, platform-free, German UI: ``/help``, ``/new``, ``/docs``, ``/search``,
``/page``, and for admins ``/reindex`` and ``/status`` (the support desk takes ``/support``,
``/cases``, ``/done``; the conversation ``/nik``).

``parse_command`` reads ``/name@botname args`` from a message's text; ``Commands.run``
turns one command into its replies. Admin commands check ``platform:user_id``
against ``NIK_ADMINS`` before anything runs. ``/reindex`` only starts the background
job (``bot.runtime.jobs``): its progress is a note of the chat's platform that
outlives the turn, or, where there is none (the terminal), the turn's own replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.core.messages import Answer, Citation, IncomingMessage, PageImage, Progress, Reply
from bot.runtime.jobs import BUSY, Jobs
from bot.runtime.metrics import Metrics
from knowledge.errors import DocumentNotFound, IndexMissing
from knowledge.service import KnowledgeBase
from knowledge.text import best_lines
from storage.store import ChatKey, Store

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
/support TEXT – Ihr Anliegen an einen Menschen vom Support übergeben; /done schließt den Fall, \
/nik FRAGE fragt währenddessen mich
/status, /reindex – nur für Administratoren"""

UNKNOWN = "Diesen Befehl kenne ich nicht. /help zeigt, was ich kann."
NOT_ADMIN = "Das dürfen nur Administratoren. Bitte wenden Sie sich an Ihren Ansprechpartner für Nik."
NO_INDEX = "Es sind noch keine Handbücher indexiert. Ein Administrator kann das mit /reindex nachholen."
PAGE_USAGE = "So geht's: /page HANDBUCH SEITE, z. B. /page SolarFux_SF-5000TL_Handbuch 12 (Namen zeigt /docs)."
SEARCH_USAGE = "So geht's: /search SUCHTEXT, z. B. /search E013"


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
            yield await asyncio.to_thread(self._search, command.args)
        elif name == "page":
            yield await asyncio.to_thread(self._page, command.args)
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

    def _search(self, query: str) -> Answer:
        if not query:
            return Answer(SEARCH_USAGE, kind="info")
        result = self.knowledge.search(query, k=SEARCH_HITS)
        if not result.confident or not result.passages:
            return Answer("Dazu steht nichts in den Handbüchern.", kind="not_found")
        blocks, cites = [], []
        for number, p in enumerate(result.passages, start=1):
            lines = best_lines(p.text, query) or p.text.splitlines()[:3]
            excerpt = " ⏎ ".join(line.strip() for line in lines if line.strip())
            if len(excerpt) > EXCERPT_CHARS:
                excerpt = excerpt[: EXCERPT_CHARS - 1] + "…"
            blocks.append(f"{number}. **{p.title}, S. {p.page}**\n> {excerpt}")
            cites.append(Citation(p.file, p.title, p.page))
        return Answer("\n\n".join(blocks), tuple(cites), kind="info")

    def _page(self, args: str) -> Reply:
        document, _, number = args.rpartition(" ")
        if not document.strip() or not number.isdigit():
            return Answer(PAGE_USAGE, kind="info")
        try:
            png = self.knowledge.render_page(document.strip(), int(number))
            info = next(d for d in self.knowledge.documents() if _names(d.file, document.strip()))
        except DocumentNotFound as err:
            return Answer(f"Diese Seite finde ich nicht: {err}. Die Handbücher zeigt /docs.", kind="not_found")
        citation = Citation(info.file, info.title, int(number))
        return PageImage(png, f"{info.title}, S. {number}", citation)

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


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} Tagen"


def _names(file: str, wanted: str) -> bool:
    """Whether ``wanted`` names ``file`` the way ``KnowledgeBase`` finds manuals."""
    name, asked = file.lower(), wanted.lower()
    return asked in (name, Path(name).name, Path(name).stem)
