"""Calls to the Bot Framework connector, retried when that is safe.

The connector answers 429 (throttled), 412 (a conversation update raced us), 502
and 504 (its gateway) for a while under load: ``deliver`` tries again with jittered
exponential backoff, honouring ``Retry-After``. A request that may have arrived —
the connection broke or timed out *after* it was sent — is not sent again: a
duplicate answer is worse than a missing one, and the error goes to the turn's
error hook. A connection that could not even be opened is safe to retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import requests
from botbuilder.schema import ErrorResponseException
from msrest.exceptions import ClientRequestError

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRIED = frozenset({412, 429, 502, 504})
ATTEMPTS = 4
BASE_SECONDS = 0.5
CAP_SECONDS = 10.0
Sleep = Callable[[float], Awaitable[None]]


def status_of(error: ErrorResponseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def retry_after(error: ErrorResponseException) -> float | None:
    """Seconds from the response's ``Retry-After`` header (the seconds form), capped."""
    response = getattr(error, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(max(float(value), 0.0), CAP_SECONDS) if value is not None else None
    except ValueError:
        return None


def never_sent(error: ClientRequestError) -> bool:
    """True when the request certainly did not reach the connector (connect failed)."""
    inner = getattr(error, "inner_exception", None)
    if isinstance(inner, requests.ConnectTimeout):
        return True
    if isinstance(inner, requests.ConnectionError):
        reason = repr(inner)
        return "NewConnectionError" in reason or "Connection refused" in reason
    return False


async def deliver(
    call: Callable[[], Awaitable[T]], what: str, *, attempts: int = ATTEMPTS, sleep: Sleep = asyncio.sleep
) -> T:
    """``await call()``, retried on throttling and gateway errors; anything else is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ErrorResponseException as error:
            status = status_of(error)
            if status not in RETRIED or attempt == attempts:
                raise
            delay = retry_after(error) or backoff(attempt)
            log.warning("connector answered %s to %s; retry %d in %.1f s", status, what, attempt, delay)
        except ClientRequestError as error:
            if not never_sent(error) or attempt == attempts:
                log.error("%s may or may not have arrived (%s): not sent again", what, error)
                raise
            delay = backoff(attempt)
            log.warning("could not reach the connector for %s; retry %d in %.1f s", what, attempt, delay)
        await sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def backoff(attempt: int) -> float:
    """Full jitter: uniform in [0, min(cap, base·2^(attempt-1))], at least 50 ms."""
    return max(0.05, random.uniform(0, min(CAP_SECONDS, BASE_SECONDS * 2 ** (attempt - 1))))
