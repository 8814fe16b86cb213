"""knowledge.text: what a technician types must meet what the manual prints."""

from __future__ import annotations

import pytest

from knowledge.text import (
    best_lines,
    bound_groups,
    detect_language,
    error_codes,
    fold,
    index_terms,
    query_groups,
    query_terms,
    question_language,
)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Überhitzung", "uberhitzung"),
        ("Straße", "strasse"),
        ("ÄÖÜ äöü", "aou aou"),
        ("Isolation prüfen", "isolation prufen"),
        ("ﬁlter", "filter"),  # NFKC: ligature
    ],
)
def test_fold_lowercases_and_strips_accents(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize(
    "text", ["Fehler 405", "error405", "E-405", "Error: 405", "ERROR 405", "Fehlercode 405", "Fehler 0405"]
)
def test_error_code_spellings_share_the_canonical_token(text: str) -> None:
    assert "c405" in error_codes(text)


def test_letter_codes_keep_their_letter_and_drop_leading_zeros() -> None:
    codes = error_codes("E013")
    assert "ce13" in codes and "c13" in codes
    assert set(error_codes("E-13")) == set(codes)
    assert set(error_codes("E013 Fehlerstrom zu hoch")) == set(codes)


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("W08", "cw8"),
        ("F-27", "cf27"),
        ("Warning202", "c202"),
        ("Alarm 2001", "c2001"),
        ("Statuscode 1173", "c1173"),
        ("£013", "ce13"),
    ],
)
def test_other_code_forms(text: str, token: str) -> None:
    assert token in error_codes(text)


def test_plain_prose_has_no_error_codes() -> None:
    assert error_codes("Der Wechselrichter speist nach 60 Sekunden Netzprüfung ein") == []


def test_different_codes_do_not_meet() -> None:
    query = set(query_terms("Fehler 405"))
    manual = set(index_terms("Error: 406 Bus-Fehler", "de"))
    assert not {t for t in query & manual if t.startswith("c")}


@pytest.mark.parametrize(
    ("query", "manual_text", "language"),
    [
        ("growatt fehler 405", "Error: 405 Relais-Fehler", "de"),
        ("error408", "Error: 408 Überhitzung", "de"),
        ("Fehler 408", "Error: 408 Überhitzung", "de"),
        ("uberhitzung", "Error: 408 Überhitzung", "de"),
        ("ueberhitzung", "Error: 408 Überhitzung", "de"),
        ("Überhitzung", "Error: 408 Überhitzung", "de"),
        ("E-13", "E013 Fehlerstrom zu hoch (GFCI)", "de"),
        ("fehlerstrom", "Nennfehlerstrom von mehr als 300 mA", "de"),
        ("abschlusswiderstand", "The termination resistor is 120 Ohm", "en"),
        ("wechselrichter", "The inverter shuts down", "en"),
        ("inverter", "Der Wechselrichter schaltet ab", "de"),
    ],
)
def test_query_terms_meet_index_terms(query: str, manual_text: str, language: str) -> None:
    assert set(query_terms(query)) & set(index_terms(manual_text, language))


def test_error_code_query_meets_the_code_itself() -> None:
    assert "c405" in set(query_terms("growatt fehler 405")) & set(index_terms("Error: 405 Relais-Fehler", "de"))


def test_query_terms_are_unique_and_skip_stop_words() -> None:
    terms = query_terms("Was ist der Fehler, was bedeutet der Fehler?")
    assert len(terms) == len(set(terms))
    assert not {"was", "ist", "der", "bedeutet"} & set(terms)
    assert query_terms("was ist das") == []


def test_query_groups_one_group_per_asked_thing() -> None:
    groups = query_groups("E013 Lüfter")
    assert groups[0] == tuple(dict.fromkeys(error_codes("E013")))  # the code comes first
    luefter = [g for g in groups if "lufter" in g]
    assert len(luefter) == 1 and "fan" in luefter[0]  # the glossary translates "Lüfter"


