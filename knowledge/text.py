"""Text analysis shared by indexing and querying.

Both sides of the full-text index go through ``index_terms`` / ``query_terms`` so
that what a technician types ("growatt fehler 405", "uberhitzung", "E-013") meets
what the manual prints ("Error: 405", "Überhitzung", "E013"). LanceDB's FTS then
only splits on white space: the analysis lives here, testable and language-aware.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

from knowledge.glossary import GLOSSARY_PARTS, expand_term

_STEMMERS = {"de": "german", "en": "english", "nl": "dutch"}

STOPWORDS = frozenset(
    """
    a an and are as at be by for from has have how i if in into is it its of on or
    that the this to was what when where which who why will with you your do does
    could should my me we our there these those than then
    der die das den dem des ein eine einer eines einem einen und oder ist sind
    wird werden wie was wo wer wann warum welche welcher welches welchen mit von
    zu zum zur im in am an auf aus bei für fuer für ich du er sie es wir ihr man
    mein meine nicht kein keine auch noch nur so da dann denn doch mal bitte
    hat haben habe kann können koennen muss muessen müssen soll sollte darf
    heißt heisst bedeutet bedeutung eigentlich gibt geht mach machen mache ob
    beim vom vor nach über ueber unter bis seit als wenn weil dass daß ja nein
    de het een en van is op te dat voor niet met zijn
    """.split()
)

# Words that only frame a technician's question — the way people talk on a phone, not
# what manuals print; dropping them keeps BM25 and the verdict on content.
QUESTION_NOISE = frozenset(
    """
    zeigt zeigen meldet meldung steht hilfe problem frage los laut
    welchem wieso weshalb woran womit wofur wohin woher wieviel wieviele viel viele
    brauch brauche brauchst braucht gibts aufn nen nem ne rum seh sehe siehst kriege krieg
    bekomm bekomme tun tut jetzt grad gerade genau halt schon immer einfach irgendwie
    weiss weisst wisst sag sagt sagen erklar erklare erklaren hallo moin servus danke
    leute kollegen kunde kunden hey hi thanks thx please pls know tell need get got guys
    anyone someone put show shows mean means meaning over under about via through after
    before between during without within
    wat hoe welke waar wanneer moet ik je
    """.split()
)

_DE_MARKERS = frozenset("der die das und ist nicht mit sie den von wird für werden auf eine".split())
_EN_MARKERS = frozenset("the and is of to with for are be this not on by as".split())
_NL_MARKERS = frozenset("de het een en van is op te dat voor niet met zijn worden".split())

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# "Error: 405", "Fehler 31", "ERR E101", "Warning202", "Fehlercode 27", "Alarm 2001"
_KEYWORD_CODE = re.compile(
    r"\b(?:error|err|fehler|fehlercode|fault|warning|warnung|alarm|störung|stoerung|"
    r"code|statuscode|status)\s*(?:code)?\s*[:#.\-]?\s*([a-z]{0,2})[\- ]?0*(\d{1,5})\b",
    re.IGNORECASE,
)
# "E013", "E-13", "F21", "F-27", "W08": a letter glued (or hyphenated) to digits
_LETTER_CODE = re.compile(r"\b([efwa])-?0*(\d{1,4})\b", re.IGNORECASE)
_CODE_CONFUSIONS = str.maketrans({"£": "E", "€": "E"})
# A code table row: "36=input polarity reversed", "83 | Battery voltage too low"
_TABLE_CODE = re.compile(r"^\s*0*(\d{1,4})\s*(?:=|\|)\s*[^\W\d_]", re.MULTILINE)
# ... or the code in the last of two cells: "Battery voltage too high | 2"
_TRAILING_CODE = re.compile(r"^[^|\d\n]{3,60} \| 0*(\d{1,4})\s*$", re.MULTILINE)
# Bits of a status word and hex values, however they are written: "Bit24", "BIT 24",
# "bit 24 gesetzt" → ``bit24``; "0x0200", "0200H", "0200h" → ``x200`` (a hex part needs a digit).
_BIT = re.compile(r"\bbit\s*[-:#]?\s*0*(\d{1,2})\b", re.IGNORECASE)
_HEX = re.compile(r"\b0x0*([0-9a-f]{1,8})\b|\b0*((?=[a-f]*\d)[0-9a-f]{1,8})h\b", re.IGNORECASE)
_HYPHENATED = re.compile(r"\b([^\W\d_]{2,})-([^\W\d_]{2,})\b")
# Identifiers written in CamelCase ("ReConnectionTime", "BMSDischgCurrentLow") and their words.
_CAMEL = re.compile(r"\b(?=[A-Za-z0-9]*[a-z][A-Z])[A-Za-z0-9]{4,}\b")
_CAMEL_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
BEFORE = 1  # lines quoted above the best one
FIRST_SPAN = 5  # the best line's block: the line before it, itself and the lines after
OTHER_SPAN = 0.4  # another line this close to the best line's score is quoted too
_RUNS = re.compile(r"[^\W\d_]+|\d+")
_TRANSCRIBED_UMLAUT = re.compile(r"(?<![aeiou])([aou])e")


def fold(text: str) -> str:
    """Lower-case and strip accents: "Überhitzung" → "uberhitzung", ß → ss."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# Words are folded before they are looked up ("für" arrives as "fur"): keep both spellings.
