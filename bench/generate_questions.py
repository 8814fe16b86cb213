"""Generate an evaluation question set from the corpus itself (offline, deterministic).

Questions come from the lines the index sees (``knowledge.ingest.parse_document``,
table cells joined by `` | `` as ``knowledge.layout`` rebuilds them): error/fault
table rows, alarm bits, hex return codes and register names, label → value or
address rows, numbered section headings with their first sentence. Each question
is phrased from templates (German mostly, English, some Dutch), names the manual
the way a technician would, and may be made "phone style" (lower case, fillers,
typos). Unanswerable questions ask about brands the corpus does not cover, about
topics verified absent from every manual of a covered maker, or are off-topic.

The gold page of an answerable question is every page of its manual on which its
``answer`` line stands; a row whose key (code, label) is printed on more pages of
the same manual is left out (its gold would be ambiguous). When a sibling manual of
the same maker prints the key too, the question names the manual's model/version
and its kind is ``sibling``.

The split is by page group: pages are grouped in blocks of ``GROUP_PAGES`` per
manual, and a group goes to the held-out split when the SHA-256 of "file#block"
falls below ``HELDOUT_SHARE``; a question whose gold pages straddle both splits is
dropped, so no page is in both. Unanswerable questions are split by the hash of
their text.

The small English/Dutch → German term table below only phrases German questions
about English and Dutch pages; it is generic trade vocabulary, lives only here and
is not used by the product (``knowledge/glossary.py``).

    .venv/bin/python bench/generate_questions.py [--pdfs DIR] [--out-dir bench] [--seed 11]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CORPUS_PDFS, REPO

from knowledge.ingest import parse_document
from knowledge.text import fold

SEED = 11
GROUP_PAGES = 1  # pages per split group
HELDOUT_SHARE = 0.45
# Draws (seeds) of the tune split: one draw's 430 questions left weights a question or two
# apart from each other; four give ~1 560 (pages stay in their split whatever the seed).
TUNE_DRAWS = 4
PER_MANUAL = 25  # answerable questions per manual at most
PER_CLASS_MANUAL = 10  # ... and per class within a manual
UNANSWERABLE_SHARE = 0.14
MAX_ANSWER = 170  # characters: longer rows are not quotable answers
NOT_FOUND = "NICHT IN DEN DOKUMENTEN – Bot soll sagen, dass die Information im Korpus fehlt."

# How technicians name each manual: distinctive names first (model / version /
# document type), then looser ones used when no sibling manual shares the key.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "APsystems_EZ1_Local_API_Documentation.pdf": (("APsystems EZ1", "ez1 local api"), ("apsystems", "EZ1-M")),
    "AlphaESS-Handbuch_SMILE-T30_ModBus_RTU_V123-DE.pdf": (
        ("AlphaESS SMILE-T30", "alpha ess smile t30"),
        ("alphaess", "Alpha ESS"),
    ),
    "BA_KOSTAL_Interface_MODBUS-TCP_SunSpec_with_Control.pdf": (
        ("Kostal Plenticore", "kostal piko iq"),
        ("kostal", "Plenticore plus"),
    ),
    "BMS-Link_Communication_Address_V1.6.pdf": (("BMS-Link", "bms link modul"), ("bms-link",)),
    "Deye_SUN_Inverter_Modbus_EN.pdf": (("Deye SUN", "deye sun hybrid"), ("deye", "Deye Hybrid")),
    "EVSE-WiFi_Doku_FW-upgrade_v1.pdf": (("EVSE-WiFi", "evse wifi modul"), ("evse-wifi",)),
    "GoodWe_ET-EH-BH-BT_Hybrid_Modbus_Protocol_v1.7.pdf": (
        ("GoodWe ET", "goodwe et/eh v1.7"),
        ("goodwe eh", "GoodWe BT"),
    ),
    "GoodWe_Modbus_Protocol_Hybrid_EN_V1.3_EM-series.pdf": (("GoodWe EM", "goodwe em serie v1.3"), ("goodwe em",)),
    "Growatt_Inverter_Modbus_RTU_Protocol_II_V1.24_EN.pdf": (
        ("Growatt Protokoll v1.24", "growatt modbus rtu II 1.24"),
        ("growatt modbus",),
    ),
    "Growatt_MIC600TL-X_DS-DE.pdf": (("Growatt MIC Datenblatt", "MIC600TL-X datenblatt"), ("growatt mic",)),
    "Growatt_MIC600TL-X_MAN-DE.pdf": (
        ("Growatt MIC Handbuch", "MIC 600TL-X anleitung"),
        ("growatt mic", "MIC TL-X", "mic600"),
    ),
    "Growatt_MIC600TL-X_NA-SCHUTZ_MIC_600.pdf": (
        ("Growatt MIC NA-Schutz Zertifikat", "mic 600 na-schutz"),
        ("growatt mic",),
    ),
    "Growatt_MIC600TL-X_QUICK-DE.pdf": (("Growatt MIC Kurzanleitung", "MIC TL-X quick guide"), ("growatt mic",)),
    "Growatt_PV_Inverter_Modbus_RS485_RTU_Protocol_v3.05.pdf": (
        ("Growatt RS485 Protokoll v3.05", "growatt modbus 3.05"),
        ("growatt rs485",),
    ),
    "Growatt_VPP_Communication_Protocol_V2.01.pdf": (("Growatt VPP", "growatt vpp protokoll 2.01"), ("growatt vpp",)),
    "JK_Lithium_battery_smart_BMS_instructions.pdf": (("JK BMS", "jikong bms"), ("jk smart bms",)),
    "JNGE_JN.Series.Privilege.Version.Wind.and.Solar.Hybrid.Controller.Product.Manual.pdf": (
        ("JNGE Wind/Solar Hybrid Controller", "jnge wind solar controller"),
        ("jnge",),
    ),
    "JNGE_manual-v3-2021-1-20.pdf": (("JNGE MPPT Laderegler v3", "jnge mppt controller"), ("jnge",)),
    "Pylontech_LFP_RS232_protocol_V2.8.pdf": (("Pylontech RS232 V2.8", "pylon rs232 protokoll"), ("pylontech",)),
    "Pylontech_RS485-protocol-V3.3-20180821.pdf": (
        ("Pylontech RS485 V3.3", "pylontech rs485 protokoll 3.3"),
        ("pylontech",),
    ),
    "SAJ_H2-3-6K-S2_communication_protocol_2022-12-02_EN.pdf": (("SAJ H2", "saj h2 hybrid"), ("saj", "SAJ H2-6K")),
    "SMA_CAN_protocol.pdf": (("SMA Sunny Island", "sunny island mit externem bms"), ("sunny island", "SMA")),
    "SRNE_modbus_v1.3_EN.pdf": (("SRNE", "srne hybrid wechselrichter"), ("srne",)),
    "Seplos_48V_100A_BMS_20200528.pdf": (("Seplos 100A BMS", "seplos 48v 100a"), ("seplos",)),
    "Seplos_48V_200A_8S-16S_BMS.pdf": (("Seplos 200A BMS", "seplos 48v 200a"), ("seplos",)),
    "SlimLaden_Installatie-_en_gebruikershandleiding_NL.pdf": (("SlimLaden", "slimladen laadstation"), ("slimladen",)),
    "SmartEVSEv2.2_install_v2.16.pdf": (("SmartEVSE v2.2", "smartevse 2.2 installationsanleitung"), ("smartevse",)),
    "SmartEVSEv2_manual_1.07.pdf": (("SmartEVSE v2 Handbuch 1.07", "smartevse v2 manual"), ("smartevse",)),
    "SmartEVSEv3_install_v3.0.pdf": (("SmartEVSE v3", "smartevse 3"), ("smartevse", "smart evse")),
    "SolaX_Hybrid_X1X3-G4_ModbusTCP_RTU_V3.36_EN.pdf": (("SolaX X3 Hybrid G4", "solax x1 hybrid g4"), ("solax g4",)),
    "SolaX_MIC-G2_Modbus-RTU_protocol_V1.9.pdf": (("SolaX MIC G2", "solax x3 mic g2"), ("solax mic",)),
    "SolaX_Single_Phase_External_Communication_Protocol_X1_V1.8.pdf": (("SolaX X1", "solax x1 mini"), ("solax x1",)),
    "Victron_VE.Can-registers-public.pdf": (("Victron VE.Can", "victron ve can"), ("victron",)),
    "Victron_VE.Direct-Protocol-3.33.pdf": (("Victron VE.Direct", "ve.direct"), ("victron mppt",)),
    "Voltronic_PI30MAX_Communication_Protocol_20210217.pdf": (
        ("Voltronic Axpert MAX", "axpert max"),
        ("pi30", "Axpert"),
    ),
    "edge-tech_SmartEVSE_ModBusRegisters.pdf": (("SmartEVSE Modbus Register", "smartevse modbus"), ("smartevse",)),
}

# Generic trade words, English/Dutch → German, to phrase German questions about
# English/Dutch pages (cross-language). Deliberately small and generic.
TERMS: dict[str, str] = {
    "voltage": "Spannung",
    "current": "Strom",
    "battery": "Batterie",
    "temperature": "Temperatur",
    "charge": "Laden",
    "charging": "Laden",
    "discharge": "Entladen",
    "discharging": "Entladen",
    "fault": "Fehler",
    "error": "Fehler",
    "failure": "Fehler",
    "power": "Leistung",
    "frequency": "Frequenz",
    "grid": "Netz",
    "protection": "Schutz",
    "over": "Über",
    "under": "Unter",
    "high": "hoch",
    "low": "niedrig",
    "cell": "Zelle",
    "capacity": "Kapazität",
    "energy": "Energie",
    "total": "gesamt",
    "today": "heute",
    "output": "Ausgang",
    "input": "Eingang",
    "load": "Last",
    "mode": "Modus",
    "time": "Zeit",
    "setting": "Einstellung",
    "warning": "Warnung",
    "address": "Adresse",
    "maximum": "maximal",
    "minimum": "minimal",
    "insulation": "Isolation",
    "isolation": "Isolation",
    "resistance": "Widerstand",
    "relay": "Relais",
    "fan": "Lüfter",
    "communication": "Kommunikation",
    "reactive": "Blind",
    "active": "Wirk",
    "phase": "Phase",
    "daily": "täglich",
    "limit": "Grenze",
    "delay": "Verzögerung",
    "recovery": "Wiederherstellung",
    "serial": "Serien",
    "number": "Nummer",
    "version": "Version",
    "meter": "Zähler",
    "inverter": "Wechselrichter",
    "rated": "Nenn",
    "state": "Zustand",
    "pack": "Pack",
    "short": "Kurz",
    "circuit": "Schluss",
    "ambient": "Umgebung",
    "level": "Stufe",
    "enable": "aktivieren",
    "disable": "deaktivieren",
    "connection": "Anschluss",
    "install": "installieren",
    "installation": "Installation",
    "cable": "Kabel",
    "wiring": "Verkabelung",
    "storage": "Lagerung",
    "weight": "Gewicht",
    "efficiency": "Wirkungsgrad",
    "generation": "Erzeugung",
    "export": "Einspeisung",
    "feed": "Einspeisung",
    "spanning": "Spannung",
    "stroom": "Strom",
    "fout": "Fehler",
    "vermogen": "Leistung",
    "temperatuur": "Temperatur",
    "beschermingsgraad": "Schutzart",
    "gewicht": "Gewicht",
    "aansluiten": "anschließen",
    "aardlek": "Fehlerstrom",
    "laadstation": "Ladestation",
    "kort": "kurz",
    "aan": "an",
    "uit": "aus",
    "knippert": "blinkt",
    "knipperen": "blinken",
    "flashing": "blinkt",
    "flashes": "blinkt",
    "blink": "blinkt",
    "slow": "langsam",
    "fast": "schnell",
    "green": "grün",
    "groen": "grün",
    "red": "rot",
    "rood": "rot",
    "blauw": "blau",
    "oranje": "orange",
    "kabel": "Kabel",
    "instellen": "einstellen",
    "groepenkast": "Verteiler",
}

_FUNCTION_WORDS = frozenset("and of the for to in on at with de het van en".split())
FILLERS_DE = ("hallo", "kurze frage", "moin", "servus", "hi", "sorry kurze frage", "du")
TAILS_DE = ("beim kunden", "was is da kaputt", "bin grad vor ort", "danke", "weißt du das", "auf dem dach grad")
TYPO_PAIRS = (("ä", "ae"), ("ü", "u"), ("ö", "o"), ("ß", "ss"), ("ie", "ei"), ("tt", "t"), ("ll", "l"))

UNCOVERED = (
    ("Fronius Symo", "Fronius"),
    ("Fronius Primo GEN24", "Fronius"),
    ("Huawei SUN2000", "Huawei"),
    ("Huawei LUNA2000", "Huawei"),
    ("Enphase IQ8", "Enphase"),
    ("SolarEdge SE5K", "SolarEdge"),
    ("Tesla Powerwall 2", "Tesla"),
    ("BYD Battery-Box HVS", "BYD"),
    ("Wallbox Pulsar Plus", "Wallbox"),
    ("myenergi Zappi", "Zappi"),
    ("KEBA P30", "KEBA"),
    ("go-e Charger", "go-e"),
    ("Sungrow SH10RT", "Sungrow"),
    ("Hoymiles HM-800", "Hoymiles"),
    ("sonnenBatterie 10", "sonnen"),
    ("Senec Home V3", "Senec"),
    ("E3/DC S10", "E3/DC"),
    ("Varta pulse neo", "Varta"),
    ("LG RESU 10H", "LG"),
    ("Easee Home", "Easee"),
    ("Zaptec Go", "Zaptec"),
    ("Mennekes Amtron", "Mennekes"),
    ("Sofar HYD 6000", "Sofar"),
    ("Kaco blueplanet", "Kaco"),
    ("Anker Solix", "Anker"),
    ("EcoFlow PowerStream", "EcoFlow"),
    ("Zendure SolarFlow", "Zendure"),
    ("Tigo TS4", "Tigo"),
)
UNCOVERED_TOPICS_DE = (
    "Fehlercode {n} was bedeutet das?",
    "zeigt Alarm {n}, was tun?",
    "Anzugsdrehmoment der AC-Klemmen?",
    "wie setze ich das WLAN zurück?",
    "Modbus-Adresse für die Batterieladung?",
    "maximaler DC-Eingangsstrom?",
    "wie mache ich ein Firmware-Update?",
    "Schutzart IP?",
    "LED blinkt rot, was heißt das?",
    "welcher FI-Schalter wird benötigt?",
    "wie viele Module in Reihe maximal?",
    "Statuscode {n} bedeutung",
)
UNCOVERED_TOPICS_EN = (
    "what does error code {n} mean?",
    "how do I reset the wifi?",
    "max DC input current?",
    "modbus register for battery SOC?",
    "LED flashing red meaning",
)
OFF_TOPIC = (
    ("Wie wird das Wetter morgen in München?", "de"),
    ("Wer hat die letzte Fußball-WM gewonnen?", "de"),
    ("Rezept für Gulaschsuppe bitte", "de"),
    ("Wie kündige ich meinen Handyvertrag?", "de"),
    ("wann hat der baumarkt heute offen", "de"),
    ("Was kostet ein Liter Diesel gerade?", "de"),
    ("kannst du mir einen witz erzählen", "de"),
    ("Wie lange ist die Autobahn A9 gesperrt?", "de"),
    ("What is the capital of Australia?", "en"),
    ("how do I bake sourdough bread", "en"),
    ("Hoe laat gaat de supermarkt dicht?", "nl"),
    ("wie viele Urlaubstage habe ich noch?", "de"),
)
# Topics checked absent from all manuals of a covered maker: (German question, words that must be absent).
ABSENT_TOPICS = (
    ("Garantiezeit {name}, wie viele Jahre?", ("garantie", "warranty", "gewahrleistung")),
    ("Was kostet ein {name} ungefähr?", ("preis", "price", "kosten", "euro")),
    ("{name} App einrichten, wie verbinde ich die mit dem Handy?", ("app", "smartphone", "handy")),
    ("{name}: wie reinige ich die Solarmodule richtig?", ("reinig", "clean")),
    (
        "{name} Blitzschutz, welcher Überspannungsableiter Typ 2?",
        ("blitz", "lightning", "uberspannungsableiter", "surge arrester"),
    ),
    ("Welche Notstrom-Umschaltzeit hat der {name}?", ("notstrom", "umschaltzeit", "switchover", "switching time")),
    ("{name}: wie tausche ich den Lüfter?", ("lufter", "fan", "ventilator")),
)

_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3}\.?)\s+(\S.{1,70})$")
_CODE_WORD = re.compile(
    r"^(?:(?P<kw>error|warning|fehler|fault|alarm|err|warn)\s*:?\s*(?P<code>\d{1,4})\b\s*(?:\|\s*)?(?P<text>[^\W\d_].{2,80})"
    r"|(?P<text2>[^\W\d_][^|]{2,60}?)\s*\|?\s*(?P<kw2>error|warning|fehler|fault)\s*:?\s*(?P<code2>\d{1,4}))$",
    re.IGNORECASE,
)
_TABLE_CODE = re.compile(r"^0*(?P<code>\d{1,3})\s*(?:=|\|)\s*(?P<text>[A-Za-zÄÖÜäöü][^|]{3,70})$")
_TRAILING_CODE = re.compile(r"^(?P<text>[A-Za-z][^|\d]{3,70}?)\s*\|\s*0*(?P<code>\d{1,3})$")
_LETTER_CODE = re.compile(r"^(?P<code>[A-Za-z]\d{2,4})\s*(?:\||\s)\s*(?P<text>[A-Za-z][\w .\-/]{3,60})$")
_BIT = re.compile(
    r"^(?:bit|BIT|Bit)\s?(?P<bit>\d{1,2})(?:\s*[|:]\s*|\s+(?=[A-Z]))(?P<text>[A-Za-z][^|]{3,70})(?:\|.*)?$"
)
_SHORT_HEX = re.compile(r"^(?P<code>0x[0-9A-Fa-f]{2}|[0-9A-F]{2}H)\s*\|\s*(?P<text>[A-Za-z][^|]{3,70})$")
_ADDRESS = re.compile(r"^(?:0x[0-9A-Fa-f]{3,4}|[0-9A-F]{4}H?|[0-9A-F]{3}H|\d{3,5}(?:-\d{1,5})?)$")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+$|^[A-Za-z]+[a-z][A-Z][A-Za-z0-9]*$|^[A-Z]{3,}[0-9]*$")
_VALUE = re.compile(
    r"(?<![\w.])[-+<>≤≥]?\d+(?:[.,]\d+)?\s*(?:~\s*\d+(?:[.,]\d+)?\s*)?"
    r"(?:mV|V|mA|A|kW|W|VA|kWh|Wh|Ah|mAh|Hz|℃|°C|ºC|%|mm²|mm2|mm|kg|ms|s|min|Ohm|Ω|mΩ|bps|dB|m)(?![\w])"
    r"|\bIP\d{2}\b"
)
_GENERIC_LABEL = frozenset(
    "reserved reserve undefine undefined remark remarks note notes description default range unit units name "
    "value type function address content data byte bytes bit none na null status yes no on off".split()
)
_FAULT_PAGE = re.compile(
    r"(error|fault|alarm|warning|fehler|störung|storing)\s*(code|list|table|message|meldung|info)"
    r"|fehlercode|fehlermeldung|foutcode",
    re.IGNORECASE,
)
_FAULTY = re.compile(
    r"(?<!de)fault|error|fail|fehler|too |\bhigh|\blow\b|over|under|abnormal|\blost\b|\bloss\b|short|stuck|locked|"
    r"\bopen\b|miswired|disconnect|reversed|missing|overheat|issue|störung|gestört|defekt|fout|storing",
    re.I,
)
# A display message ("ERROR HIGH TEMP The temperature inside …") and a menu option
# in capitals with its explanation ("LOCK Enable or disable the locking actuator").
_DISPLAY_ERROR = re.compile(
    r"^(?P<code>(?:ERROR|FAULT|ALARM|WARNING)(?: [A-Z]{2,}){1,4})(?: \| | )(?P<text>[A-Z][a-z][^|]{20,})$"
)
_MENU = re.compile(r"^(?P<key>[A-Z]{2,10}(?: [A-Z]{2,8})?)(?: \| | )(?:- )?(?P<text>[A-Z][a-z]+ [A-Za-z][^|]{15,})$")
_BLINK = re.compile(r"blink|flash|knipper|kort aan|lang aan|kort uit|leuchtet|blinken", re.I)
_NOT_FAULT = re.compile(r"refer|verification|information|\bmode\b|\bno error\b", re.I)
_PROCEDURE = re.compile(
    r"install|connect|wiring|wire|cable|mount|setting|setup|set |update|upgrade|configur|commission|start|"
    r"anschl|montage|install|verbind|einstell|aansluit|instell|plaatsing|verbinden|reset|replace|maintenance|wartung",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Manual:
    file: str
    maker: str
    language: str
    pages: tuple[tuple[str, ...], ...]
    folded: tuple[str, ...]  # folded page texts


@dataclass(frozen=True, slots=True)
class Item:
    kind: str
    question: str
    answer: str
    file: str | None
    pages: tuple[int, ...]
    lang: str
    page_lang: str
    source: str  # the class the row came from (sibling/noisy keep it)


def load_manuals(pdfs: Path) -> list[Manual]:
    manuals: list[Manual] = []
    for path in sorted(pdfs.glob("*.pdf")):
        doc = parse_document(path, path.name)
        pages = tuple(tuple(p.lines) for p in doc.pages)
        folded = tuple(fold("\n".join(p)) for p in pages)
        maker = doc.info.manufacturer or path.name.split("_")[0]
        if "evse" in fold(path.name) or "slimladen" in fold(path.name):
            maker = "SmartEVSE"  # one maker (Edge Technologies / Stegen) behind the SmartEVSE family
        manuals.append(Manual(path.name, maker, _page_language(doc.info.language), pages, folded))
    return manuals


def _page_language(language: str) -> str:
    return language if language in ("de", "en", "nl") else "en"


# ---------------------------------------------------------------- extraction


@dataclass(frozen=True, slots=True)
class Row:
    cls: str  # error_code, code_other, register, spec, procedure, heading
    key: str  # what the question names (code, label, heading)
    detail: str  # code meaning / label / first sentence
    line: str  # the answer line as extracted
    page: int
    sub: str = ""  # bit / hex / ident / address for code_other


def extract_rows(manual: Manual) -> list[Row]:
    boiler = _running(manual)
    rows: list[Row] = []
    for number, lines in enumerate(manual.pages, start=1):
        code_rows = sum(
            1 for ln in lines if _TABLE_CODE.match(ln) or _LETTER_CODE.match(ln) or _TRAILING_CODE.match(ln)
        )
        fault_page = code_rows >= 8 or (code_rows >= 2 and bool(_FAULT_PAGE.search(" ".join(lines))))
        headings = sum(1 for ln in lines if _HEADING.match(ln))
        menu_page = sum(1 for ln in lines if _MENU.match(ln)) >= 3
        for index, line in enumerate(lines):
            text = line.strip()
            if len(text) > MAX_ANSWER or len(text) < 6 or _shape(text) in boiler or _cjk(text):
                continue
            rows.extend(_row(text, number, fault_page, menu_page))
            if headings <= 8 and "|" not in text:  # a page full of headings is a table of contents
                heading = _heading_row(text, lines[index + 1 : index + 4], number)
                if heading:
                    rows.append(heading)
    return rows


def _row(text: str, page: int, fault_page: bool, menu_page: bool) -> Iterable[Row]:
    m = _BIT.match(text)
    if m and _words(m.group("text")) >= 1 and _meaningful(m.group("text")):
        yield Row("code_other", m.group("bit"), _clean(m.group("text")), text, page, "bit")
        return
    m = _CODE_WORD.match(text)
    if m:
        code = m.group("code") or m.group("code2")
        meaning = m.group("text") or m.group("text2")
        if meaning and _words(meaning) >= 1:
            yield Row("error_code", code, _clean(meaning), text, page, (m.group("kw") or m.group("kw2")).lower())
        return
    if fault_page:
        m = _TABLE_CODE.match(text) or _LETTER_CODE.match(text) or _TRAILING_CODE.match(text)
        meaning = m.group("text") if m else ""
        if (
            m
            and _words(meaning) >= 2
            and not _VALUE.search(meaning)
            and _meaningful(meaning)
            and (_FAULTY.search(meaning) and not _NOT_FAULT.search(meaning))
        ):
            yield Row("error_code", m.group("code").lstrip("0") or "0", _clean(meaning), text, page, "table")
            return
    m = _SHORT_HEX.match(text)
    if m and _words(m.group("text")) >= 2 and _meaningful(m.group("text")):
        yield Row("code_other", m.group("code"), _clean(m.group("text")), text, page, "hex")
        return
    m = _DISPLAY_ERROR.match(text)
    if m and m.group("code").split()[-1] not in ("NO", "ERROR", "NOT"):
        yield Row("error_code", m.group("code"), _clean(m.group("text")), text, page, "display")
        return
    m = _MENU.match(text) if menu_page else None
    key = m.group("key").split()[0] if m else ""
    if m and _words(m.group("text")) >= 4 and fold(key) not in _GENERIC_LABEL and key not in ("ERROR", "FAULT"):
        yield Row("code_other", m.group("key"), _clean(m.group("text")), text, page, "menu")
        return
    led = _led_row(text)
    if led:
        yield Row("code_other", led[0], led[1], text, page, "led")
        return
    cells = [c.strip() for c in text.split(" | ") if c.strip()]
    if len(cells) < 2:
        return
    address = next((c for i, c in enumerate(cells[:2]) if _is_address(c, i, cells)), None)
    if address:
        rest = [c for c in cells if c != address]
        ident = next(
            (
                c
                for c in rest[:2]
                if (_IDENT.match(c) and not c.isupper()) or (c.isupper() and 4 <= len(c) <= 10 and _IDENT.match(c))
            ),
            None,
        )
        label = next((c for c in rest[:2] if _label_ok(c)), None)
        if ident and ident.lower() not in _GENERIC_LABEL:
            yield Row("code_other", ident, address, text, page, "ident")
        elif label:
            yield Row("register", _clean(label), address, text, page, "address")
        return
    label, value = cells[0], " | ".join(cells[1:3])
    code_like = "{" in value or value.lower().count("0x") > 1
    if _label_ok(label) and _VALUE.search(value) and not _VALUE.search(label) and not code_like:
        yield Row("spec", _clean(label), value, text, page)


def _led_row(text: str) -> tuple[str, str] | None:
    """(blink pattern, meaning) of an LED table row: "Geen aarde | Kort aan, kort uit, 3x kort aan"."""
    parts = [p.strip(" •o\uf06c") for p in re.split(r" \| |: ", text) if p.strip(" •o\uf06c")]
    if len(parts) != 2:
        return None
    blink = [p for p in parts if _BLINK.search(p)]
    if len(blink) != 1:
        return None
    pattern = blink[0]
    meaning = parts[1] if parts[0] == pattern else parts[0]
    prose = re.search(r"\b(the|this|that|is|are|to|when|during|indicate|series)\b", pattern, re.I)
    if _words(meaning) < 2 or not 2 <= _words(pattern) <= 8 or prose or not _meaningful(meaning):
        return None
    return _clean(pattern), _clean(meaning)


def _is_address(cell: str, index: int, cells: Sequence[str]) -> bool:
    """A register address: the row's first cell (or the second after a row number), not a value."""
    if not _ADDRESS.match(cell) or _VALUE.search(cell):
        return False
    if index == 0:
        return True
    explicit = cell.lower().startswith("0x") or cell.endswith("H") or bool(re.search(r"[A-F]", cell))
    return explicit and (cells[0].isdigit() or _label_ok(cells[0]))