def test_index_terms_drop_stop_words_and_single_letters_keep_numbers() -> None:
    terms = index_terms("Der Wechselrichter und die Spannung 600 V", "de")
    assert "600" in terms
    assert not {"der", "und", "die", "v"} & set(terms)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Der Wechselrichter ist nicht mit dem Netz verbunden und wird abgeschaltet.", "de"),
        ("The inverter is not connected to the grid and will shut down.", "en"),
        ("De omvormer is niet met het net verbonden en wordt uitgeschakeld.", "nl"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_detect_language_without_text() -> None:
    assert detect_language("") == ""
    assert detect_language("4711 0815") == "en"  # words but no markers: the default


STORAGE_PAGE = """3.4 Lagerung des Wechselrichters
Wenn Sie den Wechselrichter lagern möchten, wählen Sie einen geeigneten Ort.
Das Gerät muss in der Originalverpackung aufbewahrt werden.
Trockenmittel muss in der Verpackung belassen werden.
Stapeln Sie nicht mehr als vier Kartons.
Schützen Sie die Kartons vor Nässe und direkter Sonne.
Prüfen Sie die Verpackung vor dem Einlagern auf Schäden.
Halten Sie Zugangswege zum Lager frei.
Die Lagertemperatur sollte immer zwischen -25 °C und +60 °C liegen.
Die relative Luftfeuchtigkeit darf 95 % nicht übersteigen.
3.5 Transport
Tragen Sie den Wechselrichter zu zweit.
Nutzen Sie dabei die Griffmulden."""


def test_best_lines_quotes_the_block_and_a_distant_answering_line_in_page_order() -> None:
    lines = best_lines(STORAGE_PAGE, "In welchem Temperaturbereich darf ich den Wechselrichter lagern?", limit=6)
    assert "Die Lagertemperatur sollte immer zwischen -25 °C und +60 °C liegen." in lines  # the best line
    assert "Wenn Sie den Wechselrichter lagern möchten, wählen Sie einen geeigneten Ort." in lines  # 7 lines up
    assert len(lines) <= 6
    assert lines == sorted(lines, key=STORAGE_PAGE.splitlines().index)
    assert "Nutzen Sie dabei die Griffmulden." not in lines  # beyond the best line's block


def test_best_lines_of_an_error_code_leaves_other_codes_rows_out() -> None:
    table = (
        "Error: 301 | Netzspannung zu hoch\nKeine AC-Verbindung\nError: 302 | AC-Kabel prüfen\nError: 303 | Frequenz"
    )
    lines = best_lines(table, "Was heißt Error 302?", limit=6)
    assert "Error: 302 | AC-Kabel prüfen" in lines
    assert not any("301" in line or "303" in line for line in lines)


@pytest.mark.parametrize(
    ("asked", "printed"),
    [
        ("bit 24 gesetzt", "Bit24 Grid Lost Fault"),
        ("BIT 9", "bit9: utility loss"),
        ("RTN 02H", "RTN=0x02 command not supported"),
        ("register 0x0200", "0200H | Battery voltage"),
    ],
)
def test_bits_and_hex_values_meet_however_written(asked: str, printed: str) -> None:
    query = set(query_terms(asked))
    manual = set(index_terms(printed, "en"))
    assert {t for t in query & manual if t.startswith(("bit", "x"))}


def test_a_hex_value_needs_a_digit_and_different_bits_do_not_meet() -> None:
    assert not {t for t in index_terms("each branch", "en") if t.startswith("x")}
    shared = set(query_terms("bit 24")) & set(index_terms("Bit25 Fan fault", "en"))
    assert not {t for t in shared if t.startswith("bit") and t != "bit"}


def test_camelcase_register_names_are_found_by_their_words() -> None:
    terms = index_terms("0x63F | ReConnectionTime | W | 10~1000", "en")
    assert {"reconnectiontim", "connect", "time"} <= set(terms)
    # two-word names are mostly products: "SmartEVSE" is not split into "smart" and "evse"
    assert "smart" not in index_terms("SmartEVSE", "en")


def test_phone_fillers_are_not_part_of_the_question() -> None:
    groups = query_groups("hey wieviel platz brauch ich auf der hutschiene")
    assert [g[0] for g in groups] == ["platz", "hutschi"]
    # an English particle alone does not translate to German over-voltage words
    assert ("over",) not in query_groups("reboot the inverter over modbus")
    assert not any("uberspann" in g for g in query_groups("reboot the inverter over modbus"))


def test_words_bound_to_the_question_language() -> None:
    bound = dict(bound_groups("wieviel platz auf der hutschiene, spannung 230V"))
    assert bound[("hutschi", "hutschien")] is True  # German, no translation: an English page can't print it
    assert next(b for g, b in bound.items() if "voltag" in g) is False  # translated
    assert next(b for g, b in bound.items() if "230v" in g) is False  # a value


def test_question_language() -> None:
    assert question_language("wie lange garantie gibt growatt aufn MIC 600") == "de"
    assert question_language("how do i put the EZ1 into local mode") == "en"
    assert question_language("Kaffeemaschine entkalken") == ""
