"""Reading-order text from a PDF page's character boxes.

pdfium's plain text follows the content stream, which in many manuals interleaves
table cells and the two halves of a landscape spread. Nik needs table rows intact
as lines (an error-code row must stay ``Error: 405 Relais-Fehler …``), so lines are
rebuilt from geometry: characters grouped by baseline, ordered left to right, a
word space for a small gap and `` | `` for a cell-sized one. A landscape page with
an empty vertical gutter near its middle is read as two columns (two-up spreads).
Text set at a right angle to the page (a wide table turned on a portrait page) is
turned upright before its lines are built, each direction on its own.
"""

from __future__ import annotations

import ctypes
import itertools
import math
from dataclasses import dataclass
from statistics import median

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

CELL_GAP = 1.6  # gap, in multiples of the font size, that separates table cells
WORD_GAP = 0.18  # gap, in multiples of the font size, that separates words
INFERRED_GAP = 0.1  # smaller gap that still separates words where pdfium inferred a space


@dataclass(frozen=True, slots=True)
class Glyph:
    char: str
    left: float
    bottom: float
    right: float
    top: float
    size: float
    space_before: bool = False  # a space (printed or inferred by pdfium) precedes it
    turn: int = 0  # the text's direction on the page: 0, 90, 180 or 270 degrees (pdfium's angle)

    @property
    def middle(self) -> float:
        return (self.bottom + self.top) / 2


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    size: float  # median font height, to tell headings from body text


def page_lines(page: pdfium.PdfPage) -> list[Line]:
    """The page's text as lines in reading order (empty list: no text layer)."""
    textpage = page.get_textpage()
    try:
        glyphs = _glyphs(textpage)
        if not glyphs:
            return []
        width, height = page.get_size()
        upright = [g for g in glyphs if g.turn == 0]
        columns = [c for c in (_split_columns(upright, width) if width > height * 1.15 else [upright]) if c]
        turned = [group for turn in (90, 180, 270) if (group := [_upright(g) for g in glyphs if g.turn == turn])]
        # The direction most of the page's text runs in is read first.
        if turned and max(map(len, turned)) > len(upright):
            groups = sorted(turned, key=len, reverse=True) + columns
        else:
            groups = columns + turned
        lines: list[Line] = []
        for group in groups:
            lines.extend(_lines(group))
        return lines
    finally:
        textpage.close()


def _glyphs(textpage: pdfium.PdfTextPage) -> list[Glyph]:
    count = textpage.count_chars()
    if count <= 0:
        return []
    raw = textpage.raw
    box = pdfium_c.FS_RECTF()
    glyphs: list[Glyph] = []
    spaced = False
    for index in range(count):
        code = pdfium_c.FPDFText_GetUnicode(raw, index)
        if code <= 32:
            # Some PDFs print no space glyphs and only kern words apart; pdfium then
            # infers (generates) a space. Keep that as a word break.
            spaced = True
            continue
        if 0xD800 <= code <= 0xDFFF or code == 0xFFFE or pdfium_c.FPDFText_IsGenerated(raw, index) == 1:
            continue
        # The loose box spans the font's ascent..descent: one height per font size,
        # unlike the tight glyph box ("x" vs "h"), and unlike FPDFText_GetFontSize,
        # which reports unscaled sizes for many generated PDFs.
        if not pdfium_c.FPDFText_GetLooseCharBox(raw, index, ctypes.byref(box)):
            continue
        angle = pdfium_c.FPDFText_GetCharAngle(raw, index)
        turn = round(math.degrees(angle) / 90) % 4 * 90 if angle >= 0 else 0
        size = box.top - box.bottom if turn in (0, 180) else box.right - box.left
        if size <= 0:
            continue
        glyphs.append(Glyph(chr(code), box.left, box.bottom, box.right, box.top, size, spaced, turn))
        spaced = False
    return glyphs


def _upright(glyph: Glyph) -> Glyph:
    """The glyph in the frame of its own text direction: x along the reading direction,
    y towards the lines above (pdfium's angle turns clockwise: 270 reads up the page)."""
    rad = math.radians(glyph.turn)
    ahead = (math.cos(rad), -math.sin(rad))
    up = (-ahead[1], ahead[0])
    corners = [(x, y) for x in (glyph.left, glyph.right) for y in (glyph.bottom, glyph.top)]
    xs = [x * ahead[0] + y * ahead[1] for x, y in corners]
    ys = [x * up[0] + y * up[1] for x, y in corners]
    return Glyph(glyph.char, min(xs), min(ys), max(xs), max(ys), glyph.size, glyph.space_before, 0)


def _split_columns(glyphs: list[Glyph], width: float) -> list[list[Glyph]]:
    """Split a spread at an empty vertical gutter in its middle fifth, if there is one."""
    bins = [0] * (int(width) + 2)
    for g in glyphs:
        for x in range(max(int(g.left), 0), min(int(g.right) + 1, len(bins))):
            bins[x] += 1
    lo, hi = int(width * 0.4), int(width * 0.6)
    best_start, best_len, start = -1, 0, -1
    for x in range(lo, hi + 1):
        if bins[x] == 0:
            start = x if start < 0 else start
            if x - start + 1 > best_len:
                best_start, best_len = start, x - start + 1
        else:
            start = -1
    if best_len < 4:
        return [glyphs]
    cut = best_start + best_len / 2
    left = [g for g in glyphs if g.right <= cut]
    right = [g for g in glyphs if g.right > cut]
    return [side for side in (left, right) if side]


def _lines(glyphs: list[Glyph]) -> list[Line]:
    ordered = sorted(glyphs, key=lambda g: -g.middle)
    rows: list[list[Glyph]] = []
    row_mid = 0.0
    for g in ordered:
        if rows and abs(g.middle - row_mid) <= 0.45 * max(g.size, 1.0):
            rows[-1].append(g)
            row_mid += (g.middle - row_mid) / len(rows[-1])
        else:
            rows.append([g])
            row_mid = g.middle
    lines = [Line(_join(row), median(g.size for g in row)) for row in rows]
    return [line for line in lines if line.text]


def _join(row: list[Glyph]) -> str:
    row.sort(key=lambda g: g.left)
    size = median(g.size for g in row)
    parts: list[str] = [row[0].char]
    for prev, cur in itertools.pairwise(row):
        gap = cur.left - prev.right
        if gap > CELL_GAP * size:
            parts.append(" | ")
        elif gap > WORD_GAP * size or (cur.space_before and gap > INFERRED_GAP * size):
            parts.append(" ")
        parts.append(cur.char)
    return "".join(parts).strip()
