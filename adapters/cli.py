"""``nik``: the command line over the core that :mod:`bot.runtime.composition` wires.

Commands: ``index``, ``search``, ``docs``, ``eval``, ``chat``, ``ask``, ``forget``, ``report``, ``serve``. Expected
failures (bad paths, corrupt files, missing index, bad configuration) print one line and exit 2;
``--json`` prints machine-readable output on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBar
from rich.table import Table

from bot.config import Settings, load_settings
from bot.core.messages import (
    Answer,
    Clarification,
    Document,
    ImageInput,
    IncomingMessage,
    PageImage,
    Picture,
    Progress,
    Reply,
)
from bot.core.privacy import ForgetReport, forget_user
from bot.errors import EXPECTED, ConfigError
from bot.report.quality import SPAN_HELP, csv_text, german
from bot.report.replies import quality_report
from bot.runtime.composition import build_knowledge, build_photos, open_nik
from bot.runtime.logs import configure_logging
from knowledge.errors import IndexMissing
from knowledge.evaluation import evaluate, load_questions
from knowledge.models import IndexProgress, IndexReport, SearchResult
from knowledge.retriever import Mode
from knowledge.service import KnowledgeBase
from knowledge.text import best_lines
from storage.db import database_url
from storage.errors import StorageError
from storage.store import Store, utc_now

MODES: tuple[Mode, ...] = ("hybrid", "fts", "vector")
FAILURES: tuple[type[Exception], ...] = (*EXPECTED, StorageError)  # one line, exit 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code."""
    args = _parser().parse_args(argv)
    err = _stderr()
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        return int(args.run(args, settings))
    except FAILURES as error:
        err.print(f"[bold red]Fehler:[/] {error}", highlight=False)
        return 2
    except KeyboardInterrupt:
        err.print("abgebrochen")
        return 130


def _index(args: argparse.Namespace, settings: Settings) -> int:
    paths = [Path(p) for p in args.paths] or [settings.manuals_dir]
    kb = build_knowledge(settings)
    report = kb.index(paths, rebuild=args.rebuild) if args.json else _index_with_bar(kb, paths, args.rebuild)
    summary = {
        "documents": report.documents,
        "pages": report.pages,
        "chunks": report.chunks,
        "added": len(report.added),
        "changed": len(report.changed),
        "removed": len(report.removed),
        "seconds": report.seconds,
    }
    if args.json:
        extra = {
            "skipped": [list(s) for s in report.skipped],
            "pages_without_text": [list(p) for p in report.pages_without_text],
        }
        print(json.dumps({**summary, **extra}, ensure_ascii=False))
    else:
        out = Console()
        out.print(
            f"{report.documents} Handbücher, {report.pages} Seiten, {report.chunks} Abschnitte "
            f"(neu {len(report.added)}, geändert {len(report.changed)}, entfernt {len(report.removed)}) "
            f"in {report.seconds:.1f} s"
        )
        for _file, reason in report.skipped:
            out.print(f"[yellow]übersprungen:[/] {reason}", highlight=False)
        if report.pages_without_text:
            listed = ", ".join(f"{f} S. {p}" for f, p in report.pages_without_text[:10])
            out.print(f"[yellow]Seiten ohne Textebene (Scan, noch nicht durchsuchbar):[/] {listed}", highlight=False)
    return 1 if report.skipped and args.strict else 0


