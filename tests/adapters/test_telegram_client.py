"""The Bot API client against the fake Bot API: 429s waited out by PTB's limiter, network failures retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from telegram.error import BadRequest, NetworkError
from telegram.ext import ExtBot
from telegram_fake import TOKEN, FakeTelegram

from adapters.telegram.client import SEND, make_bot
from adapters.telegram.menu import ADMIN_COMMANDS, COMMANDS, publish_menu

QUICK = replace(SEND, first=0.01)


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeTelegram) -> AsyncIterator[ExtBot[int]]:
    client = make_bot(TOKEN, api.root)
    await client.initialize()
    yield client
    await client.shutdown()


async def test_a_429_holds_every_send_until_it_is_waited_out_and_nothing_is_lost(
    api: FakeTelegram, bot: ExtBot[int]
) -> None:
    api.fail_next("sendMessage", 429, retry_after=1)
    await asyncio.gather(*(bot.send_message(100 + n, f"Nachricht {n}") for n in range(5)))
    _refused, *sent = api.texts()
    assert sorted(sent) == [f"Nachricht {n}" for n in range(5)]  # the refused one once more, every other once


async def test_a_send_that_failed_on_the_network_is_sent_again(api: FakeTelegram, bot: ExtBot[int]) -> None:
    api.fail_next("sendMessage", 502, times=2)
    sent = await QUICK.run("a test message", lambda: bot.send_message(100, "hallo"))
    assert sent.text == "hallo" and api.texts() == ["hallo", "hallo", "hallo"]


async def test_a_refused_send_is_not_repeated_and_retries_are_bounded(api: FakeTelegram, bot: ExtBot[int]) -> None:
    api.fail_next("sendMessage", 400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await QUICK.run("a test message", lambda: bot.send_message(100, "an niemanden"))
    assert len(api.of("sendMessage")) == 1
    assert SEND.attempts is not None
    api.fail_next("sendMessage", 502, times=SEND.attempts)
    with pytest.raises(NetworkError):
        await QUICK.run("a test message", lambda: bot.send_message(100, "ins Leere"))
    assert len(api.of("sendMessage")) == 1 + SEND.attempts


async def test_the_menu_lists_admin_commands_only_in_admin_chats(api: FakeTelegram, bot: ExtBot[int]) -> None:
    await publish_menu(bot, frozenset({"telegram:7", "teams:29:abc", "telegram:9"}))
    everyone = [name for name, _ in COMMANDS]
    admin = everyone + [name for name, _ in ADMIN_COMMANDS]
    assert api.menus == {"default": everyone, "chat:7": admin, "chat:9": admin}
    assert not set(everyone) & {"status", "reindex", "report", "remove"}
