"""The admins' quality report: per UTC day the questions and what became of them, the 👎
answers, the questions "not in the manuals" by device, the manuals cited most; as German
text, as CSV and (``bot.report.chart``) as a chart.

Counted from ``storage.report``: a question is answered when Nik's reply was an answer,
asked back when it was a question back, not in the manuals when it said so; handed to
support counts the support cases opened that day. A span reads ``7d``, ``24h`` or ``30d``.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from knowledge.models import DocumentInfo
from storage.report import DownVote, Question, ReportData
from storage.store import Citation

DEFAULT_SPAN = "7d"
MAX_SPAN = timedelta(days=366)
SPAN_HELP = "Zeitraum in Tagen (7d, 30d) oder Stunden (24h), höchstens 366 Tage."
SPAN_USAGE = f"So geht's: /report 7d – {SPAN_HELP}"
GROUP_REFUSED = (
    "Der Bericht zeigt Fragen aus allen Chats – ich schicke ihn nur im privaten Chat. Schreiben Sie mir dort /report."
)
NO_DEVICE = "ohne Gerät"
SHOWN_VOTES = 10  # 👎 answers in the text (the CSV has the daily counts only)
SHOWN_GROUPS = 8
SHOWN_PER_GROUP = 5
SHOWN_MANUALS = 5
EXCERPT_CHARS = 160
CSV_HEADER = ("tag", "fragen", "beantwortet", "rueckfrage", "nicht_in_handbuechern", "an_support")
_SPAN = re.compile(r"([1-9][0-9]{0,3})\s*([dht])")


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    questions: int
    answered: int
    clarified: int  # asked back
    not_found: int
    handed_over: int  # support cases opened


@dataclass(frozen=True, slots=True)
class QualityReport:
    since: datetime
    until: datetime
    days: tuple[Day, ...]  # every UTC day of the span, oldest first
    down_votes: tuple[DownVote, ...]
    not_found: tuple[tuple[str, tuple[str, ...]], ...]  # (device or brand, its questions), most first
    cited: tuple[tuple[str, int], ...]  # (manual title, answers citing it), most first

    @property
    def total(self) -> Day:
        return Day(
            self.until.date(),
            *(sum(getattr(d, name) for d in self.days) for name in _COUNTS),
        )


_COUNTS = ("questions", "answered", "clarified", "not_found", "handed_over")


def parse_span(text: str) -> timedelta | None:
    """``7d`` → 7 days, ``24h`` → 24 hours (``t`` for Tage too); '' is the default; None when unreadable or too long."""
    match = _SPAN.fullmatch(text.strip().casefold() or DEFAULT_SPAN)
    if match is None:
        return None
    number, unit = int(match.group(1)), match.group(2)
    span = timedelta(hours=number) if unit == "h" else timedelta(days=number)
    return span if span <= MAX_SPAN else None


def build(data: ReportData, manuals: Sequence[DocumentInfo] = ()) -> QualityReport:
    """The report of ``data``; ``manuals`` (the index's) name the brand of a question without a device."""
    days = _days(data.since, data.until)
    per_day = {day: Counter[str]() for day in days}
    for question in data.questions:
        per_day[question.asked_at.date()][question.outcome] += 1
    handed = Counter(opened.date() for opened in data.handed_over)
    rows = tuple(
        Day(
            day,
            sum(per_day[day].values()),
            per_day[day]["answer"],
            per_day[day]["clarification"],
            per_day[day]["not_found"],
            handed[day],
        )
        for day in days
    )
    missing = [q for q in data.questions if q.outcome == "not_found"]
    groups: dict[str, list[str]] = {}
    for question in missing:
        groups.setdefault(_group(question, manuals), []).append(question.text)
    by_size = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0] == NO_DEVICE, item[0]))
    cited = Counter(title for q in data.questions if q.outcome == "answer" for title in {c.title for c in q.citations})
    return QualityReport(
        data.since,
        data.until,
        rows,
        data.down_votes,
        tuple((name, tuple(texts)) for name, texts in by_size),
        tuple(sorted(cited.items(), key=lambda item: (-item[1], item[0]))),
    )


