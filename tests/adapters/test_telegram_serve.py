"""The real python-telegram-bot Application against the fake Bot API, through ``nik serve``."""

from __future__ import annotations

from pathlib import Path

from telegram_fake import FakeTelegram
from telegram_helpers import serving, settings_for

from knowledge.service import KnowledgeBase


async def test_private_question_gets_a_cited_answer_by_polling(sample_kb: KnowledgeBase, kb_dir: Path) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb):
        api.push(api.message(100, text="Was bedeutet Fehler E013?"))
        await api.wait_for(lambda: bool(api.texts(100)))
        [answer] = api.texts(100)
        print(answer)
        assert "Quellen" in answer
