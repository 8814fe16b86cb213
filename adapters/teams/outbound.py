"""Calls to the Bot Framework connector, retried when that is safe.

The connector answers 429 (throttled), 412 (a conversation update raced us), 502
and 504 (its gateway) for a while under load: ``deliver`` tries again under the
one retry policy (``bot.runtime.retry``), honouring ``Retry-After``. A request
that may have arrived — the connection broke or timed out *after* it was sent — is
not sent again: a duplicate answer is worse than a missing one, and the error goes
to the turn's error hook. A connection that could not even be opened is safe to retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import requests
from botbuilder.schema import ErrorResponseException
from msrest.exceptions import ClientRequestError

from bot.runtime.retry import Retry

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRIED = frozenset({412, 429, 502, 504})
CAP_SECONDS = 10.0


def status_of(error: ErrorResponseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def retry_after(error: BaseException) -> float | None:
    """Seconds from a throttled response's ``Retry-After`` header (the seconds form), capped."""
    response = getattr(error, "response", None) if isinstance(error, ErrorResponseException) else None
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


def retryable(error: BaseException) -> bool:
    if isinstance(error, ErrorResponseException):
        return status_of(error) in RETRIED
    return isinstance(error, ClientRequestError) and never_sent(error)


CONNECTOR = Retry(retryable, attempts=4, first=0.5, most=CAP_SECONDS, hint=retry_after)


async def deliver(call: Callable[[], Awaitable[T]], what: str, *, policy: Retry = CONNECTOR) -> T:
    """``await call()``, retried on throttling and gateway errors; anything else is raised."""
    try:
        return await policy.run(what, call)
    except ClientRequestError as error:
        if not never_sent(error):
            log.error("%s may or may not have arrived (%s): not sent again", what, error)
        raise
