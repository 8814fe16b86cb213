"""``deliver``: what is retried and what is not sent twice (the wire cases run in test_teams_flow)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests
from msrest.exceptions import ClientRequestError

from adapters.teams.outbound import CONNECTOR, deliver

QUICK = replace(CONNECTOR, first=0.001)


class Calls:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return "sent"


async def test_a_read_timeout_after_sending_is_not_sent_again() -> None:
    call = Calls(ClientRequestError("Error occurred in request.", requests.ReadTimeout("read timed out")))
    with pytest.raises(ClientRequestError):
        await deliver(call, "a message", policy=QUICK)
    assert call.count == 1


async def test_a_connection_that_never_opened_is_retried() -> None:
    call = Calls(ClientRequestError("Error occurred in request.", requests.ConnectTimeout("connect timed out")))
    assert await deliver(call, "a message", policy=QUICK) == "sent"
    assert call.count == 2
