"""The report's chart: the questions per day by outcome, as a small PNG drawn without a display.

matplotlib's object API with the Agg canvas (no pyplot, no global state, no GUI backend):
800×400 pixels, stacked bars per UTC day, the support hand-offs as a line.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.report.quality import QualityReport

WIDTH, HEIGHT, DPI = 800, 400, 100
_COLORS = {"answered": "#2e7d32", "clarified": "#f9a825", "not_found": "#c62828", "other": "#9e9e9e"}


def daily_chart(report: QualityReport) -> bytes:
    """The PNG: per day answered, asked back, not in the manuals and the rest stacked; support as a line."""
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    days = [d.day.strftime("%d.%m.") for d in report.days]
    positions = list(range(len(days)))
    stacks = {
        "answered": [d.answered for d in report.days],
        "clarified": [d.clarified for d in report.days],
        "not_found": [d.not_found for d in report.days],
        "other": [d.questions - d.answered - d.clarified - d.not_found for d in report.days],
    }
    labels = {"answered": "beantwortet", "clarified": "Rückfrage", "not_found": "nicht gefunden", "other": "sonstige"}
    bottom = [0] * len(days)
    for name, values in stacks.items():
        axes.bar(positions, values, bottom=bottom, color=_COLORS[name], label=labels[name], width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.plot(positions, [d.handed_over for d in report.days], color="#1565c0", marker="o", label="an Support")
    step = max(1, len(days) // 12)  # at most about 12 day labels
    axes.set_xticks(positions[::step], days[::step])
    axes.set_ylabel("Fragen")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Fragen pro Tag")
    axes.legend(loc="upper left", fontsize="small", ncols=5)
    highest = max([*bottom, *(d.handed_over for d in report.days), 1])
    axes.set_ylim(0, highest * 1.35)  # room for the legend above the bars
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