def _heading_row(text: str, following: Sequence[str], page: int) -> Row | None:
    m = _HEADING.match(text)
    if not m or text.endswith(".") or "…" in text or ".." in text or re.search(r"\d\s*/\s*\d", text):
        return None
    title = _clean(m.group(2))
    if _words(title) < 2 or not re.match(r"[^\W\d_]{3,}", title) or sum(c.isdigit() for c in title) > 3:
        return None
    body = next(
        (ln for ln in following if len(ln) >= 35 and "|" not in ln and _words(ln) >= 5 and not _HEADING.match(ln)), None
    )
    if body is None or len(body) > MAX_ANSWER:
        return None
    cls = "procedure" if _PROCEDURE.search(title) else "heading"
    return Row(cls, title, body, body, page)


def _meaningful(text: str) -> bool:
    first = fold(text).split()[0].strip(":;,.") if text.split() else ""
    return first not in _GENERIC_LABEL and not re.match(r"bit\s?\d", fold(text))


def _label_ok(cell: str) -> bool:
    label = _clean(cell)
    letters = sum(c.isalpha() for c in label)
    return (
        letters >= 6
        and not re.match(r"\d", cell.strip())
        and ":" not in label
        and letters >= 0.6 * len(label.replace(" ", ""))
        and _words(label) <= 7
        and fold(label) not in _GENERIC_LABEL
        and not fold(label).startswith(("reserved", "reserve", "undefine"))
        and not _cjk(label)
    )