STOPWORDS = STOPWORDS | frozenset(fold(w) for w in STOPWORDS)


def german_spelling(word: str) -> str:
    """Fold the umlaut transcriptions a phone keyboard produces: "ueber" → "uber"."""
    return _TRANSCRIBED_UMLAUT.sub(r"\1", word)


def words(text: str) -> list[str]:
    """Folded word tokens; single letters are dropped, numbers kept."""
    return [w for w in _WORD.findall(fold(text)) if len(w) > 1 or w.isdigit()]


def model_parts(word: str) -> list[str]:
    """Letter and digit runs of a model name: "mic600tl" → "mic", "600", "tl"."""
    if not (any(c.isdigit() for c in word) and any(c.isalpha() for c in word)):
        return []
    return [run for run in _RUNS.findall(word) if len(run) >= 2]


def camel_words(text: str) -> str:
    """The words inside CamelCase identifiers of three words or more, space-separated:
    register names such as "ReConnectionTime" are also found as "reconnection time"
    (two-word names are mostly products, "SmartEVSE", whose parts say little)."""
    parts = (_CAMEL_WORD.findall(name) for name in _CAMEL.findall(text))
    return " ".join(" ".join(words) for words in parts if len(words) >= 3)


def compound_parts(word: str) -> list[str]:
    """Known trade words inside a long German compound ("nennfehlerstrom")."""
    if len(word) < 9:
        return []
    return [part for part in GLOSSARY_PARTS if part in word and part != word]


def error_codes(text: str) -> list[str]:
    """Canonical code tokens (``c405``, ``ce13``) found in text."""
    text = text.translate(_CODE_CONFUSIONS)
    codes: list[str] = []
    for match in _KEYWORD_CODE.finditer(text):
        letters, number = match.group(1).lower(), str(int(match.group(2)))
        codes.append(f"c{number}")
        if letters:
            codes.append(f"c{letters}{number}")
    for match in _LETTER_CODE.finditer(text):
        number = str(int(match.group(2)))
        codes.append(f"c{match.group(1).lower()}{number}")
        codes.append(f"c{number}")
    return codes


def number_forms(text: str) -> list[str]:
    """Canonical bit and hex terms: "Bit 24" → ``bit24``, "0x0200" / "0200H" → ``x200``."""
    bits = [f"bit{int(n)}" for n in _BIT.findall(text)]
    hexes = [f"x{(a or b).lower() or '0'}" for a, b in _HEX.findall(text)]
    return bits + hexes


