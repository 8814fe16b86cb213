"""``deliver``: what is retried and what is not sent twice (the wire cases run in test_teams_flow)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests
from msrest.exceptions import ClientRequestError

from adapters.teams.outbound import CONNECTOR, deliver
from helpers import Flaky

QUICK = replace(CONNECTOR, first=0.001)


async def test_a_read_timeout_after_sending_is_not_sent_again() -> None:
    call = Flaky(ClientRequestError("Error occurred in request.", requests.ReadTimeout("read timed out")))
    with pytest.raises(ClientRequestError):
        await deliver(call, "a message", policy=QUICK)
    assert call.count == 1


async def test_a_connection_that_never_opened_is_retried() -> None:
    call = Flaky(ClientRequestError("Error occurred in request.", requests.ConnectTimeout("connect timed out")))
    assert await deliver(call, "a message", policy=QUICK) == "done"
    assert call.count == 2