def _clean(text: str) -> str:
    text = re.sub(r"^[^\w(<+\-]+", "", text.strip())  # bullets, private-use glyphs
    text = re.sub(r"^(o|\d{1,3}[.)])\s+", "", text)
    return re.sub(r"\s+", " ", text).strip(" :;,.-|")


def _words(text: str) -> int:
    return len(re.findall(r"[^\W\d_]{2,}", text))


def _cjk(text: str) -> bool:
    return any("\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" for c in text)


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def _running(manual: Manual) -> set[str]:
    counts = Counter(s for page in manual.pages for s in {_shape(ln) for ln in page})
    return {s for s, n in counts.items() if n >= 3}


# ---------------------------------------------------------------- gold pages


def _key_pattern(key: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(fold(key)) + r"(?![\w])")


def gold_pages(row: Row, manual: Manual) -> tuple[int, ...] | None:
    """Pages of the manual where the answer line stands; None when the key is printed
    on more pages than that (ambiguous)."""
    line = fold(row.line)
    pages = tuple(n for n, text in enumerate(manual.folded, start=1) if line in text)
    if not pages or len(pages) > 3:
        return None
    if row.cls in ("register", "spec", "procedure", "heading") or row.sub == "ident":
        pattern = _key_pattern(row.key)
        keyed = {n for n, text in enumerate(manual.folded, start=1) if pattern.search(text)}
        if len(keyed - set(pages)) > 1:
            return None
    return pages


