"""``nik chat`` and ``nik ask``: the conversation core from the terminal, in real subprocesses
sharing one SQLite database through NIK_DATA_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import APP_ENV, open_kb
from knowledge.embedder import E5Embedder
from photo_maker import LEVELS, display_photo

NEW_ENV = ("NIK_ADMINS", "DATABASE_URL", "NIK_HISTORY_WINDOW", "NIK_PAUSE_HOURS")


def nik(
    cwd: Path, data_dir: Path, *argv: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in APP_ENV and k not in NEW_ENV}
    environ.update(NIK_DATA_DIR=str(data_dir), COLUMNS="200", **env)
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *argv],
        cwd=cwd,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ask_json(cwd: Path, data_dir: Path, text: str, *extra: str, **env: str) -> dict[str, Any]:
    run = nik(cwd, data_dir, "ask", text, "--json", *extra, **env)
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    assert set(result) == {"kind", "text", "citations", "clarification"}
    return result


def test_two_ask_processes_continue_one_conversation(
    seeded_cache: Path, embedder: E5Embedder, manuals: Path, tmp_path: Path
) -> None:
    (manuals / "Voltronic_Axpert_Kurzanleitung.md").write_text(
        "# Voltronic Axpert Kurzanleitung\n\n## Fehlercodes\n\n"
        "E013 Batteriespannung zu niedrig | Batterie laden, Anschlüsse prüfen\n",
        encoding="utf-8",
    )
    open_kb(seeded_cache, embedder).index([manuals])
    env = {"NIK_MANUALS_DIR": str(manuals)}

    asked = ask_json(tmp_path, seeded_cache, "was bedeutet fehler E013", "--chat", "X", **env)
    assert asked["kind"] == "clarification" and asked["citations"] == []
    options = asked["clarification"]["options"]
    voltronic = next(o for o in options if "Voltronic" in o)

    answered = ask_json(tmp_path, seeded_cache, voltronic, "--chat", "X", **env)
    assert answered["kind"] == "answer" and answered["clarification"] is None
    assert "Batteriespannung zu niedrig" in answered["text"]
    assert answered["citations"][0] == {
        "file": "Voltronic_Axpert_Kurzanleitung.md",
        "title": "Voltronic Axpert Kurzanleitung",
        "page": 1,
    }


def test_ask_outcomes_all_exit_zero(kb_dir: Path, tmp_path: Path) -> None:
    refused = ask_json(tmp_path, kb_dir, "/status")
    assert refused["kind"] == "refused"
    status = ask_json(tmp_path, kb_dir, "/status", "--user", "root", NIK_ADMINS="console:root")
    assert "sqlite" in status["text"] and status["kind"] == "answer"
    missing = ask_json(tmp_path, kb_dir, "Wie hoch ist der Eiffelturm?", "--chat", "Y")
    assert missing["kind"] == "not_found" and missing["citations"] == []
    no_index = ask_json(tmp_path, tmp_path / "empty", "Was bedeutet E013?")
    assert no_index["kind"] == "error" and "indexiert" in no_index["text"]


def test_chat_reads_questions_from_stdin_until_exit(kb_dir: Path, tmp_path: Path) -> None:
    run = nik(tmp_path, kb_dir, "chat", stdin="Was bedeutet E013?\n/page SolarFux_SF-5000TL_Handbuch 8\n/exit\n")
    assert run.returncode == 0, run.stderr
    assert "Fehlerstrom zu hoch" in run.stdout and "S. 8]" in run.stdout
    assert (kb_dir / "pages" / "SolarFux_SF-5000TL_Handbuch_S8.png").is_file()


def test_chat_indexes_on_first_run_and_ends_at_eof(seeded_cache: Path, tmp_path: Path, sample_dir: Path) -> None:
    run = nik(tmp_path, seeded_cache, "chat", stdin="/photo bild.jpg\n", NIK_MANUALS_DIR=str(sample_dir))
    assert run.returncode == 0, run.stderr
    assert "1 Handbücher, 10 Seiten indexiert" in run.stdout
    assert "/photo PFAD" in run.stdout  # no such file: the usage, and the chat goes on


def test_photos_from_the_terminal_go_through_the_photo_pipeline(kb_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "display.jpg").write_bytes(display_photo(["E013", "Fehlerstrom"], LEVELS["easy"]))
    (tmp_path / "notiz.jpg").write_text("kein Bild", encoding="utf-8")
    asked = ask_json(tmp_path, kb_dir, "", "--image", "display.jpg")
    assert asked["kind"] == "answer" and "Auf dem Foto erkannt: E013" in asked["text"]
    assert asked["citations"][0]["page"] == 8
    refused = ask_json(tmp_path, kb_dir, "Was ist das?", "--image", "notiz.jpg")
    assert refused["kind"] == "refused" and "JPEG" in refused["text"]
    run = nik(tmp_path, kb_dir, "chat", stdin="/photo display.jpg was tun?\n/exit\n")
    assert run.returncode == 0, run.stderr
    assert "Auf dem Foto erkannt: E013" in run.stdout and "Fehlerstrom zu hoch" in run.stdout


def test_an_invalid_admin_list_is_refused_with_its_name(kb_dir: Path, tmp_path: Path) -> None:
    run = nik(tmp_path, kb_dir, "ask", "hallo", NIK_ADMINS="telegram")
    assert run.returncode == 2 and "NIK_ADMINS" in run.stderr


@pytest.mark.parametrize("value", ["", "telegram:1, teams:29:abc"])
def test_admin_list_parsing(clean_env: pytest.MonkeyPatch, value: str) -> None:
    from bot.config import load_settings

    clean_env.setenv("NIK_ADMINS", value)
    settings = load_settings()
    expected = {"telegram:1", "teams:29:abc"} if value else set()
    assert settings.admins == frozenset(expected)
    assert (settings.history_window, settings.pause_hours, settings.database_url) == (6, 24.0, None)