def table_codes(text: str) -> list[str]:
    """Code terms of code-table rows: "36=input polarity reversed", "Fault | 2"."""
    return [f"c{int(n)}" for n in (*_TABLE_CODE.findall(text), *_TRAILING_CODE.findall(text))]


@lru_cache(maxsize=200_000)
def stem(word: str, language: str) -> str:
    name = _STEMMERS.get(language)
    if name is None or word.isdigit() or len(word) < 4:
        return word
    return str(_stemmer(name).stemWord(word))


@lru_cache(maxsize=8)
def _stemmer(name: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(name)


def detect_language(text: str, default: str = "en") -> str:
    """A cheap stop-word vote between German, English and Dutch ('' if no text,
    ``default`` if no word votes)."""
    tokens = _WORD.findall(text.lower())
    if not tokens:
        return ""
    votes = {
        "de": sum(t in _DE_MARKERS for t in tokens),
        "en": sum(t in _EN_MARKERS for t in tokens),
        "nl": sum(t in _NL_MARKERS for t in tokens) * 0.9,
    }
    best = max(votes, key=lambda k: votes[k])
    return best if votes[best] > 0 else default


_DE_ASKING = frozenset("wie was wo welche welcher welches welchen wann warum ich kann muss gibt beim".split())
_EN_ASKING = frozenset("what how which where when why does can do".split())


def question_language(text: str) -> str:
    """The language of a short question: the stop-word vote plus the question words
    of each language ('' when nothing votes)."""
    if detect_language(text, default="") == "nl":
        return "nl"
    tokens = _WORD.findall(text.lower())
    german = sum(t in _DE_MARKERS or t in _DE_ASKING for t in tokens)
    english = sum(t in _EN_MARKERS or t in _EN_ASKING for t in tokens)
    if german == english:
        return detect_language(text, default="")
    return "de" if german > english else "en"


def index_terms(text: str, language: str) -> list[str]:
    """Terms stored in the FTS column for a chunk in ``language``."""
    terms: list[str] = error_codes(text)
    terms.extend(table_codes(text))
    terms.extend(number_forms(text))
    # "Pre-charge" is also found as "precharge", "DC-Trennschalter" as "dctrennschalter"
    joined = " ".join([*(a + b for a, b in _HYPHENATED.findall(text)), camel_words(text)]).strip()
    text = f"{text}\n{joined}" if joined else text
    for word in words(text):
        if word in STOPWORDS:
            continue
        if language == "de":
            word = german_spelling(word)
        terms.append(stem(word, language))
        terms.extend(model_parts(word))
        if language == "de":
            # German compounds: "Nennfehlerstrom" also answers "fehlerstrom".
            terms.extend(stem(part, "de") for part in compound_parts(word))
    return terms


def field_terms(descriptor: str, section: str, text: str, language: str) -> str:
    """The FTS column of a chunk: one line of terms per field — the manual's descriptor
    (title, file name, maker, products), the section heading, then each text line
    (a table row) — so that ranking can tell where a question's words matched.
    The full-text index splits on any white space, so the lines cost it nothing."""
    fields = [descriptor, section, *text.splitlines()]
    return "\n".join(" ".join(index_terms(field, language)) for field in fields)


def query_groups(text: str) -> list[tuple[str, ...]]:
    """One group of alternative terms per thing the technician asked about: each
    error code, and each content word with its German and English stems, compound
    parts and glossary translations. A passage "covers" a group if it has any term."""
    return [group for group, _ in bound_groups(text)]


def bound_groups(text: str) -> list[tuple[tuple[str, ...], bool]]:
    """``query_groups`` with, per group, whether it is bound to the question's language:
    a word with no digit and no glossary translation, which a manual in another
    language cannot be expected to print."""
    groups: list[tuple[tuple[str, ...], bool]] = []
    codes = error_codes(text)
    if codes:
        groups.append((tuple(dict.fromkeys(codes)), False))
    groups.extend(((form,), False) for form in dict.fromkeys(number_forms(text)))
    for word in words(text):
        if word in STOPWORDS or word in QUESTION_NOISE:
            continue
        german = german_spelling(word)
        group = [stem(german, "de"), stem(word, "en"), *model_parts(word)]
        group.extend(stem(part, "de") for part in compound_parts(german))
        translations = expand_term(german)
        for translated in translations:
            for piece in words(translated):
                if piece not in STOPWORDS:
                    group.append(stem(piece, "en"))
                    group.append(stem(german_spelling(piece), "de"))
        bound = not translations and not any(c.isdigit() for c in word)
        groups.append((tuple(dict.fromkeys(group)), bound))
    return groups


def query_terms(text: str) -> list[str]:
    """All terms of ``query_groups``, de-duplicated in order: the BM25 query."""
    return list(dict.fromkeys(term for group in query_groups(text) for term in group))


def content_words(text: str) -> list[str]:
    """The query's own content words (no stop words, no noise), folded."""
    return [w for w in words(text) if w not in STOPWORDS and w not in QUESTION_NOISE]


def line_scores(lines: list[str], query: str) -> list[float]:
    """How much of the query each line answers, lexically.

    A query word weighs less the more lines contain it (the brand in every header
    says little about which line answers); an asked error code weighs most, so the
    code's row wins."""
    groups = query_groups(query)
    codes = tuple(dict.fromkeys(error_codes(query)))
    line_terms = [set(index_terms(line, "de")) | set(index_terms(line, "en")) for line in lines]
    hits = [[any(t in terms for t in g) for g in groups] for terms in line_terms]
    spread = [max(sum(row[i] for row in hits), 1) for i in range(len(groups))]
    weights = [(3.0 if codes and g == codes else 1.0) / spread[i] for i, g in enumerate(groups)]
    return [sum(w for w, hit in zip(weights, row, strict=True) if hit) for row in hits]


def best_lines(text: str, query: str, limit: int = 4, scores: list[float] | None = None) -> list[str]:
    """The line of a passage that answers most of the query, with its neighbours, and
    further well-scoring lines elsewhere on the page while ``limit`` allows.

    ``scores`` (one per line) default to ``line_scores``; callers may blend in other
    evidence. Table cells wrap over several lines ("Error: 302" above "Keine
    AC-Verbindung"), so the best line comes with the line before and the lines
    after it (``FIRST_SPAN`` in all); then each line scoring at least ``OTHER_SPAN``
    of the best one adds itself and the line after it — the heading that matched the
    question and the sentence that answers it are often a few lines apart. Lines are
    returned in page order; neighbouring rows of another error code are left out."""
    lines = text.splitlines()
    scores = scores if scores is not None else line_scores(lines, query)
    best_at = max(range(len(lines)), key=lambda i: scores[i], default=-1)
    if best_at < 0 or scores[best_at] <= 0:
        return []
    codes = tuple(dict.fromkeys(error_codes(query)))
    start = max(best_at - BEFORE, 0)
    chosen = set(range(start, min(start + min(FIRST_SPAN, limit), len(lines))))
    for i in sorted(range(len(lines)), key=lambda i: -scores[i]):
        if len(chosen) >= limit or scores[i] < OTHER_SPAN * scores[best_at]:
            break
        if i not in chosen:
            chosen |= {i, i + 1} if len(chosen) + 2 <= limit and i + 1 < len(lines) else {i}
    return [
        lines[i] for i in sorted(chosen) if lines[i].strip() and (i == best_at or not _other_code_row(lines[i], codes))
    ]


def _other_code_row(line: str, asked: tuple[str, ...]) -> bool:
    found = set(error_codes(line)) | set(table_codes(line))
    return bool(asked) and bool(found) and not found & set(asked)
