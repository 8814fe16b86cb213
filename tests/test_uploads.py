"""bot.core.uploads: the name a manual is stored under."""

from __future__ import annotations

import pytest

from bot.core.uploads import safe_name


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("SolarFux SF-5000TL.pdf", "SolarFux SF-5000TL.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\x.pdf", "x.pdf"),
        ("C:\\Users\\anna\\Handbuch Wärmepumpe.PDF", "Handbuch Wärmepumpe.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("...", "Handbuch.pdf"),
        ("", "Handbuch.pdf"),
        ("a<b>c|d?*.pdf", "a_b_c_d.pdf"),
        ("manual.pdf.exe", "manual.pdf.exe.pdf"),
        ("x\x00y.pdf", "x_y.pdf"),
        ("catalog.toml", "catalog.toml.pdf"),
    ],
)
def test_safe_name(given: str, stored: str) -> None:
    assert safe_name(given) == stored


def test_a_long_name_is_cut() -> None:
    assert safe_name("A" * 300 + ".pdf") == "A" * 100 + ".pdf"
