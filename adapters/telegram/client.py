"""The Bot API client: python-telegram-bot's ``ExtBot`` paced by its ``AIORateLimiter``.

Telegram asks bots to stay under 30 messages a second overall and 20 a minute in
a group, and answers 429 with ``retry_after`` beyond that. ``AIORateLimiter``
keeps both windows (sends only wait, nothing is dropped) and repeats a request
after a 429 as long as Telegram says, holding every other request meanwhile.
Typing and drafts are no messages: they skip the windows (``Limiter``), so that a
turn's "typing…" does not take the place of an answer.

Network failures are the one retry policy's (``bot.runtime.retry``): which
errors another try may cure is decided here, once for Telegram.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Conflict, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, ExtBot
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.runtime.retry import Retry

RATE_LIMIT_RETRIES = 6  # 429s waited out per request before it fails
UNPACED = frozenset({"sendChatAction", "sendMessageDraft", "answerCallbackQuery"})

Json = bool | dict[str, Any] | list[dict[str, Any]]
POLL_READ_SLACK = 5.0  # seconds a long poll may take beyond its timeout (PTB's default read timeout)

# ``fetch_updates`` asks for getUpdates through ``do_api_request``, which warns on each call
# that ``Bot.get_updates`` exists; that one would parse what the inbox stores as JSON.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)


class Limiter(AIORateLimiter):
    """``AIORateLimiter`` for messages; the requests in ``UNPACED`` pass straight through."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Json]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Json:
        if endpoint in UNPACED:
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def make_bot(token: str, api_root: str) -> ExtBot[int]:
    """The bot for ``token`` on the Bot API at ``api_root``; ``await bot.initialize()`` before use (``getMe``)."""
    root = api_root.rstrip("/")
    return ExtBot(
        token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        rate_limiter=Limiter(max_retries=RATE_LIMIT_RETRIES),
    )


async def fetch_updates(bot: Bot, offset: int | None, timeout: float, allowed: Sequence[str]) -> list[Any]:
    """The updates after ``offset`` (a long poll of ``timeout`` seconds) as Telegram sent them.

    The inbox stores an update's JSON before its turn; ``Bot.get_updates`` would parse it
    first, and turning the parsed update back into JSON cost more than storing it."""
    arguments: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(allowed)}
    if offset is not None:
        arguments["offset"] = offset
    found = await bot.do_api_request("getUpdates", api_kwargs=arguments, read_timeout=timeout + POLL_READ_SLACK)
    return found if isinstance(found, list) else []


def resendable(error: BaseException) -> bool:
    """A request that failed on the way (not one Telegram refused) may be tried again."""
    return isinstance(error, NetworkError | RetryAfter) and not isinstance(error, BadRequest)


def poll_again(error: BaseException) -> bool:
    """``getUpdates`` is tried again after any network failure and while another poller holds it."""
    return isinstance(error, NetworkError | RetryAfter | Conflict)


def retry_seconds(error: BaseException) -> float | None:
    """How long Telegram asked to wait (a 429's ``retry_after``), else None."""
    if not isinstance(error, RetryAfter):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # int vs timedelta, by PTB_TIMEDELTA
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


SEND = Retry(resendable, attempts=5, most=10.0)  # a message, an edit, a photo
CONNECT = Retry(resendable, hint=retry_seconds)  # getMe, setWebhook, deleteWebhook: until Telegram answers
POLL = Retry(poll_again, hint=retry_seconds)  # getUpdates