def _index_with_bar(kb: KnowledgeBase, paths: list[Path], rebuild: bool = False) -> IndexReport:
    with ProgressBar(
        TextColumn("[bold]Indexiere[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("Seiten"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def show(p: IndexProgress) -> None:
            bar.update(task, completed=p.pages_done, total=p.pages_total, description=p.current_file[:40])

        return kb.index(paths, show, rebuild=rebuild)


def _search(args: argparse.Namespace, settings: Settings) -> int:
    kb = build_knowledge(settings)
    result = kb.search(args.query, k=args.k, product=args.product, mode=args.mode)
    if args.json:
        rows = [{"file": p.file, "title": p.title, "page": p.page, "score": p.score, "text": p.text} for p in result]
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    out = Console()
    if not result.confident:
        out.print(f"[yellow]Keine sichere Fundstelle in den Handbüchern[/] ({result.reason})", highlight=False)
    for number, p in enumerate(result, start=1):
        out.print(f"[bold]{number}. {p.title}, S. {p.page}[/]  [dim]{p.file} · {p.score:.4f}[/]", highlight=False)
        lines = best_lines(p.text, args.query) or p.text.splitlines()[:3]
        out.print(_excerpt("\n".join(lines)), highlight=False)
    return 0


def _docs(args: argparse.Namespace, settings: Settings) -> int:
    docs = build_knowledge(settings).documents()
    if args.json:
        print(json.dumps([asdict(d) for d in docs], ensure_ascii=False))
        return 0
    table = Table("Titel", "Datei", "Seiten", "Sprache", "Hersteller", "indexiert")
    for d in docs:
        table.add_row(d.title, d.file, str(d.pages), d.language, d.manufacturer, d.indexed_at)
    Console().print(table)
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    questions = load_questions(Path(args.qa))
    kb = build_knowledge(settings)
    modes = MODES if args.mode == "all" else (args.mode,)
    results = {}
    for mode in modes:
        started = time.perf_counter()

        def search(question: str, mode: Mode = mode) -> SearchResult:
            return kb.search(question, k=args.k, mode=mode)

        report = evaluate(questions, search, k=args.k)
        report["seconds"] = round(time.perf_counter() - started, 2)
        results[mode] = report
    if args.json:
        print(json.dumps({"modes": results}, ensure_ascii=False))
        return 0
    table = Table(
        "mode",
        "n",
        "hit@1",
        f"hit@{args.k}",
        f"doc_hit@{args.k}",
        "MRR",
        "unanswerable erkannt",
        "beantwortbar verworfen",
    )
    for mode, r in results.items():
        table.add_row(
            mode,
            str(r["n"]),
            *(
                str(r[key])
                for key in (
                    "hit@1",
                    f"hit@{args.k}",
                    f"doc_hit@{args.k}",
                    "mrr",
                    "unanswerable_detected",
                    "answerable_flagged",
                )
            ),
        )
    Console().print(table)
    for mode, r in results.items():
        kinds = ", ".join(
            f"{kind}: {v.get(f'hit@{args.k}', v.get('unanswerable_detected'))}" for kind, v in r["by_kind"].items()
        )
        Console().print(f"[dim]{mode} by kind (hit@{args.k} / detected): {kinds}[/]", highlight=False)
    return 0


CONSOLE_CHAT = "console"
CONSOLE_USER = "local"
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    kb = build_knowledge(settings)
    out = Console()
    try:
        kb.state()
    except IndexMissing:
        out.print(f"Noch kein Index – ich indexiere zuerst {settings.manuals_dir} …", highlight=False)
        report = _index_with_bar(kb, [settings.manuals_dir])
        out.print(f"{report.documents} Handbücher, {report.pages} Seiten indexiert.", highlight=False)
    return asyncio.run(_chat_loop(settings, kb, out))


async def _chat_loop(settings: Settings, kb: KnowledgeBase, out: Console) -> int:
    async with open_nik(settings, kb) as nik:
        out.print("[bold]Nik[/] – Ihre Frage zu den Handbüchern (/help: Hilfe, /exit: beenden)", highlight=False)
        while True:
            out.print("[bold green]Sie:[/] ", end="")
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                out.print()
                break
            text = line.strip()
            if not text:
                continue
            if text.split()[0] in ("/exit", "/quit"):
                break
            images: tuple[ImageInput, ...] = ()
            if text.split()[0] == "/photo":
                _, _, rest = text.partition(" ")
                path_text, _, text = rest.strip().partition(" ")
                path = Path(path_text).expanduser()
                if not path_text or not path.is_file():
                    out.print("Aufruf: /photo PFAD [Bildunterschrift] – die Datei gibt es nicht.", highlight=False)
                    continue
                images = (_image_input(path),)
            message = _console_message(CONSOLE_CHAT, CONSOLE_USER, text, images)
            async for reply in nik.conversation.handle(message):
                _render(out, reply, settings)
    return 0


def _render(out: Console, reply: Reply, settings: Settings) -> None:
    if isinstance(reply, Answer):
        out.print(Markdown(reply.text.replace("\n", "  \n")))  # keep the quoted lines apart
    elif isinstance(reply, Clarification):
        out.print(f"[bold]{reply.question}[/]", highlight=False)
        for number, option in enumerate(reply.options, start=1):
            out.print(f"  {number}. {option}", highlight=False)
        if reply.options:
            out.print("[dim](Nummer oder Text eingeben)[/]")
    elif isinstance(reply, PageImage):
        out.print(f"{reply.caption}: {_save_page(reply, settings)}", highlight=False)
    elif isinstance(reply, Document | Picture):
        out.print(f"{reply.caption}: {_save_file(reply, settings)}", highlight=False)
    elif isinstance(reply, Progress):
        out.print(reply.text if reply.done else f"[dim]{reply.text}[/]", highlight=False)


def _save_page(page: PageImage, settings: Settings) -> Path:
    folder = settings.data_dir / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(page.citation.file).stem}_S{page.citation.page}.png"
    path.write_bytes(page.png)
    return path


def _save_file(reply: Document | Picture, settings: Settings) -> Path:
    """A file the bot sends, saved under ``NIK_DATA_DIR/files`` (the terminal has no chat to send it to)."""
    folder = settings.data_dir / "files"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(reply.name).name
    path.write_bytes(reply.data if isinstance(reply, Document) else reply.png)
    return path


def _image_input(path: Path) -> ImageInput:
    """A photo file as an adapter would deliver it (the photo pipeline checks the bytes)."""
    return ImageInput(path.read_bytes(), IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream"))


def _console_message(chat: str, user: str, text: str, images: tuple[ImageInput, ...] = ()) -> IncomingMessage:
    return IncomingMessage("console", chat, user, user, uuid.uuid4().hex, text, images)


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    images: tuple[ImageInput, ...] = ()
    if args.image:
        path = Path(args.image)
        if not path.is_file():
            raise ConfigError(f"Kein Bild unter {path}")
        images = (_image_input(path),)
    message = _console_message(args.chat, args.user, args.text, images)
    replies = asyncio.run(_one_turn(settings, message))
    if args.json:
        print(json.dumps(_as_json(replies, settings), ensure_ascii=False))
        return 0
    out = Console()
    for reply in replies:
        _render(out, reply, settings)
    return 0


async def _one_turn(settings: Settings, message: IncomingMessage) -> list[Reply]:
    async with open_nik(settings) as nik:
        return [reply async for reply in nik.conversation.handle(message)]


def _as_json(replies: list[Reply], settings: Settings) -> dict[str, Any]:
    """The turn as ``{"kind", "text", "citations", "clarification"}``; notes before the
    final reply (an expired question, say) are kept in ``text``."""
    texts: list[str] = []
    kind, citations, clarification = "error", [], None
    for reply in replies:
        if isinstance(reply, Answer):
            texts.append(reply.text)
            kind = "answer" if reply.kind == "info" else reply.kind
            citations = [{"file": c.file, "title": c.title, "page": c.page} for c in reply.citations]
        elif isinstance(reply, Clarification):
            texts.append(reply.question)
            kind = "clarification"
            clarification = {"question": reply.question, "options": list(reply.options)}
        elif isinstance(reply, Progress) and reply.done:
            texts.append(reply.text)
            kind = "answer"
        elif isinstance(reply, Document | Picture):
            texts.append(f"{reply.caption}: {_save_file(reply, settings)}")
            kind = "answer"
        elif isinstance(reply, PageImage):
            texts.append(f"{reply.caption}: {_save_page(reply, settings)}")
            kind = "answer"
            c = reply.citation
            citations = [{"file": c.file, "title": c.title, "page": c.page}]
    return {"kind": kind, "text": "\n\n".join(texts), "citations": citations, "clarification": clarification}


def _stderr() -> Console:
    """Messages for people on stderr, one line each however narrow the terminal."""
    return Console(stderr=True, soft_wrap=True)


def _excerpt(text: str, limit: int = 300) -> str:
    flat = " ⏎ ".join(line for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _forget(args: argparse.Namespace, settings: Settings) -> int:
    """Delete everything of one user in every chat (the admin's ``/forget``); print the counts."""
    user = args.user.strip()
    if not user:
        raise ConfigError("--user braucht eine Benutzer-ID")
    report = asyncio.run(_forget_everywhere(settings, args.platform, user))
    if args.json:
        print(json.dumps(report.counts))
        return 0
    if not report.counts:
        print(f"Von {args.platform}:{user} ist nichts gespeichert.")
        return 0
    table = Table("was", "gelöscht")
    for name, count in report.counts.items():
        table.add_row(name, str(count))
    Console().print(table)
    print(f"{args.platform}:{user}: {sum(report.rows.values())} Zeilen und {report.photos} Fotos gelöscht.")
    return 0


async def _forget_everywhere(settings: Settings, platform: str, user: str) -> ForgetReport:
    store = await Store.open(database_url(settings.data_dir, settings.database_url))
    try:
        report = await forget_user(store, build_photos(settings).store, platform, user)
    finally:
        await store.close()
    assert report is not None  # no confirmation asked for: always a report
    return report


def _report(args: argparse.Namespace, settings: Settings) -> int:
    """The admins' quality report of the last ``--since`` (as ``/report``); ``--csv`` writes the days."""
    text, days = asyncio.run(_read_report(settings, args.since))
    print(text)
    if args.csv is not None:
        Path(args.csv).write_text(days, encoding="utf-8")
        print(f"CSV: {args.csv}")
    return 0


async def _read_report(settings: Settings, span: str) -> tuple[str, str]:
    store = await Store.open(database_url(settings.data_dir, settings.database_url))
    try:
        report = await quality_report(store, build_knowledge(settings), span, utc_now())
    finally:
        await store.close()
    if report is None:
        raise ConfigError(f"--since {span!r}: {SPAN_HELP}")
    return german(report), csv_text(report)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.serve import serve  # the platform libraries load only for `nik serve`

    return asyncio.run(serve(settings))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nik", description="Nik – Handbuch-Assistent für Techniker")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="index manuals (default: NIK_MANUALS_DIR)")
    index.add_argument("paths", nargs="*", help="folders or files; together they are the whole collection")
    index.add_argument("--json", action="store_true")
    index.add_argument("--rebuild", action="store_true", help="re-embed everything (e.g. after changing NIK_EMBEDDER)")
    index.add_argument("--strict", action="store_true", help="exit 1 if any file could not be read")
    index.set_defaults(run=_index)

    search = commands.add_parser("search", help="search the indexed manuals")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--product", default=None, help="only manuals whose title/brand/product contains this")
    search.add_argument("--mode", choices=MODES, default="hybrid")
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=_search)

    docs = commands.add_parser("docs", help="list the indexed manuals")
    docs.add_argument("--json", action="store_true")
    docs.set_defaults(run=_docs)

    ev = commands.add_parser("eval", help="retrieval quality on a question set (JSONL)")
    ev.add_argument("qa")
    ev.add_argument("-k", type=int, default=5)
    ev.add_argument("--mode", choices=[*MODES, "all"], default="hybrid")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(run=_eval)

    chat = commands.add_parser("chat", help="chat with Nik in the terminal (indexes the manuals on first run)")
    chat.set_defaults(run=_chat)

    ask = commands.add_parser("ask", help="one turn through the conversation core (continues the chat's history)")
    ask.add_argument("text")
    ask.add_argument("--chat", default=CONSOLE_CHAT, help="chat id: runs with the same id continue one conversation")
    ask.add_argument("--user", default=CONSOLE_USER)
    ask.add_argument("--image", default=None, help="attach a photo (JPEG/PNG)")
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(run=_ask)

    forget = commands.add_parser(
        "forget", help="delete one user's messages, photos, votes, questions and device in every chat"
    )
    forget.add_argument("--platform", choices=("telegram", "teams", "console"), required=True)
    forget.add_argument("--user", required=True, help="the platform's user id (Teams: the Entra ID object id)")
    forget.add_argument("--json", action="store_true", help="print the deleted rows per table (and photos)")
    forget.set_defaults(run=_forget)

    report = commands.add_parser("report", help="quality report: questions per day, outcomes, 👎 answers, gaps")
    report.add_argument("--since", default="7d", help="the span up to now: 7d, 24h, 30d (default: 7d)")
    report.add_argument("--csv", default=None, metavar="FILE", help="also write one row per UTC day to FILE")
    report.set_defaults(run=_report)

    serve = commands.add_parser(
        "serve", help="serve the configured platforms (Telegram, Teams) and /healthz on NIK_HOST:NIK_PORT"
    )
    serve.set_defaults(run=_serve)
    return parser


if __name__ == "__main__":
    sys.exit(main())