def _printed_elsewhere(pattern: str, manual: Manual, pages: tuple[int, ...], at_least: int = 1) -> bool:
    found = re.compile(r"(?<![\w])" + pattern + r"(?![\w])")
    return sum(1 for n, text in enumerate(manual.folded, start=1) if n not in pages and found.search(text)) >= at_least


def in_sibling(row: Row, manual: Manual, manuals: Sequence[Manual]) -> bool:
    pattern = _key_pattern(row.key if row.cls not in ("error_code", "code_other") or row.sub == "ident" else row.detail)
    return any(
        m.file != manual.file and m.maker == manual.maker and any(pattern.search(t) for t in m.folded) for m in manuals
    )


# ---------------------------------------------------------------- phrasing


def translate(text: str) -> tuple[str, int]:
    """English/Dutch words → German where the term table knows them; count of words changed."""
    changed = 0
    out: list[str] = []
    for word in re.findall(r"[^\W_]+|[\W_]+", text):
        german = TERMS.get(word.lower())
        if word.lower() in _FUNCTION_WORDS:
            out.append("")
        elif german:
            out.append(german)
            changed += 1
        else:
            out.append(word)
    return re.sub(r"\s{2,}", " ", "".join(out)).strip(), changed


def _shorten(label: str, rng: random.Random) -> str:
    """Drop one inner word of a long label, as a technician would."""
    words = label.split()
    if len(words) >= 4 and rng.random() < 0.5:
        del words[rng.randrange(1, len(words) - 1)]
    return " ".join(words)


