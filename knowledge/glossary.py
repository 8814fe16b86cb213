"""German ↔ English vocabulary of the trade, for queries that cross languages.

About half of the technicians' questions are German, about English manuals. The
dense embedder bridges languages only roughly; this small table lets the lexical
side do it too. Keys are folded German (lower case, no umlauts, "ue" → "u"); a
key also matches as part of a compound ("Nennfehlerstrom" contains "fehlerstrom").
Extend it with terms your manuals use; keep entries specific to the trade.
"""

from __future__ import annotations

from functools import lru_cache

_DE_EN: dict[str, str] = {
    # devices and parts
    "wechselrichter": "inverter",
    "hybridwechselrichter": "hybrid inverter",
    "laderegler": "charge controller",
    "ladegerat": "charger",
    "ladestation": "charging station charger evse",
    "wallbox": "charger evse charging station",
    "batterie": "battery",
    "akku": "battery",
    "speicher": "storage battery",
    "zelle": "cell",
    "zellen": "cells",
    "modul": "module",
    "module": "modules",
    "stecker": "connector plug",
    "klemme": "terminal clamp",
    "klemmen": "terminals",
    "kabel": "cable",
    "leitung": "cable line",
    "sicherung": "fuse",
    "schalter": "switch",
    "trennschalter": "disconnect switch isolator",
    "lufter": "fan",
    "display": "display",
    "anzeige": "display indicator",
    "zahler": "meter",
    "stromzahler": "energy meter",
    "messgerat": "meter",
    "sensor": "sensor",
    "relais": "relay",
    "platine": "board pcb",
    "schnittstelle": "interface port",
    "anschluss": "connection terminal port",
    "hausanschluss": "mains supply connection",
    "abschlusswiderstand": "termination resistor",
    "widerstand": "resistor resistance",
    "dip": "dip switch",
    "gateway": "gateway",
    "funk": "wireless radio",
    "karte": "card",
    "karten": "cards",
    # electrical quantities
    "spannung": "voltage",
    "uberspannung": "overvoltage over voltage",
    "unterspannung": "undervoltage under voltage",
    "eingangsspannung": "input voltage",
    "strom": "current",
    "uberstrom": "overcurrent over current",
    "fehlerstrom": "residual current leakage current",
    "ableitstrom": "leakage current",
    "kurzschluss": "short circuit",
    "leistung": "power",
    "nennleistung": "rated power",
    "frequenz": "frequency",
    "temperatur": "temperature",
    "ubertemperatur": "over temperature overtemperature uberhitzung",
    "uberhitzung": "over temperature overheating ubertemperatur",
    "lagertemperatur": "storage temperature",
    "isolation": "isolation insulation",
    "isolationsfehler": "isolation fault insulation",
    "isolationswiderstand": "isolation resistance",
    "erdschluss": "ground fault earth fault",
    "erdung": "grounding earthing",
    "kapazitat": "capacity",
    "ladezustand": "state of charge soc",
    "ladestrom": "charge current charging current",
    "entladestrom": "discharge current",
    "entladung": "discharge",
    "tiefentladung": "over discharge deep discharge",
    "uberladung": "overcharge",
    "ladung": "charge charging",
    "laden": "charge charging",
    "netz": "grid utility mains",
    "netzausfall": "grid loss utility loss grid lost",
    "netzverlust": "grid lost grid loss",
    "einspeisung": "feed in export",
    "phase": "phase",
    "gleichstrom": "dc",
    "wechselstrom": "ac",
    "querschnitt": "cross section",
    "kabelquerschnitt": "cable cross section",
    "drehmoment": "torque",
    "anzugsdrehmoment": "tightening torque",
    "schutzart": "protection degree ip rating",
    "schutzklasse": "protection class",
    "wirkungsgrad": "efficiency",
    "gewicht": "weight",
    "abmessungen": "dimensions",
    # communication and settings
    "baudrate": "baud rate",
    "adresse": "address",
    "passwort": "password",
    "kennwort": "password",
    "einstellung": "setting",
    "einstellungen": "settings",
    "konfiguration": "configuration",
    "parameter": "parameter",
    "register": "register",
    "kommunikation": "communication",
    "protokoll": "protocol",
    "standard": "default voreingestellt werkseinstellung",
    "voreingestellt": "default",
    "werkseinstellung": "factory default factory settings restore",
    "werkseinstellungen": "factory default factory settings restore",
    "vorladen": "precharge pre charge",
    "vorladung": "precharge pre charge",
    "vorladewiderstand": "precharge resistor pre charge",
    "vorladezeit": "precharge time pre charge",
    "inselwechselrichter": "off grid inverter island battery inverter",
    "insel": "island off grid",
    "inselbetrieb": "off grid island operation",
    "taste": "button key",
    "tasten": "buttons keys",
    "drucken": "press",
    "gleichzeitig": "simultaneously",
    "verpolung": "polarity reversed reverse polarity",
    "polaritat": "polarity",
    "ladeschlussspannung": "charge voltage end of charge voltage absorption float",
    "ladespannung": "charge voltage charging voltage",
    "konstantspannung": "constant voltage absorption bulk",
    "erhaltungsladung": "float charge",
    "zellspannung": "cell voltage",
    "registeradresse": "register address",
    "ausgleich": "balance balancing",
    "balancer": "balancer balancing",
    "bytereihenfolge": "byte order endian",
    "firmware": "firmware",
    "aktualisieren": "update upgrade",
    "update": "update upgrade",
    "lastmanagement": "load balancing",
    "lastausgleich": "load balancing",
    "abfrage": "query read request",
    "antwort": "response reply",
    "befehl": "command",
    "prufsumme": "checksum crc",
    # faults and procedures
    "fehler": "error fault failure",
    "fehlercode": "error code fault code",
    "storung": "fault failure malfunction",
    "warnung": "warning alarm",
    "alarm": "alarm",
    "schutz": "protection",
    "abschaltung": "shutdown",
    "neustart": "restart reboot",
    "zurucksetzen": "reset restore",
    "quittieren": "reset acknowledge",
    "wartung": "maintenance",
    "reinigung": "cleaning",
    "montage": "installation mounting",
    "installation": "installation",
    "inbetriebnahme": "commissioning start up",
    "anleitung": "manual instructions",
    "handbuch": "manual",
    "bedeutung": "meaning",
    "ursache": "cause",
    "abhilfe": "solution remedy",
    "hochfahren": "start up",
    "abstand": "distance clearance",
    "max": "maximum",
    "maximal": "maximum",
    "minimal": "minimum",
    "wieviele": "how many maximum",
    "speichern": "store save",
    "gespeichert": "stored",
    "erkennen": "detect",
    "gemeinsam": "share shared",
    "teilen": "share",
    "draussen": "outdoor",
    "aussen": "outdoor",
    "innen": "indoor",
    "feuchtigkeit": "humidity",
    "lagern": "storage store",
    "betrieb": "operation operating",
    "betriebstemperatur": "operating temperature",
    "bit": "bit",
}

# Reverse direction for English questions about German manuals. A particle of a
# two-word translation ("over" of "over voltage") does not translate on its own.
_PARTICLES = frozenset("over under out off down deep".split())
_EN_DE: dict[str, list[str]] = {}
for _de, _en in _DE_EN.items():
    for _word in _en.split():
        if len(_word) > 2 and _word not in _PARTICLES:
            _EN_DE.setdefault(_word, []).append(_de)

# Compound parts that are worth indexing separately in German text (≥ 5 letters).
GLOSSARY_PARTS: tuple[str, ...] = tuple(sorted(k for k in _DE_EN if len(k) >= 5))


@lru_cache(maxsize=50_000)
def expand_term(word: str) -> tuple[str, ...]:
    """Translations for a folded word: exact entries, then compound heads/modifiers."""
    found: list[str] = []
    if word in _DE_EN:
        found.append(_DE_EN[word])
    elif len(word) >= 8:
        for part in GLOSSARY_PARTS:
            if part != word and (word.endswith(part) or word.startswith(part)):
                found.append(_DE_EN[part])
    found.extend(_EN_DE.get(word, ()))
    return tuple(found)
