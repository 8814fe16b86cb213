"""/report over Telegram: an admin's private chat gets the report as a message and the chart as a photo."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from telegram_fake import FakeTelegram
from telegram_helpers import serving, settings_for

from knowledge.service import KnowledgeBase

ADMIN = 42


async def test_an_admins_report_is_a_message_and_a_photo(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}")
        async with serving(settings, sample_kb) as server:
            api.push(api.message(ADMIN, text="Was bedeutet E013?", user_id=ADMIN))
            await api.wait_for(lambda: bool(api.of("sendMessage", ADMIN)))
            api.push(api.message(ADMIN, text="/report 7d", user_id=ADMIN))
            await api.wait_for(lambda: bool(api.of("sendPhoto", ADMIN)))
            await server.nik.dispatcher.drain()
    _, report = api.of("sendMessage", ADMIN)
    assert "Qualitätsbericht" in report["text"] and "Fragen: 1" in report["text"]
    [photo] = api.of("sendPhoto", ADMIN)
    assert "Fragen pro Tag" in photo["caption"]
    with Image.open(io.BytesIO(photo["photo"])) as chart:  # the uploaded bytes: the chart as PNG
        assert chart.format == "PNG" and chart.size == (800, 400)
