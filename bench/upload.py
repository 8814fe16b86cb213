"""Upload to searchable: an admin sends a generated 20-page manual as a Telegram document.

Nik serves Telegram (long polling) against the fake Bot API (tests/adapters/telegram_fake.py)
with the offline engine and the e5 embedder; the manuals folder starts empty. A one-page
manual is uploaded first (loads the embedder, creates the index), then the timed one.
Measured from the moment the update is available to ``getUpdates``:

* **stored**: the "Gespeichert als …" reply (getFile, download, PDF checks, atomic write);
* **indexed**: the reindex note's final edit "Index aktualisiert …";
* **cited**: a question on a term of its last page is then answered with it as the source.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# bench/telegram.py would shadow the library: import it before the bench folder is on the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import telegram  # noqa: E402, F401

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "adapters"))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import emit, machine, machine_line, set_omp_threads  # noqa: E402
from fpdf import FPDF  # noqa: E402
from telegram_fake import TOKEN, FakeTelegram  # noqa: E402

from adapters.serve import running  # noqa: E402
from adapters.telegram import TelegramPlatform  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime.composition import Nik  # noqa: E402

ADMIN = 42
CHAT = 100


PARTS = (
    "Umwaelzpumpe",
    "Ausdehnungsgefaess",
    "Drucksensor",
    "Verdampfer",
    "Kondensator",
    "Expansionsventil",
    "Luefter",
    "Steuerplatine",
    "Netzteil",
    "Temperaturfuehler",
    "Sicherheitsventil",
    "Schmutzfilter",
    "Kondensatablauf",
    "Display",
    "Funkmodul",
    "Heizstab",
    "Magnetventil",
    "Stroemungswaechter",
    "Kompressor",
    "Quarzfilter-Spuelventil",
)


def manual(pages: int, model: str) -> bytes:
    """A manual of ``pages`` pages of German service text; page n is about one part and its fault code."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for n in range(1, pages + 1):
        part = PARTS[(n - 1) % len(PARTS)]
        pdf.add_page()
        pdf.set_font("helvetica", "B", 16)
        pdf.multi_cell(w=0, new_x="LMARGIN", new_y="NEXT", text=f"{n}. {part} ({model})")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(
            w=0,
            new_x="LMARGIN",
            new_y="NEXT",
            text=(
                f"Fehler F{n:03d}: Die Steuerung des {model} meldet eine Stoerung an der Baugruppe {part}. "
                f"So beheben Sie F{n:03d}: Geraet spannungsfrei schalten, {part} auf Verschmutzung und feste "
                f"Anschluesse pruefen, bei Bedarf reinigen oder tauschen. Pruefintervall fuer {part}: "
                f"alle {6 + n} Monate. Anzugsdrehmoment der Befestigung: {n + 2} Nm. "
                f"Ersatzteilnummer {model}-{1000 + 17 * n}."
            ),
        )
        for k in range(1, 6):
            pdf.multi_cell(
                w=0,
                new_x="LMARGIN",
                new_y="NEXT",
                text=f"Schritt {k}: {part} - Sichtpruefung, Messwert {n * k} notieren, Ergebnis im Wartungsprotokoll "
                f"Abschnitt {n}.{k} eintragen.",
            )
    return bytes(pdf.output())


async def _upload(api: FakeTelegram, data: bytes, name: str) -> tuple[float, float]:
    """Seconds from push to stored and to indexed."""
    marks = len(api.calls)
    api.push(api.document(CHAT, data, name=name, user_id=ADMIN))
    pushed = time.monotonic()

    def done() -> bool:
        return any(
            c.method == "editMessageText" and "Index aktualisiert" in c.params.get("text", "")
            for c in api.calls[marks:]
        )

    await api.wait_for(done, timeout=900)
    later = api.calls[marks:]
    stored = next(c.at for c in later if "Gespeichert als" in str(c.params.get("text", "")))
    indexed = next(c.at for c in later if "Index aktualisiert" in str(c.params.get("text", "")))
    return stored - pushed, indexed - pushed


async def measure(pages: int) -> dict[str, Any]:
    big = manual(pages, "ZX-900")
    async with FakeTelegram() as api:
        with tempfile.TemporaryDirectory() as data:
            manuals = Path(data) / "manuals"
            manuals.mkdir()
            settings = Settings.model_validate(
                {
                    "NIK_DATA_DIR": data,
                    "NIK_MANUALS_DIR": str(manuals),
                    "NIK_ADMINS": f"telegram:{ADMIN}",
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_BASE_URL": api.root,
                    "NIK_HOST": "127.0.0.1",
                    "NIK_PORT": 0,
                    "NIK_RATE_LIMIT": 0,
                }
            )

            def platform(nik: Nik) -> TelegramPlatform:
                return TelegramPlatform(nik, poll_timeout=25.0)

            async with running(settings, factories=[platform]):
                _, warm_indexed = await _upload(api, manual(1, "AB-100"), "Warmup AB-100.pdf")
                stored, indexed = await _upload(api, big, "ZX-900 Wartung.pdf")
                before = len(api.texts(CHAT))
                api.push(api.message(CHAT, text=f"Was bedeutet Fehler F{pages:03d} beim ZX-900?", user_id=ADMIN))
                await api.wait_for(lambda: len(api.texts(CHAT)) > before, timeout=60)
                answer = api.texts(CHAT)[before]
    return {
        "pages": pages,
        "bytes": len(big),
        "stored_s": round(stored, 3),
        "indexed_s": round(indexed, 2),
        "first_upload_indexed_s": round(warm_indexed, 2),
        "cited": "ZX-900" in answer.partition("Quellen")[2],
        "machine": machine(),
    }


def print_human(result: dict[str, Any]) -> None:
    print(f"upload of a generated {result['pages']}-page manual ({result['bytes']} bytes) as a Telegram document:")
    print(f"  stored after {result['stored_s']} s, searchable (index updated) after {result['indexed_s']} s")
    print(
        f"  (the first, one-page upload loaded the embedder and built the index: {result['first_upload_indexed_s']} s)"
    )
    print(f"  question on its last page answered citing it: {result['cited']}")
    print(f"  ({machine_line(result['machine'])})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the embedder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    set_omp_threads(args.threads)
    return emit(asyncio.run(measure(args.pages)), args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
