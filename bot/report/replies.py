"""``/report`` for an admin: the report's text and its chart, in a private chat only.

The report quotes questions of every chat, so a group (whose members need not be admins)
gets a refusal instead; the admin check itself is the command's (``bot.core.commands``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.core.messages import Answer, Picture, Reply
from bot.report.chart import daily_chart
from bot.report.quality import GROUP_REFUSED, SPAN_USAGE, QualityReport, build, german, parse_span
from knowledge.errors import IndexMissing
from knowledge.models import DocumentInfo
from knowledge.service import KnowledgeBase
from storage.report import read_report
from storage.store import Store, utc_now


async def quality_report(store: Store, knowledge: KnowledgeBase, span: str, now: datetime) -> QualityReport | None:
    """The report of the ``span`` (``7d``, ``24h``) up to ``now``; None when the span is unreadable."""
    length = parse_span(span)
    if length is None:
        return None
    data = await read_report(store, now - length, now)
    return build(data, await asyncio.to_thread(_manuals, knowledge))


async def report_replies(store: Store, knowledge: KnowledgeBase, span: str, *, is_group: bool) -> list[Reply]:
    """The text and the chart PNG, or the one answer that says why not."""
    if is_group:
        return [Answer(GROUP_REFUSED, kind="refused")]
    report = await quality_report(store, knowledge, span, utc_now())
    if report is None:
        return [Answer(SPAN_USAGE, kind="info")]
    png = await asyncio.to_thread(daily_chart, report)
    caption = f"Fragen pro Tag, {report.since:%d.%m.} – {report.until:%d.%m.%Y}"
    return [Answer(german(report), kind="info"), Picture(png, caption, "Qualitaetsbericht.png")]


def _manuals(knowledge: KnowledgeBase) -> list[DocumentInfo]:
    """The indexed manuals (their brands group the questions without a device); none without an index."""
    try:
        return knowledge.documents()
    except IndexMissing:
        return []
