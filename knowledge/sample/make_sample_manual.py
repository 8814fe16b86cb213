"""Generate a FICTIONAL German inverter manual as a sample PDF for Nik.

The brand "SolarFux" and the products "SF-3000TL", "SF-5000TL" and
"SF-6000TL" do not exist. All values, codes, phone numbers and addresses in
the generated document are made up; the PDF only serves as test/demo input
for the manual question-answering pipeline.

Layout rules that the retrieval pipeline relies on:

* page 1 is a cover page with a table of contents,
* every numbered chapter starts on its own page (chapter N is on page N + 1),
  so that distinct facts live on distinct pages,
* every table row is drawn on exactly one text line (cells never wrap), so
  text extraction yields one line per row.

The output is deterministic: rerunning the script produces a byte-identical
file.

Usage::

    python make_sample_manual.py [OUTPUT_PDF]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

DEFAULT_OUTPUT: Path = Path(__file__).parent / "manuals" / "SolarFux_SF-5000TL_Handbuch.pdf"

TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"
AUTHOR = "SolarFux GmbH (fiktiv)"
SUBJECT = (
    "Fiktives Handbuch des Strang-Wechselrichters SolarFux SF-5000TL "
    "(Varianten SF-3000TL, SF-5000TL, SF-6000TL) - Beispieldokument"
)
KEYWORDS = "SolarFux, SF-5000TL, SF-3000TL, SF-6000TL, Wechselrichter, PV, fiktiv"
LANGUAGE = "de-DE"
DOC_VERSION = "Version 1.2, Stand 01/2026"
# Fixed timestamp so that reruns produce byte-identical PDFs.
CREATION_DATE = datetime(2026, 1, 1, tzinfo=UTC)

# Core PDF fonts (Helvetica) only cover Latin-1. Typographic characters that
# are convenient in the source text are mapped to Latin-1 equivalents.
LATIN1_REPLACEMENTS: dict[str, str] = {
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # horizontal ellipsis
    "\u2265": ">=",  # greater-than or equal to
    "\u2264": "<=",  # less-than or equal to
    "\u201e": '"',  # German opening quote
    "\u201c": '"',  # German closing quote
    "\u201d": '"',
    "\u2019": "'",
    "\u2022": "-",  # bullet
    "\u00a0": " ",  # no-break space (keep extraction simple)
}

FONT = "helvetica"
BODY_SIZE = 10.5
LINE_H = 5.6

# (number, title) of every chapter; chapter N is rendered on page N + 1.
CHAPTERS: list[tuple[int, str]] = [
    (1, "Sicherheitshinweise"),
    (2, "Produktübersicht"),
    (3, "Technische Daten"),
    (4, "Montage"),
    (5, "Elektrischer Anschluss"),
    (6, "Inbetriebnahme"),
    (7, "Fehlercodes und Fehlerbehebung"),
    (8, "Wartung"),
    (9, "Kontakt"),
]

TECH_DATA: list[tuple[str, str]] = [
    ("Parameter", "Wert (SF-5000TL)"),
    ("Max. DC-Eingangsspannung", "600 V"),
    ("Startspannung", "120 V"),
    ("MPP-Spannungsbereich", "150–550 V"),
    ("Max. Eingangsstrom pro String", "13 A"),
    ("Anzahl MPP-Tracker", "2"),
    ("Strings pro MPP-Tracker", "1"),
    ("AC-Nennleistung", "5000 W"),
    ("Netzanschluss", "230 V / 50 Hz, einphasig (L/N/PE)"),
    ("Max. Wirkungsgrad", "97,6 %"),
    ("Schutzart", "IP65"),
    ("Umgebungstemperatur (Betrieb)", "−25 °C … +60 °C"),
    ("Lagertemperatur", "−30 °C … +70 °C"),
    ("Gewicht", "16 kg"),
    ("Kühlung", "Lüfter, temperaturgeregelt"),
    ("Kommunikationsschnittstelle", "RS485 (Modbus RTU)"),
    ("Modbus-Standardadresse", "1"),
    ("Modbus-Baudrate (Standard)", "9600 Baud"),
]

VARIANTS: list[tuple[str, str, str, str]] = [
    ("Modell", "AC-Nennleistung", "MPP-Tracker", "Gewicht"),
    ("SF-3000TL", "3000 W", "1", "14 kg"),
    ("SF-5000TL", "5000 W", "2", "16 kg"),
    ("SF-6000TL", "6000 W", "2", "17 kg"),
]

ERROR_CODES: list[tuple[str, str, str, str]] = [
    ("Code", "Meldung", "Ursache", "Abhilfe"),
    ("E001", "Netzspannung zu hoch", "Netzspannung > 253 V", "Netz prüfen, Netzbetreiber kontaktieren"),
    ("E002", "Netzspannung zu niedrig", "Netzspannung < 195 V", "Netz prüfen, Netzbetreiber kontaktieren"),
    (
        "E003",
        "Netzfrequenz außerhalb des Bereichs",
        "Frequenz nicht 47,5-51,5 Hz",
        "Netz prüfen, Ländercode prüfen",
    ),
    (
        "E010",
        "Isolationsfehler PV",
        "Erdschluss im PV-Generator",
        "PV-Kabel und Module auf Erdschluss prüfen",
    ),
    (
        "E013",
        "Fehlerstrom zu hoch (GFCI)",
        "Ableitstrom > 300 mA",
        "DC trennen, Isolation prüfen, neu starten",
    ),
    (
        "E021",
        "Übertemperatur",
        "Gerät zu heiß (> 85 °C intern)",
        "Abstände/Belüftung prüfen, Lüfter reinigen",
    ),
    ("E027", "Lüfterfehler", "Lüfter blockiert oder defekt", "Lüfter reinigen, ggf. tauschen (Service)"),
    ("E031", "DC-Überspannung", "PV-Spannung > 600 V", "Sofort DC trennen, Stringauslegung prüfen"),
    (
        "E040",
        "Kommunikationsfehler Display",
        "Displayverbindung gestört",
        "AC/DC aus, 5 min warten, neu starten",
    ),
    (
        "E101",
        "Interner Relaisfehler",
        "Netzrelais schaltet nicht korrekt",
        "Neu starten; bleibt Fehler: Service rufen",
    ),
    ("W08", "Lüfter verschmutzt (Warnung)", "Lüfterdrehzahl zu gering", "Lüfter und Lüftungsgitter reinigen"),
    (
        "W12",
        "Zählerkommunikation gestört (Warnung)",
        "Zähler antwortet nicht (RS485)",
        "RS485-Kabel, Adresse und Baudrate prüfen",
    ),
]


class ManualPDF(FPDF):
    """FPDF subclass with page header/footer and Latin-1 text normalisation."""

    def normalize_text(self, text: str) -> str:
        """Map typographic characters to Latin-1 before fpdf2's own check."""
        for src, dst in LATIN1_REPLACEMENTS.items():
            text = text.replace(src, dst)
        return super().normalize_text(text)

    def header(self) -> None:
        """Draw the running header on every page."""
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.set_xy(self.l_margin, 8)
        self.cell(self.epw / 2, 5, "SolarFux SF-5000TL - Installations- und Bedienungsanleitung")
        self.cell(self.epw / 2, 5, DOC_VERSION, align="R")
        self.set_draw_color(200, 120, 0)
        self.set_line_width(0.4)
        self.line(self.l_margin, 14, self.w - self.r_margin, 14)
        self.set_text_color(0, 0, 0)
        self.set_y(20)

    def footer(self) -> None:
        """Draw the running footer with page numbering on every page."""
        self.set_y(-14)
        self.set_draw_color(200, 120, 0)
        self.set_line_width(0.2)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.set_y(-12)
        self.cell(self.epw / 2, 5, "Fiktives Beispieldokument - SolarFux GmbH (fiktiv)")
        self.cell(self.epw / 2, 5, f"Seite {self.page_no()} von {{nb}}", align="R")
        self.set_text_color(0, 0, 0)


