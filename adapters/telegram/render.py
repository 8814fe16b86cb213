"""Core replies → Telegram message parts: HTML within Telegram's limits, keyboards.

The core writes light Markdown; ``chatgpt_md_converter`` turns it into the HTML
subset Telegram parses. A message holds at most 4096 UTF-16 code units (emoji
count twice) and a caption 1024: ``split_html`` cuts at line boundaries with the
open tags closed and reopened, and checks the UTF-16 length of each part (the
converter counts Python characters). Every part carries a plain-text twin for
when Telegram still "can't parse entities": tags dropped, entities unescaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from chatgpt_md_converter import split_html_for_telegram, telegram_format  # type: ignore[import-untyped]
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.messages import Answer, Citation, feedback_data, option_data

MAX_TEXT = 4096  # UTF-16 code units of a message
MAX_CAPTION = 1024  # … of a photo's caption
MIN_SPLIT = 500  # the converter's smallest split length
OPTION_LABEL = 60  # characters shown on an option button
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Part:
    """One message to send: Telegram HTML and the plain text to send if the HTML is refused."""

    html: str
    plain: str


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-16 units, with an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    out, used = [], 1  # room for the ellipsis
    for char in text:
        used += utf16_len(char)
        if used > limit:
            break
        out.append(char)
    return "".join(out).rstrip() + "…"


@lru_cache(maxsize=256)
def to_html(markdown: str) -> str:
    """Telegram HTML of ``markdown``; the fixed texts (``/help``, notes) are converted once."""
    return telegram_format(markdown)


def plain(fragment: str) -> str:
    """The text a reader sees in an HTML fragment: no tags, no escapes."""
    return html.unescape(_TAG.sub("", fragment))


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` as parts of at most ``limit`` UTF-16 units each, cut at line boundaries
    where a line fits, every part with balanced tags."""
    if utf16_len(text) <= limit:
        return [text] if text.strip() else []
    budget = limit
    while True:
        parts = [p for p in split_html_for_telegram(text, trim_empty_leading_lines=True, max_length=budget) if p]
        worst = max(utf16_len(p) for p in parts)
        if worst <= limit or budget == MIN_SPLIT:
            return [p.strip() for p in parts if plain(p).strip()]
        budget = max(MIN_SPLIT, budget - (worst - limit) - 32)  # astral characters count twice


def citation_lines(citations: Sequence[Citation]) -> str:
    """A compact source list: one line per manual, its pages in order (HTML)."""
    pages: dict[str, list[int]] = {}
    for citation in citations:
        listed = pages.setdefault(citation.title, [])
        if citation.page not in listed:
            listed.append(citation.page)
    lines = [
        f"• {html.escape(title)}, S. {', '.join(str(p) for p in sorted(numbers))}" for title, numbers in pages.items()
    ]
    return "<b>Quellen:</b>\n" + "\n".join(lines) if lines else ""


def answer_parts(answer: Answer) -> list[Part]:
    """An answer's text and its citation list, split into sendable parts."""
    body = to_html(answer.text)
    sources = citation_lines(answer.citations)
    full = f"{body}\n\n{sources}" if body and sources else body or sources
    return [Part(p, plain(p)) for p in split_html(full)] or [Part(".", ".")]


def text_parts(markdown: str) -> list[Part]:
    return [Part(p, plain(p)) for p in split_html(to_html(markdown))] or [Part(".", ".")]


def caption(text: str) -> str:
    return clip(text, MAX_CAPTION)


def options_keyboard(options: Sequence[str]) -> InlineKeyboardMarkup:
    """One button per clarification option, its callback data naming the option's number."""
    rows = [
        [InlineKeyboardButton(clip(option, OPTION_LABEL), callback_data=option_data(number))]
        for number, option in enumerate(options, start=1)
    ]
    return InlineKeyboardMarkup(rows)


def answer_keyboard(answer: Answer) -> InlineKeyboardMarkup | None:
    """An answer's command buttons in one row, then 👍/👎 when it asks for feedback; None without either."""
    rows: list[list[InlineKeyboardButton]] = []
    if answer.buttons:
        rows.append([InlineKeyboardButton(clip(b.label, OPTION_LABEL), callback_data=b.data) for b in answer.buttons])
    if answer.ask_feedback and answer.feedback_id:
        rows.append(
            [
                InlineKeyboardButton("👍", callback_data=feedback_data(answer.feedback_id, 1)),
                InlineKeyboardButton("👎", callback_data=feedback_data(answer.feedback_id, -1)),
            ]
        )
    return InlineKeyboardMarkup(rows) if rows else None
