"""Manuals sent to Nik in a Teams personal chat: fetched from the file card's ``downloadUrl``
(here a loopback URL of the fake connector), stored and indexed; size-capped, admins only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teams_harness import ANNA, serving

from adapters.teams.platform import FILES_NOTE
from helpers import SAMPLE_NAME, write_pdf
from knowledge.service import KnowledgeBase

FILE_INFO = "application/vnd.microsoft.teams.file.download.info"


def file_card(url: str, name: str) -> dict[str, Any]:
    """A file sent in a personal chat, as Teams attaches it."""
    content = {"downloadUrl": url, "uniqueId": "1a2b", "fileType": "pdf"}
    return {
        "contentType": FILE_INFO,
        "contentUrl": "https://contoso.sharepoint.com/x.pdf",
        "name": name,
        "content": content,
    }


async def test_an_admins_file_in_a_personal_chat_is_fetched_without_a_token_stored_and_indexed(
    kb_dir: Path, sample_kb: KnowledgeBase, manuals: Path, tmp_path: Path
) -> None:
    data = write_pdf(tmp_path / "src.pdf", [("P", "Zyklotron ZX-900\n\nFehler Q77: Spülventil reinigen.")]).read_bytes()
    async with serving(kb_dir, sample_kb, NIK_ADMINS=f"teams:{ANNA}", NIK_MANUALS_DIR=str(manuals)) as teams:
        teams.fake.images["zx.pdf"] = data
        card = file_card(f"{teams.fake.url}/attachments/zx.pdf", "../ZX 900.pdf")
        activity = teams.fake.activity("personal_message", text="Neues Handbuch", attachments=[card])
        assert (await teams.post(activity))[0] == 201
        await teams.fake.wait_for(lambda: any("Index aktualisiert" in u.text for u in teams.fake.updates), 90)
    assert (manuals / "ZX 900.pdf").read_bytes() == data
    assert teams.fake.image_auth == [None]  # the pre-authenticated URL gets no bot token
    assert teams.fake.messages()[0].text.startswith("Gespeichert als „ZX 900.pdf“")


async def test_a_file_over_the_cap_or_from_a_non_admin_is_not_stored_nor_fetched(
    kb_dir: Path, sample_kb: KnowledgeBase, manuals: Path, tmp_path: Path
) -> None:
    data = write_pdf(tmp_path / "src.pdf", [("P", "Zyklotron ZX-900")]).read_bytes()
    env = {"NIK_ADMINS": "teams:someone-else", "NIK_MANUALS_DIR": str(manuals)}
    async with serving(kb_dir, sample_kb, **env) as teams:
        teams.fake.images["zx.pdf"] = data
        card = file_card(f"{teams.fake.url}/attachments/zx.pdf", "zx.pdf")
        assert (await teams.post(teams.fake.activity("personal_message", text="", attachments=[card])))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    assert [m.text for m in teams.fake.messages()] == [FILES_NOTE]  # as for any shared file
    assert teams.fake.image_auth == []  # not even fetched
    env = {"NIK_ADMINS": f"teams:{ANNA}", "NIK_MANUALS_DIR": str(manuals), "NIK_MAX_MANUAL_BYTES": str(len(data) - 1)}
    async with serving(kb_dir, sample_kb, **env) as teams:
        teams.fake.images["zx.pdf"] = data
        card = file_card(f"{teams.fake.url}/attachments/zx.pdf", "zx.pdf")
        again = teams.fake.activity("personal_message", id="second-upload", text="", attachments=[card])
        assert (await teams.post(again))[0] == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        await teams.nik.dispatcher.drain()
    [note] = teams.fake.messages()
    assert "zu groß" in note.text
    assert [p.name for p in manuals.glob("*.pdf")] == [SAMPLE_NAME]
