"""Files on Teams end to end: ``/pdf`` and ``/page`` in a personal chat as a file-consent card
(accept: the bytes are PUT to the upload URL, then a file card; decline: a note), in a channel
as an expiring signed link served by ``nik serve`` (tampered or expired: 403), and a note
without ``NIK_PUBLIC_URL``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pypdfium2 as pdfium
from teams_harness import Teams, serving

from adapters.files import FileShelf
from adapters.teams.render import FILE_CONSENT, FILE_INFO, NO_PUBLIC_URL
from knowledge.service import KnowledgeBase

PDF_COMMAND = "/pdf SolarFux_SF-5000TL_Handbuch 3-4"


def consent_cards(teams: Teams) -> list[dict[str, Any]]:
    return [
        a
        for s in teams.fake.messages()
        for a in s.activity.get("attachments") or ()
        if a["contentType"] == FILE_CONSENT
    ]


def pages_of(data: bytes) -> int:
    return len(pdfium.PdfDocument(data))


async def test_a_personal_chat_gets_a_consent_card_and_the_bytes_on_accept(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb) as teams:
        assert (await teams.post(teams.fake.activity("personal_message", text=PDF_COMMAND)))[0] == 201
        await teams.fake.wait_for(lambda: len(consent_cards(teams)) == 1)
        [card] = consent_cards(teams)
        assert card["name"].endswith(" S. 3-4.pdf") and card["content"]["sizeInBytes"] > 0

        status, _ = await teams.post(teams.fake.consent_invoke(card, "accept"))
        assert status == 200
        data, headers = teams.fake.uploads[card["name"]]
        assert pages_of(data) == 2 and len(data) == card["content"]["sizeInBytes"]
        assert headers["Content-Range"] == f"bytes 0-{len(data) - 1}/{len(data)}"
        await teams.fake.wait_for(lambda: any(FILE_INFO in str(s.activity) for s in teams.fake.messages()))
        info = next(
            a
            for s in teams.fake.messages()
            for a in s.activity.get("attachments") or ()
            if a["contentType"] == FILE_INFO
        )
        assert info["name"] == card["name"] and info["content"]["uniqueId"] == "drive-item-1"

        # /page goes the same way, as a PNG; declining gets a short note and uploads nothing
        assert (
            await teams.post(
                teams.fake.activity("personal_message", text="/page SolarFux_SF-5000TL_Handbuch 8", id="m2")
            )
        )[0] == 201
        await teams.fake.wait_for(lambda: len(consent_cards(teams)) == 2)
        page = consent_cards(teams)[1]
        assert page["name"].endswith(" S. 8.png")
        assert (await teams.post(teams.fake.consent_invoke(page, "decline")))[0] == 200
        await teams.fake.wait_for(lambda: teams.fake.messages()[-1].text == "In Ordnung, ich schicke die Datei nicht.")
        assert list(teams.fake.uploads) == [card["name"]]


async def test_a_channel_gets_a_signed_link_that_only_works_unchanged(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb, NIK_PUBLIC_URL="http://127.0.0.1:1") as teams:
        channel = teams.fake.activity("channel_thread")
        channel["text"] = f"<at>Nik</at> {PDF_COMMAND}"
        assert (await teams.post(channel))[0] == 201
        await teams.fake.wait_for(lambda: any("/files/" in s.text for s in teams.fake.messages()))
        message = next(s.text for s in teams.fake.messages() if "/files/" in s.text)
        assert "(Link gilt 1 Stunde)" in message
        url = message.split("](", 1)[1].split(")", 1)[0]
        local = f"http://127.0.0.1:{teams.server.port}" + url.removeprefix("http://127.0.0.1:1")

        async with teams.http.get(local) as response:
            assert response.status == 200 and response.content_type == "application/pdf"
            assert pages_of(await response.read()) == 2
            assert "S.%203-4.pdf" in response.headers["Content-Disposition"]

        query = parse_qs(urlsplit(local).query)
        signature, expires = query["sig"][0], query["exp"][0]
        tampered = local.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
        other_expiry = local.replace(f"exp={expires}", f"exp={int(expires) + 3600}")
        past = int(time.time()) - 10
        token = urlsplit(local).path.split("/")[2]
        signed_past = FileShelf.from_settings(teams.nik.settings).signature(token, past)  # the same secret
        expired = local.split("?")[0] + f"?exp={past}&sig={signed_past}"
        for bad in (tampered, other_expiry, expired, local.split("?")[0]):
            async with teams.http.get(bad) as response:
                assert response.status == 403, bad


async def test_without_a_public_url_a_channel_gets_a_note(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb) as teams:
        channel = teams.fake.activity("channel_thread")
        channel["text"] = f"<at>Nik</at> {PDF_COMMAND}"
        assert (await teams.post(channel))[0] == 201
        await teams.fake.wait_for(lambda: any(NO_PUBLIC_URL in s.text for s in teams.fake.messages()))