def phrase(row: Row, name: str, lang: str, page_lang: str, rng: random.Random) -> tuple[str, str]:
    """(question, kind) for a row in language ``lang``."""
    kind = row.cls
    label = _shorten(row.key, rng)
    if lang == "de" and page_lang != "de" and row.cls in ("register", "spec", "procedure", "heading"):
        translated, changed = translate(label)
        if changed:
            label, kind = translated, "cross_lang"
    if row.cls == "error_code":
        code = row.key
        word = {
            "de": rng.choice(("Fehler", "Error", "Fehlercode", "Störung")),
            "en": rng.choice(("error", "fault code", "Error")),
            "nl": "foutcode",
        }[lang]
        if row.sub == "display":
            word, code = "", code.title() if rng.random() < 0.3 else code
        if row.sub in ("warning", "warn") and lang == "de":
            word = "Warnung"
        if row.sub == "table" and re.match(r"[A-Za-z]", code):
            word = ""
        templates = {
            "de": (
                f"Was bedeutet {word} {code} beim {name}?",
                f"{name} zeigt {word} {code}, was heißt das",
                f"{word} {code} am {name} bedeutung?",
                f"{name} {word} {code}?",
            ),
            "en": (
                f"What does {word} {code} mean on the {name}?",
                f"{name} shows {word} {code}",
                f"{name} {word} {code} meaning?",
            ),
            "nl": (f"Wat betekent {word} {code} bij de {name}?",),
        }
        return rng.choice(templates[lang]).replace("  ", " "), kind
    if row.cls == "code_other":
        if row.sub == "led":
            pattern = translate(row.key)[0] if lang == "de" else row.key
            pattern = pattern[0].lower() + pattern[1:]
            templates = {
                "de": (
                    f"{name} LED {pattern}, was heißt das?",
                    f"Die LED am {name} zeigt {pattern}, was bedeutet das?",
                ),
                "en": (f"{name} LED {pattern}, what does it mean?",),
                "nl": (f"{name} led {pattern}, wat betekent dat?",),
            }
        elif row.sub == "menu":
            key = row.key if rng.random() < 0.7 else row.key.lower()
            templates = {
                "de": (
                    f"Was macht die Einstellung {key} beim {name}?",
                    f"{name} Menüpunkt {key}, wofür ist der?",
                    f"{name} {key} im Menü was bedeutet das",
                ),
                "en": (f"What does the {key} setting do on the {name}?", f"{name} menu {key}?"),
                "nl": (f"Wat doet de instelling {key} bij de {name}?",),
            }
        elif row.sub == "bitname":
            meaning = _shorten(row.detail, rng)
            templates = {
                "de": (f"Welches Bit steht beim {name} für {meaning}?", f"{name} {meaning} welches bit?"),
                "en": (f"Which bit means {meaning} on the {name}?",),
                "nl": (f"Welk bit betekent {meaning} bij de {name}?",),
            }
        elif row.sub == "bit":
            meaning = _shorten(row.detail, rng)
            templates = {
                "de": (
                    f"{name}: im Fehlerregister ist Bit {row.key} gesetzt, was heißt das?",
                    f"{name} bit {row.key} gesetzt was bedeutet das",
                    f"Welches Bit steht beim {name} für {meaning}?",
                ),
                "en": (
                    f"{name} alarm bit {row.key} is set, what does it mean?",
                    f"Which bit means {meaning} on the {name}?",
                ),
                "nl": (f"Wat betekent bit {row.key} bij de {name}?",),
            }
        elif row.sub == "hex":
            code = row.key
            templates = {
                "de": (
                    f"{name} antwortet mit {code}, was bedeutet das?",
                    f"Was heißt Rückgabewert {code} beim {name}?",
                    f"{name} {code} bedeutung",
                ),
                "en": (f"{name} returns {code}, what does that mean?", f"meaning of {code} on {name}"),
                "nl": (f"Wat betekent {code} bij de {name}?",),
            }
        else:  # ident: a register / variable name → its address
            templates = {
                "de": (
                    f"Welche Adresse hat {row.key} beim {name}?",
                    f"{name} register {row.key} wo liegt das",
                    f"Was ist {row.key} beim {name}?",
                ),
                "en": (f"Register address of {row.key} on the {name}?", f"{name} where is {row.key}"),
                "nl": (f"Welk adres heeft {row.key} bij de {name}?",),
            }
        return rng.choice(templates[lang]), kind
    if row.cls == "register":
        templates = {
            "de": (
                f"Welche Modbus-Adresse hat {label} beim {name}?",
                f"{name} register für {label}?",
                f"Wo lese ich {label} beim {name} aus?",
            ),
            "en": (f"Which modbus register holds {label} on the {name}?", f"{name} {label} register address"),
            "nl": (f"Welk modbus register is {label} bij de {name}?",),
        }
        return rng.choice(templates[lang]), kind
    if row.cls == "spec":
        templates = {
            "de": (
                f"Wie hoch ist {label} beim {name}?",
                f"{name} {label} welcher Wert?",
                f"Welchen Wert hat {label} beim {name}?",
            ),
            "en": (f"What is the {label} of the {name}?", f"{name} {label}?"),
            "nl": (f"Wat is de {label} van de {name}?",),
        }
        return rng.choice(templates[lang]), kind
    # procedure / heading: the section title, reworded
    topic = label[0].lower() + label[1:] if label[:2].istitle() else label
    if row.cls == "procedure":
        templates = {
            "de": (
                f"{name}: wie geht das mit {topic}?",
                f"Wie mache ich beim {name} {topic}?",
                f"{name} {topic}, wie vorgehen?",
            ),
            "en": (f"How do I do the {topic} on the {name}?", f"{name}: {topic}, how?"),
            "nl": (f"Hoe werkt {topic} bij de {name}?",),
        }
    else:
        templates = {
            "de": (
                f"Was steht beim {name} zu {topic}?",
                f"{name} {topic}, was muss ich wissen?",
                f"Infos zu {topic} beim {name}?",
            ),
            "en": (f"What does the {name} manual say about {topic}?", f"{name} {topic}?"),
            "nl": (f"Wat zegt de handleiding van de {name} over {topic}?",),
        }
    return rng.choice(templates[lang]), kind


