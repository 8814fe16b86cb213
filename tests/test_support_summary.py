"""What the support team reads about a case: the asker's own messages, the offline summary, the photos;
and how ``NIK_SUPPORT_CHAT`` is read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import Settings
from bot.support.desk import support_target
from bot.support.summary import NOTHING, offline_summary, own_messages, photo_refs
from storage.store import ChatKey, Citation, Role, StoredMessage

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PAGE = Citation("sf.pdf", "SolarFux SF-5000TL", 8)


def message(
    position: int,
    role: Role,
    content: str,
    user: str | None = None,
    *,
    citations: tuple[Citation, ...] = (),
    image_refs: tuple[str, ...] = (),
) -> StoredMessage:
    return StoredMessage(position, role, content, citations, image_refs, user, None, NOW)


def test_in_a_group_only_the_askers_questions_and_nik_s_answers_to_them_count() -> None:
    history = [
        message(1, "user", "Was bedeutet E013?", "anna"),
        message(2, "assistant", "Fehlerstrom zu hoch.", citations=(PAGE,)),
        message(3, "user", "Und E014?", "bert"),
        message(4, "assistant", "Netzspannung zu hoch."),
        message(5, "user", "/docs", "anna"),
        message(6, "user", "[Foto]", "anna", image_refs=("a/1.jpg",)),
        message(7, "assistant", "Auf dem Foto steht E013."),
    ]
    mine = own_messages(history, "anna")
    assert [m.position for m in mine] == [1, 2, 5, 6, 7]
    summary = offline_summary(mine)
    assert summary == "Letzte Fragen:\n• Was bedeutet E013?\n• [Foto]\nZitierte Seiten: SolarFux SF-5000TL, S. 8"
    assert "E014" not in summary and photo_refs(mine) == ["a/1.jpg"]
    assert offline_summary([]) == NOTHING


def test_the_support_chat_setting() -> None:
    def read(value: str) -> str | None:
        return Settings.model_validate({"NIK_SUPPORT_CHAT": value}).support_chat

    assert read("telegram:-100123") == "telegram:-100123"
    assert read("teams:19:abc@thread.tacv2;messageid=17") == "teams:19:abc@thread.tacv2"
    assert read(" ") is None
    assert support_target("teams:19:abc@thread.tacv2") == ChatKey("teams", "19:abc@thread.tacv2")
    for wrong in ("slack:C123", "telegram:", "-100123"):
        with pytest.raises(ValueError, match="telegram:<chat id>"):
            read(wrong)