# --------------------------------------------------------------------------
# Layout helpers
# --------------------------------------------------------------------------


def chapter_heading(pdf: ManualPDF, number: int, title: str) -> None:
    """Start a new page with a numbered chapter heading on its own line."""
    pdf.add_page()
    expected_page = number + 1
    if pdf.page_no() != expected_page:
        raise RuntimeError(f"Chapter {number} starts on page {pdf.page_no()}, expected {expected_page}")
    heading = f"{number} {title}"
    pdf.start_section(heading, level=0)
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def sub_heading(pdf: ManualPDF, text: str) -> None:
    """Write a numbered sub heading (e.g. "4.1 Montageort") on its own line."""
    pdf.ln(2)
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def paragraph(pdf: ManualPDF, text: str, style: str = "") -> None:
    """Write a wrapped body paragraph."""
    pdf.set_font(FONT, style, BODY_SIZE)
    pdf.multi_cell(0, LINE_H, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)


def bullets(pdf: ManualPDF, items: Sequence[str], numbered: bool = False) -> None:
    """Write a list with hanging indent: dash bullets or "1.", "2.", ... markers."""
    pdf.set_font(FONT, "", BODY_SIZE)
    indent = 6.0 if numbered else 5.0
    for index, item in enumerate(items, start=1):
        pdf.set_x(pdf.l_margin)
        pdf.cell(indent, LINE_H, f"{index}." if numbered else "-")
        pdf.multi_cell(pdf.epw - indent, LINE_H, item, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.8)
    pdf.ln(1.5)


