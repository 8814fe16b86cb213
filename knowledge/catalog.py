"""Who made a manual and which products it covers.

Derived from the PDF itself (file name, metadata title, first pages) with a list of
the trade's brands, and overridden by an optional ``catalog.toml`` in the manuals
folder where an admin names manufacturer, products and aliases::

    [[manual]]
    file = "PI30MAX_protocol.pdf"
    title = "Voltronic Axpert MAX Kommunikationsprotokoll"
    manufacturer = "Voltronic Power"
    products = ["Axpert MAX"]
    aliases = ["Axpert", "MPP Solar"]
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import CatalogInvalid
from knowledge.text import fold

CATALOG_FILE = "catalog.toml"

# Canonical brand → folded aliases as they appear in file names, titles and questions.
# Brands without manuals in the index matter too: a question about them is answered
# with "not in the manuals" instead of the nearest other brand's page.
BRANDS: dict[str, tuple[str, ...]] = {
    "Growatt": ("growatt",),
    "SMA": ("sma", "sunny boy", "sunny island", "sunny tripower", "sunny home manager"),
    "Victron Energy": ("victron", "ve.direct", "ve.can", "smartsolar", "bluesolar", "multiplus", "quattro"),
    "Pylontech": ("pylontech", "pylon"),
    "SolaX Power": ("solax", "solaxpower"),
    "GoodWe": ("goodwe",),
    "Deye": ("deye",),
    "KOSTAL": ("kostal", "plenticore", "piko"),
    "SAJ": ("saj",),
    "SRNE": ("srne",),
    "Seplos": ("seplos",),
    "JK BMS": ("jikong", "jk bms", "jk-bms", "jkbms", "jk smart bms"),
    "JNGE": ("jnge",),
    "APsystems": ("apsystems", "ez1"),
    "Voltronic Power": ("voltronic", "axpert", "mpp solar", "mppsolar", "pi30"),
    "Alpha ESS": ("alphaess", "alpha ess", "alpha-ess"),
    "SmartEVSE": ("smartevse", "smart evse", "stegen"),
    "Edge Technologies": ("edge technologies", "edge-tech", "slimladen"),
    "EVSE-WiFi": ("evse-wifi", "evse wifi", "simpleevse"),
    "BMS-Link": ("bms-link", "bms link"),
    # frequent in the field, whether or not their manuals are indexed
    "Fronius": ("fronius", "symo", "primo", "gen24"),
    "Huawei": ("huawei", "sun2000", "luna2000", "fusionsolar"),
    "SolarEdge": ("solaredge",),
    "Enphase": ("enphase", "iq7", "iq8"),
    "Sungrow": ("sungrow",),
    "Hoymiles": ("hoymiles",),
    "BYD": ("byd", "battery-box", "battery box"),
    "KEBA": ("keba", "kecontact"),
    "go-e": ("go-e", "goe charger", "go e charger"),
    "Tesla": ("tesla", "powerwall"),
    "sonnen": ("sonnen", "sonnenbatterie"),
    "Senec": ("senec",),
    "E3/DC": ("e3dc", "e3/dc"),
    "Varta": ("varta",),
    "LG": ("lg chem", "lg resu", "resu"),
    "Kaco": ("kaco",),
    "Sofar": ("sofar", "sofarsolar"),
    "Zaptec": ("zaptec",),
    "Wallbox": ("wallbox pulsar", "pulsar plus"),
    "ABL": ("abl emh",),
    "Mennekes": ("mennekes", "amtron"),
    "Webasto": ("webasto",),
    "Easee": ("easee",),
    "Sigenergy": ("sigenergy", "sigenstor"),
    "Anker": ("anker solix", "solix"),
    "EcoFlow": ("ecoflow",),
    "Zendure": ("zendure",),
    "Tigo": ("tigo",),
    "Fox ESS": ("fox ess", "foxess"),
    "Solis": ("solis", "ginlong"),
    "RCT Power": ("rct power",),
    "Solarwatt": ("solarwatt",),
    "Fenecon": ("fenecon",),
    "Sunways": ("sunways",),
    "Delta": ("delta electronics",),
    "Studer": ("studer", "xtender"),
    "Steca": ("steca",),
    "OutBack Power": ("outback power",),
    "Morningstar": ("morningstar",),
    "EPEVER": ("epever", "epsolar"),
    "Renogy": ("renogy",),
    "Daly": ("daly bms", "dalybms"),
    "REC": ("rec bms",),
    "Dyness": ("dyness",),
    "Alfen": ("alfen",),
    "Heidelberg": ("heidelberg energy control", "heidelberg wallbox"),
    "Compleo": ("compleo",),
    "myenergi": ("myenergi", "zappi", "eddi"),
    "openWB": ("openwb",),
    "NRGkick": ("nrgkick",),
    "cFos": ("cfos",),
    "Ohme": ("ohme",),
}

_MODEL = re.compile(r"\b[A-Za-z]{1,6}[-]?\d{1,5}[A-Za-z0-9\-]*\b")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    file: str
    title: str = ""
    manufacturer: str = ""
    products: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


def load_catalog(manuals_dir: Path) -> dict[str, CatalogEntry]:
    """Entries of ``catalog.toml`` by file name; no file → no entries."""
    path = manuals_dir / CATALOG_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        entries = [
            CatalogEntry(
                file=str(item["file"]),
                title=str(item.get("title", "")),
                manufacturer=str(item.get("manufacturer", "")),
                products=tuple(str(p) for p in item.get("products", ())),
                aliases=tuple(str(a) for a in item.get("aliases", ())),
            )
            for item in data.get("manual", [])
        ]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise CatalogInvalid(f"{path}: cannot read the catalog ({err})") from err
    return {entry.file: entry for entry in entries}


def brands_in(text: str) -> list[str]:
    """Canonical brands whose aliases occur in ``text`` (word-bounded, folded)."""
    folded = f" {_spaced(text)} "
    return [brand for brand, aliases in BRANDS.items() if any(f" {a} " in folded for a in aliases)]


def detect_manufacturer(file_name: str, title: str, sample: str) -> str:
    """The brand named in the file name or title, else the one most named in ``sample``."""
    for source in (file_name.replace("_", " "), title):
        found = brands_in(source)
        if found:
            return found[0]
    counts: Counter[str] = Counter()
    folded = f" {_spaced(sample)} "
    for brand, aliases in BRANDS.items():
        counts[brand] = sum(folded.count(f" {a} ") for a in aliases)
    brand, count = counts.most_common(1)[0] if counts else ("", 0)
    return brand if count >= 2 else ""


def model_names(text: str) -> list[str]:
    """Model-like words ("MIC600TL-X", "SMILE-T30", "X3") in a file name or title."""
    seen: dict[str, None] = {}
    for match in _MODEL.finditer(text.replace("_", " ")):
        word = match.group(0).strip("-")
        if not re.fullmatch(r"[Vv]\d+(\.\d+)*|\d+", word) and len(word) >= 2:
            seen.setdefault(word, None)
    return list(seen)


def _spaced(text: str) -> str:
    """Folded text with punctuation (except - / .) turned into single spaces."""
    return " ".join(re.sub(r"[^\w\-/.]+", " ", fold(text)).replace("_", " ").split()).replace(". ", " ")