def german(report: QualityReport) -> str:
    """The report as light Markdown for the chat (lists cut to their first entries)."""
    total = report.total
    lines = [
        f"**Qualitätsbericht {_date(report.since)} – {_date(report.until)}** (UTC)",
        "",
        f"Fragen: {total.questions}",
        f"- beantwortet: {_share(total.answered, total.questions)}",
        f"- Rückfrage: {_share(total.clarified, total.questions)}",
        f"- nicht in den Handbüchern: {_share(total.not_found, total.questions)}",
        f"- an den Support übergeben: {_share(total.handed_over, total.questions)}",
        "",
        "**Pro Tag** (Fragen / beantwortet / Rückfrage / nicht gefunden / Support):",
        *(
            f"- {_date(d.day)}: {d.questions} / {d.answered} / {d.clarified} / {d.not_found} / {d.handed_over}"
            for d in report.days
        ),
        "",
        f"**👎 Antworten: {len(report.down_votes)}**",
    ]
    for vote in report.down_votes[:SHOWN_VOTES]:
        sources = _sources(vote.citations)
        lines.append(f"- {_date(vote.voted_at)} Frage: „{_excerpt(vote.question)}“")
        lines.append(f"  Antwort: „{_excerpt(vote.answer)}“ ({sources})")
    lines += _more(len(report.down_votes), SHOWN_VOTES)
    missing = sum(len(texts) for _, texts in report.not_found)
    lines += ["", f"**Nicht in den Handbüchern: {missing}**"]
    for name, texts in report.not_found[:SHOWN_GROUPS]:
        lines.append(f"- {name} ({len(texts)}): " + "; ".join(f"„{_excerpt(t)}“" for t in texts[:SHOWN_PER_GROUP]))
    lines += _more(len(report.not_found), SHOWN_GROUPS)
    lines += ["", "**Meistzitierte Handbücher:**"]
    lines += [
        f"- {title}: {count} {'Antwort' if count == 1 else 'Antworten'}"
        for title, count in report.cited[:SHOWN_MANUALS]
    ] or ["- keine"]
    return "\n".join(lines)


def csv_text(report: QualityReport) -> str:
    """One header row and one row per UTC day."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for d in report.days:
        writer.writerow((d.day.isoformat(), d.questions, d.answered, d.clarified, d.not_found, d.handed_over))
    return out.getvalue()


def _days(since: datetime, until: datetime) -> list[date]:
    first, last = since.date(), (until - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _group(question: Question, manuals: Iterable[DocumentInfo]) -> str:
    """The chat's device, else the first manual's brand (and product) the question names, else ``NO_DEVICE``."""
    if question.device:
        return question.device
    asked = question.text.casefold()
    for manual in manuals:
        for product in manual.products:
            if product and product.casefold() in asked:
                return f"{manual.manufacturer} {product}".strip()
        if manual.manufacturer and manual.manufacturer.casefold() in asked:
            return manual.manufacturer
    return NO_DEVICE


def _sources(citations: Iterable[Citation]) -> str:
    """``Title S. 3, 4; Other S. 1`` (each manual once, its pages in order)."""
    pages: dict[str, set[int]] = {}
    for citation in citations:
        pages.setdefault(citation.title, set()).add(citation.page)
    return "; ".join(f"{t} S. {', '.join(map(str, sorted(p)))}" for t, p in pages.items()) or "keine Quellen"


def _share(part: int, whole: int) -> str:
    return f"{part} ({round(100 * part / whole)} %)" if whole else f"{part}"


def _date(moment: date) -> str:
    return moment.strftime("%d.%m.%Y")


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def _more(count: int, shown: int) -> list[str]:
    return [f"- … und {count - shown} weitere"] if count > shown else []
