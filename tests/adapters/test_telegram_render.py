"""Markdown → Telegram HTML parts: limits in UTF-16 units, balanced tags, plain twins."""

from __future__ import annotations

import random
from html.parser import HTMLParser

import pytest

from adapters.telegram.render import (
    MAX_CAPTION,
    MAX_TEXT,
    answer_keyboard,
    answer_parts,
    caption,
    citation_lines,
    plain,
    split_html,
    to_html,
    utf16_len,
)
from bot.core.messages import Answer, Citation, command_button

WORDS = ["Fehler", "E013", "Isolation", "prüfen", "<Kabel>", "A&B", "🔌", "⚡️", "👷‍♂️", "x" * 30, "`code`"]


class Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.broken = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.broken = True


def balanced(fragment: str) -> bool:
    parser = Balance()
    parser.feed(fragment)
    parser.close()
    return not parser.broken and not parser.open


def markdown(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 60)):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 120)))
        style = rng.random()
        if style < 0.2:
            line = f"**{line}**"
        elif style < 0.3:
            line = f"- {line}"
        elif style < 0.35:
            line = f"```\n{line}\n```"
        elif style < 0.4:
            line = f"[{line[:40]}](https://example.com/a?b=1&c=2)"
        paragraphs.append(line)
    return rng.choice(["\n\n", "\n"]).join(paragraphs)


@pytest.mark.parametrize("seed", range(40))
def test_every_part_fits_is_balanced_and_nothing_is_lost(seed: int) -> None:
    rng = random.Random(seed)
    source = to_html(markdown(rng))
    parts = split_html(source)
    assert parts
    for part in parts:
        assert utf16_len(part) <= MAX_TEXT
        assert balanced(part), part[:200]
    words = lambda text: plain(text).split()  # noqa: E731
    assert [w for p in parts for w in words(p)] == words(source)


def test_a_short_text_is_one_part_and_long_lines_split_at_line_breaks() -> None:
    assert split_html("<b>kurz</b>") == ["<b>kurz</b>"]
    lines = [f"Zeile {n}: " + "ä" * 90 for n in range(100)]
    parts = split_html("\n".join(lines))
    assert len(parts) == 3
    assert all(part.split("\n")[-1] in lines for part in parts)  # every part ends with a whole line


def test_emoji_count_twice() -> None:
    text = "🔌" * 3000  # 3000 characters, 6000 UTF-16 units
    parts = split_html(text)
    assert len(parts) == 2 and all(utf16_len(p) <= MAX_TEXT for p in parts)


def test_answer_has_a_compact_source_list_and_a_plain_twin() -> None:
    title = "SolarFux <SF> Handbuch"
    answer = Answer(
        "**E013**: Fehlerstrom > 300 mA",
        (Citation("a.pdf", title, 8), Citation("a.pdf", title, 6), Citation("a.pdf", title, 8)),
    )
    [part] = answer_parts(answer)
    assert part.html.startswith("<b>E013</b>: Fehlerstrom &gt; 300 mA")
    assert part.html.endswith("<b>Quellen:</b>\n• SolarFux &lt;SF&gt; Handbuch, S. 6, 8")
    assert part.plain == "E013: Fehlerstrom > 300 mA\n\nQuellen:\n• SolarFux <SF> Handbuch, S. 6, 8"
    assert citation_lines(()) == ""


def test_caption_is_clipped_to_1024_units() -> None:
    clipped = caption("📖" * 600)
    assert utf16_len(clipped) <= MAX_CAPTION and clipped.endswith("…")
    assert caption("SF-5000TL, S. 8") == "SF-5000TL, S. 8"


def test_an_answers_command_buttons_sit_above_its_feedback_row() -> None:
    answer = Answer("x", buttons=(command_button("📄 PDF", "/pdf 7"),), ask_feedback=True, feedback_id="7")
    keyboard = answer_keyboard(answer)
    assert keyboard is not None
    rows = [[(b.text, b.callback_data) for b in row] for row in keyboard.inline_keyboard]
    assert rows == [[("📄 PDF", "cmd:/pdf 7")], [("👍", "fb:7:+1"), ("👎", "fb:7:-1")]]
    assert answer_keyboard(Answer("x")) is None