def noisy(question: str, rng: random.Random) -> str:
    """Phone style: lower case, no punctuation, fillers, a typo."""
    text = question.lower().replace("?", "").replace(",", "").replace(":", "")
    words = text.split()
    # a typo in one longer word
    long_words = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
    if long_words:
        i = rng.choice(long_words)
        word = words[i]
        for a, b in TYPO_PAIRS:
            if a in word:
                word = word.replace(a, b, 1)
                break
        else:
            j = rng.randrange(1, len(word) - 2)
            word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        words[i] = word
    text = " ".join(words)
    if rng.random() < 0.7:
        text = f"{rng.choice(FILLERS_DE)} {text}"
    if rng.random() < 0.6:
        text = f"{text} {rng.choice(TAILS_DE)}"
    return text.replace("heißt", "heisst").replace("  ", " ")


# ---------------------------------------------------------------- assembly


def _h(text: str) -> float:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_of_page(file: str, page: int) -> str:
    return "heldout" if _h(f"{file}#{(page - 1) // GROUP_PAGES}") < HELDOUT_SHARE else "tune"


def answerable(manuals: Sequence[Manual], rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for manual in manuals:
        distinct, loose = NAMES.get(manual.file, ((manual.maker,), (manual.maker,)))
        rows = extract_rows(manual)
        seen: set[tuple[str, str]] = set()
        by_class: dict[str, list[tuple[Row, tuple[int, ...], bool]]] = defaultdict(list)
        for row in rows:
            ident = (row.cls, fold(row.key), fold(row.detail) if row.sub == "bit" else "")
            if ident in seen:
                continue
            seen.add(ident)
            pages = gold_pages(row, manual)
            if pages is None:
                continue
            if row.sub == "hex" and _printed_elsewhere(re.escape(fold(row.key)), manual, pages, at_least=3):
                continue  # a short hex code that many tables of the manual use
            if row.sub == "bit" and _printed_elsewhere(rf"bit\s?0*{row.key}", manual, pages):
                # the bit number alone names many bitfields of this manual: ask by its meaning
                if _printed_elsewhere(re.escape(fold(row.detail)), manual, pages):
                    continue
                row = replace(row, sub="bitname")
            if len({split_of_page(manual.file, p) for p in pages}) > 1:
                continue
            by_class[row.cls].append((row, pages, in_sibling(row, manual, manuals)))
        chosen: list[tuple[Row, tuple[int, ...], bool]] = []
        for cls in sorted(by_class):
            candidates = by_class[cls]
            rng.shuffle(candidates)
            chosen.extend(candidates[: PER_CLASS_MANUAL + (4 if cls == "error_code" else 0)])
        rng.shuffle(chosen)
        for row, pages, sibling in chosen[:PER_MANUAL]:
            lang = _question_language(manual.language, rng)
            name = rng.choice(distinct if sibling or rng.random() < 0.6 else loose)
            question, kind = phrase(row, name, lang, manual.language, rng)
            if sibling:
                kind = "sibling"
            elif lang == "de" and rng.random() < 0.18:
                question, kind = noisy(question, rng), "noisy"
            items.append(Item(kind, question, row.line, manual.file, pages, lang, manual.language, row.cls))
    return items


def _question_language(page_language: str, rng: random.Random) -> str:
    roll = rng.random()
    if page_language == "nl":
        return "nl" if roll < 0.4 else ("de" if roll < 0.85 else "en")
    if page_language == "de":
        return "de" if roll < 0.85 else "en"
    return "de" if roll < 0.62 else ("en" if roll < 0.95 else "nl")


def unanswerable(manuals: Sequence[Manual], count: int, rng: random.Random) -> list[Item]:
    items: list[Item] = []
    blocks: list[tuple[str, str]] = []
    for device, _brand in UNCOVERED:
        topic = rng.choice(UNCOVERED_TOPICS_DE)
        blocks.append((f"{device} {topic.format(n=rng.randrange(100, 3999))}", "de"))
        topic_en = rng.choice(UNCOVERED_TOPICS_EN)
        blocks.append((f"{device} {topic_en.format(n=rng.randrange(10, 999))}", "en"))
    makers: dict[str, list[Manual]] = defaultdict(list)
    for manual in manuals:
        makers[manual.maker].append(manual)
    for maker in sorted(makers):
        group = makers[maker]
        for template, absent in ABSENT_TOPICS:
            if any(
                re.search(r"(?<![\w])" + re.escape(word), text) for m in group for text in m.folded for word in absent
            ):
                continue
            name = NAMES.get(group[0].file, ((maker,), ()))[0][0]
            blocks.append((template.format(name=name), "de"))
    rng.shuffle(blocks)
    off = list(OFF_TOPIC)
    picked = blocks[: max(count - len(off), 0)] + off
    for question, lang in picked:
        if lang == "de" and rng.random() < 0.3:
            question = noisy(question, rng)
        items.append(Item("unanswerable", question, NOT_FOUND, None, (), lang, "", "unanswerable"))
    return items


def generate(manuals: Sequence[Manual], seed: int = SEED) -> dict[str, list[dict[str, object]]]:
    """Both splits, record dicts in file order, from parsed manuals (``load_manuals``): the
    held-out split drawn with ``seed``, the tune split with ``seed`` and the next
    ``TUNE_DRAWS - 1`` seeds (other rows and phrasings of the same pages), so that the
    weights are chosen on more questions than one draw gives."""
    draws = [draw(manuals, seed + n) for n in range(TUNE_DRAWS)]
    seen: set[str] = set()
    splits: dict[str, list[dict[str, object]]] = {"tune": [], "heldout": draws[0]["heldout"]}
    for drawn in draws:
        for record in drawn["tune"]:
            folded = fold(str(record["question"]))
            if folded not in seen:
                seen.add(folded)
                splits["tune"].append(record)
    for split, records in splits.items():
        for number, record in enumerate(records, start=1):
            record["id"] = f"{'t' if split == 'tune' else 'h'}{number:03d}"
    return splits


def draw(manuals: Sequence[Manual], seed: int) -> dict[str, list[dict[str, object]]]:
    """One draw of both splits with ``seed``."""
    rng = random.Random(seed)
    items = answerable(manuals, rng)
    items += unanswerable(manuals, round(len(items) * UNANSWERABLE_SHARE / (1 - UNANSWERABLE_SHARE)), rng)
    seen: set[str] = set()
    splits: dict[str, list[dict[str, object]]] = {"tune": [], "heldout": []}
    for item in items:
        if fold(item.question) in seen:
            continue
        seen.add(fold(item.question))
        split = (
            split_of_page(item.file, item.pages[0])
            if item.file
            else ("heldout" if _h(item.question) < HELDOUT_SHARE else "tune")
        )
        splits[split].append(_record(item))
    return splits


def _record(item: Item) -> dict[str, object]:
    return {
        "id": "",
        "question": item.question,
        "answer": item.answer,
        "file": item.file,
        "pages": list(item.pages),
        "kind": item.kind,
        "lang": item.lang,
        "page_lang": item.page_lang,
        "source": item.source,
    }


def write(splits: dict[str, list[dict[str, object]]], out_dir: Path) -> dict[str, Path]:
    paths = {}
    for split, records in splits.items():
        path = out_dir / f"qa-gen-{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        paths[split] = path
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdfs", type=Path, default=CORPUS_PDFS)
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if not args.pdfs.is_dir():
        print(f"{args.pdfs}: no such folder", file=sys.stderr)
        return 2
    splits = generate(load_manuals(args.pdfs), args.seed)
    paths = write(splits, args.out_dir)
    for split, records in splits.items():
        kinds = Counter(str(r["kind"]) for r in records)
        print(f"{paths[split]}: {len(records)} questions  " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