def warning_box(pdf: ManualPDF, label: str, text: str) -> None:
    """Write a highlighted safety notice (label line + text)."""
    pdf.set_fill_color(255, 236, 204)
    pdf.set_font(FONT, "B", BODY_SIZE)
    pdf.cell(0, LINE_H + 1, label, fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", BODY_SIZE)
    pdf.multi_cell(0, LINE_H, text, fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def single_line_table(
    pdf: ManualPDF,
    rows: Sequence[Sequence[str]],
    font_size: float = 9,
    padding_x: float = 1.5,
) -> None:
    """Draw a table whose rows each occupy exactly one text line.

    Column widths are derived from the widest cell text of every column, so no
    cell ever wraps; any remaining page width is distributed proportionally.
    Raises ``ValueError`` if the table would be wider than the page.
    """
    n_cols = len(rows[0])
    if any(len(row) != n_cols for row in rows):
        raise ValueError("All table rows must have the same number of cells")
    natural: list[float] = []
    for col in range(n_cols):
        widest = 0.0
        for index, row in enumerate(rows):
            pdf.set_font(FONT, "B" if index == 0 else "", font_size)
            widest = max(widest, pdf.get_string_width(row[col]))
        # +1.5 mm slack guards against rounding in fpdf2's line breaking.
        natural.append(widest + 2 * padding_x + 1.5)
    total = sum(natural)
    if total > pdf.epw:
        raise ValueError(f"Table needs {total:.1f} mm but only {pdf.epw:.1f} mm are available; shorten the cell texts")
    scale = pdf.epw / total
    widths = [w * scale for w in natural]

    pdf.set_font(FONT, "", font_size)
    pdf.set_fill_color(255, 255, 255)  # rows not striped by cell_fill_mode
    pdf.set_draw_color(150, 150, 150)
    pdf.set_line_width(0.2)
    headings_style = FontFace(emphasis="BOLD", fill_color=(255, 220, 170))
    with pdf.table(
        col_widths=widths,
        width=pdf.epw,
        text_align="LEFT",
        line_height=font_size * 0.55,
        padding=(1.2, padding_x),
        headings_style=headings_style,
        first_row_as_headings=True,
        cell_fill_mode="ROWS",
        cell_fill_color=(246, 246, 246),
    ) as table:
        for row in rows:
            table.row(row)
    pdf.ln(3)


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


def cover_page(pdf: ManualPDF) -> None:
    """Page 1: title, scope and table of contents."""
    pdf.add_page()
    pdf.set_y(40)
    pdf.set_font(FONT, "B", 26)
    pdf.cell(0, 14, "SolarFux SF-5000TL", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 16)
    pdf.cell(0, 9, "Installations- und Bedienungsanleitung", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 9, "Strang-Wechselrichter (einphasig, transformatorlos)", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    paragraph(
        pdf,
        "Gültig für die Modelle SF-3000TL, SF-5000TL und SF-6000TL. Sofern nicht "
        "anders angegeben, beziehen sich alle Werte in dieser Anleitung auf den "
        "SF-5000TL.",
    )
    paragraph(pdf, DOC_VERSION)
    warning_box(
        pdf,
        "Hinweis: Fiktives Dokument",
        "SolarFux, die SF-Geräteserie sowie alle Daten, Fehlercodes und Kontaktdaten "
        "in diesem Dokument sind frei erfunden. Das Dokument dient ausschließlich als "
        "Beispiel- und Testmaterial und darf nicht für reale Installationen verwendet "
        "werden.",
    )
    pdf.ln(4)
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 9, "Inhaltsverzeichnis", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", BODY_SIZE)
    for number, title in CHAPTERS:
        pdf.cell(pdf.epw - 30, 7, f"{number} {title}")
        pdf.cell(30, 7, f"Seite {number + 1}", align="R", new_x="LMARGIN", new_y="NEXT")


def chapter_safety(pdf: ManualPDF) -> None:
    """Chapter 1: safety instructions."""
    chapter_heading(pdf, 1, "Sicherheitshinweise")
    paragraph(
        pdf,
        "Lesen Sie diese Anleitung vor der Montage und Inbetriebnahme vollständig. "
        "Bewahren Sie sie in der Nähe des Wechselrichters auf. Nichtbeachtung der "
        "Sicherheitshinweise kann zu Tod, schweren Verletzungen oder Sachschäden führen.",
    )
    warning_box(
        pdf,
        "GEFAHR: Lebensgefahr durch Stromschlag",
        "Am Gerät liegen lebensgefährliche Spannungen an. Die PV-Module erzeugen bei "
        "Lichteinfall auch dann eine Gleichspannung (bis 600 V), wenn der "
        "Wechselrichter vom Netz getrennt ist.",
    )
    warning_box(
        pdf,
        "WARNUNG: Restspannung in Kondensatoren",
        "Nach dem Ausschalten warten Sie mindestens 5 Minuten, bis sich die internen "
        "Kondensatoren entladen haben. Erst dann darf das Gerät geöffnet oder an den "
        "Anschlüssen gearbeitet werden.",
    )
    sub_heading(pdf, "1.1 Qualifikation des Personals")
    paragraph(
        pdf,
        "Alle Arbeiten an Montage, elektrischem Anschluss, Inbetriebnahme, Wartung "
        "und Fehlerbehebung dürfen nur von qualifizierten Elektrofachkräften "
        "durchgeführt werden, die mit den geltenden Normen und den Vorschriften des "
        "Netzbetreibers vertraut sind.",
    )
    sub_heading(pdf, "1.2 Freischalten vor allen Arbeiten")
    bullets(
        pdf,
        [
            ("AC-Seite trennen: Leitungsschutzschalter ausschalten und gegen Wiedereinschalten sichern."),
            "DC-Seite trennen: DC-Trennschalter am Wechselrichter auf OFF stellen.",
            "5 Minuten warten, bis die Kondensatoren entladen sind.",
            "Spannungsfreiheit an AC- und DC-Anschlüssen mit geeignetem Messgerät feststellen.",
            "DC-Steckverbinder niemals unter Last ziehen.",
        ],
    )
    sub_heading(pdf, "1.3 Weitere Hinweise")
    bullets(
        pdf,
        [
            "Verbrennungsgefahr: Das Gehäuse kann im Betrieb über 60 °C heiß werden.",
            "Keine Veränderungen am Gerät vornehmen; nur Originalzubehör verwenden.",
            "Das Gerät ist nicht für den Inselbetrieb geeignet.",
        ],
    )


def chapter_overview(pdf: ManualPDF) -> None:
    """Chapter 2: product overview and variants."""
    chapter_heading(pdf, 2, "Produktübersicht")
    paragraph(
        pdf,
        "Der SolarFux SF-5000TL ist ein transformatorloser, einphasiger "
        "Strang-Wechselrichter für netzgekoppelte Photovoltaikanlagen. Er wandelt "
        "den Gleichstrom der PV-Module in netzkonformen Wechselstrom (230 V / 50 Hz) "
        "um und speist diesen in das öffentliche Netz ein.",
    )
    sub_heading(pdf, "2.1 Gerätevarianten")
    paragraph(pdf, "Die Baureihe umfasst drei Leistungsklassen:")
    single_line_table(pdf, VARIANTS, font_size=10)
    sub_heading(pdf, "2.2 Lieferumfang")
    bullets(
        pdf,
        [
            "Wechselrichter SF-5000TL",
            "Wandhalterung mit Befestigungsschrauben und Dübeln",
            "AC-Stecker (3-polig) und 2 Paar MC4-kompatible DC-Steckverbinder",
            "Kurzanleitung und diese Installations- und Bedienungsanleitung",
        ],
    )
    sub_heading(pdf, "2.3 Bedien- und Anzeigeelemente")
    bullets(
        pdf,
        [
            "LCD-Display mit vier Bedientasten (ESC, AUF, AB, ENTER)",
            "LED grün: Einspeisebetrieb; LED grün blinkend: Start/Warten auf PV-Spannung",
            "LED rot: Fehler (Fehlercode im Display, siehe Kapitel 7)",
            "DC-Trennschalter an der Geräteunterseite",
        ],
    )


def chapter_tech_data(pdf: ManualPDF) -> None:
    """Chapter 3: technical data table."""
    chapter_heading(pdf, 3, "Technische Daten")
    paragraph(pdf, "Die folgenden Werte gelten für den SolarFux SF-5000TL.")
    single_line_table(pdf, TECH_DATA, font_size=10)
    paragraph(
        pdf,
        "Oberhalb von +45 °C Umgebungstemperatur reduziert der Wechselrichter "
        "seine Ausgangsleistung automatisch (Derating).",
    )


def chapter_mounting(pdf: ManualPDF) -> None:
    """Chapter 4: mechanical installation."""
    chapter_heading(pdf, 4, "Montage")
    sub_heading(pdf, "4.1 Montageort")
    bullets(
        pdf,
        [
            "Wandmontage an einer senkrechten, tragfähigen und nicht brennbaren Wand.",
            "Geschützt vor direkter Sonneneinstrahlung, Regen und Schnee montieren.",
            "Umgebungstemperatur im Betrieb: −25 °C … +60 °C.",
            "Nicht in Wohnräumen montieren (Lüftergeräusch).",
        ],
    )
    sub_heading(pdf, "4.2 Mindestabstände")
    paragraph(
        pdf,
        "Halten Sie für eine ausreichende Kühlung folgende Mindestabstände ein:",
    )
    bullets(
        pdf,
        [
            "oberhalb des Geräts: 30 cm",
            "unterhalb des Geräts: 30 cm",
            "seitlich (links und rechts): 20 cm",
        ],
    )
    sub_heading(pdf, "4.3 Wandmontage")
    bullets(
        pdf,
        [
            "Wandhalterung waagerecht ausrichten und mit 4 Schrauben befestigen.",
            "Wechselrichter (16 kg) in die Wandhalterung einhängen.",
            "Gerät mit der Sicherungsschraube gegen Aushängen sichern.",
        ],
    )


def chapter_electrical(pdf: ManualPDF) -> None:
    """Chapter 5: electrical connection (AC and DC)."""
    chapter_heading(pdf, 5, "Elektrischer Anschluss")
    warning_box(
        pdf,
        "GEFAHR: Lebensgefahr durch Stromschlag",
        "Vor dem Anschluss AC- und DC-Seite freischalten und 5 Minuten warten (siehe Kapitel 1).",
    )
    sub_heading(pdf, "5.1 AC-Anschluss")
    bullets(
        pdf,
        [
            "AC-Kabelquerschnitt: 4–6 mm² Kupfer (L, N, PE).",
            "Anzugsdrehmoment der AC-Klemmen: 1,2 Nm.",
            "Empfohlener Fehlerstromschutzschalter (RCD): Typ A, 30 mA.",
            (
                "Falls ein RCD vorgeschrieben ist und Fehlauslösungen auftreten: "
                "Bemessungsfehlerstrom ≥ 100 mA verwenden."
            ),
            ("Leitungsschutzschalter: B32 bzw. gemäß Kabelquerschnitt und Vorgaben des Netzbetreibers."),
        ],
    )
    sub_heading(pdf, "5.2 DC-Anschluss (PV-Generator)")
    bullets(
        pdf,
        [
            "DC-Steckverbinder: MC4-kompatibel; nur passende Gegenstecker verwenden.",
            "PV-Kabel: 4 mm² Solarkabel.",
            "Je MPP-Tracker wird ein String angeschlossen (2 MPP-Tracker).",
            "Max. Eingangsstrom pro String: 13 A.",
            ("Die Leerlaufspannung der Strings darf 600 V auch bei −25 °C nicht überschreiten."),
            "Polarität vor dem Stecken mit dem Messgerät prüfen.",
        ],
    )
    sub_heading(pdf, "5.3 Kommunikation (RS485)")
    paragraph(
        pdf,
        "Über die RS485-Schnittstelle (Modbus RTU) kann ein Energiezähler oder ein "
        "Datenlogger angeschlossen werden. Werkseinstellung: Modbus-Adresse 1, "
        "Baudrate 9600, 8N1.",
    )


def chapter_commissioning(pdf: ManualPDF) -> None:
    """Chapter 6: commissioning."""
    chapter_heading(pdf, 6, "Inbetriebnahme")
    sub_heading(pdf, "6.1 Voraussetzungen")
    bullets(
        pdf,
        [
            "Gerät korrekt montiert und elektrisch angeschlossen.",
            "Alle DC-Steckverbinder eingerastet, AC-Stecker verriegelt.",
            "PV-Spannung über der Startspannung von 120 V.",
        ],
    )
    sub_heading(pdf, "6.2 Erstinbetriebnahme")
    bullets(
        pdf,
        [
            "AC-Leitungsschutzschalter einschalten.",
            "DC-Trennschalter auf ON stellen. Das Display startet.",
            "Displaysprache wählen (Menü Einstellungen > Sprache; Standard: Deutsch).",
            (
                "Ländercode einstellen (Menü Einstellungen > Land), z. B. DE für "
                "Deutschland. Der Ländercode legt die Netzschutzparameter fest."
            ),
            "Datum und Uhrzeit einstellen.",
            ("Nach ca. 60 Sekunden Netzprüfung beginnt die Einspeisung (LED grün)."),
        ],
        numbered=True,
    )
    sub_heading(pdf, "6.3 Erweiterte Einstellungen")
    paragraph(
        pdf,
        "Erweiterte Einstellungen (z. B. Ländercode nachträglich ändern, "
        "Leistungsbegrenzung, Modbus-Adresse und Baudrate) sind passwortgeschützt.",
    )
    paragraph(pdf, "Passwort für erweiterte Einstellungen: 0815", style="B")
    paragraph(
        pdf,
        "Der Ländercode darf nur in Abstimmung mit dem Netzbetreiber geändert werden.",
    )


def chapter_error_codes(pdf: ManualPDF) -> None:
    """Chapter 7: error code table (one text line per row)."""
    chapter_heading(pdf, 7, "Fehlercodes und Fehlerbehebung")
    paragraph(
        pdf,
        "Bei einem Fehler leuchtet die rote LED und das Display zeigt einen "
        "Fehlercode (E...) an; der Wechselrichter trennt sich vom Netz. Warnungen "
        "(W...) werden angezeigt, der Einspeisebetrieb läuft weiter.",
    )
    single_line_table(pdf, ERROR_CODES, font_size=8.5, padding_x=1.2)
    paragraph(
        pdf,
        "Tritt ein Fehler nach Durchführung der Abhilfe erneut auf, notieren Sie "
        "Fehlercode, Seriennummer und Uhrzeit und wenden Sie sich an den "
        "SolarFux-Service (siehe Kapitel 9).",
    )


def chapter_maintenance(pdf: ManualPDF) -> None:
    """Chapter 8: maintenance."""
    chapter_heading(pdf, 8, "Wartung")
    paragraph(
        pdf,
        "Der Wechselrichter ist weitgehend wartungsfrei. Folgende Wartungsarbeiten "
        "sind durch eine Elektrofachkraft durchzuführen:",
    )
    single_line_table(
        pdf,
        [
            ("Intervall", "Wartungsarbeit"),
            ("jährlich", "Sichtprüfung von Gehäuse, Kabeln und Steckverbindern"),
            ("alle 6 Monate", "Lüfter und Lüftungsgitter reinigen"),
            ("jährlich", "DC-Trennschalter einmal betätigen (AUS und wieder EIN)"),
        ],
        font_size=10,
    )
    warning_box(
        pdf,
        "Hinweis",
        "Vor der Reinigung des Lüfters AC- und DC-Seite freischalten und 5 Minuten "
        "warten. Keine Druckluft, keinen Hochdruckreiniger und keine Lösungsmittel "
        "verwenden.",
    )


def chapter_contact(pdf: ManualPDF) -> None:
    """Chapter 9: (fictional) contact details."""
    chapter_heading(pdf, 9, "Kontakt")
    paragraph(pdf, "SolarFux GmbH (fiktiv)", style="B")
    paragraph(pdf, "Musterstraße 1\n00000 Beispielstadt\nDeutschland")
    bullets(
        pdf,
        [
            "Service-Hotline: +49 000 000000 (Mo-Fr 8-17 Uhr)",
            "E-Mail: service@solarfux.example",
            "Web: https://www.solarfux.example",
        ],
    )
    paragraph(
        pdf,
        "Halten Sie für Serviceanfragen bitte Gerätetyp, Seriennummer, Firmwareversion "
        "und den angezeigten Fehlercode bereit.",
    )


PAGE_BUILDERS: list[Callable[[ManualPDF], None]] = [
    cover_page,
    chapter_safety,
    chapter_overview,
    chapter_tech_data,
    chapter_mounting,
    chapter_electrical,
    chapter_commissioning,
    chapter_error_codes,
    chapter_maintenance,
    chapter_contact,
]


def build_manual() -> ManualPDF:
    """Build the complete manual in memory."""
    pdf = ManualPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title(TITLE)
    pdf.set_author(AUTHOR)
    pdf.set_subject(SUBJECT)
    pdf.set_keywords(KEYWORDS)
    pdf.set_creator("Nik knowledge/sample/make_sample_manual.py")
    pdf.set_lang(LANGUAGE)
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_margins(left=15, top=20, right=15)
    pdf.set_auto_page_break(auto=True, margin=18)
    for builder in PAGE_BUILDERS:
        pages_before = pdf.page_no()
        builder(pdf)
        if pdf.page_no() != pages_before + 1:
            raise RuntimeError(f"{builder.__name__} did not fit on exactly one page")
    return pdf


def write_manual(output: Path) -> Path:
    """Build the manual and write it to ``output``; return the path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    build_manual().output(str(output))
    return output


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "output",
        nargs="?",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"output PDF path (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    path = write_manual(args.output)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
