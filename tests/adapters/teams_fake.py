"""A fake Bot Framework on 127.0.0.1, speaking the wire protocol the Teams adapter uses.

One aiohttp server plays every Microsoft endpoint:

* the connector (the activity's ``serviceUrl``): ``POST /v3/conversations/{id}/activities``
  and ``…/activities/{replyToId}`` (recorded in ``sent``), ``PUT …/activities/{id}``
  (recorded in ``updates``); ``fail_next`` scripts error statuses for the next POSTs;
* the login service: ``POST /{tenant}/oauth2/v2.0/token`` (recorded in ``token_requests``);
* the OpenID metadata and JWKS of a locally generated RSA key (``sign`` makes tokens);
* image (and ``.ogg`` voice) bytes at ``GET /attachments/{name}`` (the Authorization headers seen are recorded).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.teams.auth import Cloud
from fakes import start_on_loopback

FIXTURES = Path(__file__).parent / "fixtures" / "teams"
APP_ID = "00000000-0000-0000-0000-00000000b07"
ISSUER = "https://api.botframework.com"
KID = "nik-test-key"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Sent:
    conversation_id: str
    reply_to: str | None
    activity: dict[str, Any]
    authorization: str | None
    id: str = ""  # the id the connector gave the message (a channel post's id is its thread's root)

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")

    @property
    def type(self) -> str:
        return str(self.activity.get("type"))

    def cards(self) -> list[dict[str, Any]]:
        return [
            a["content"]
            for a in self.activity.get("attachments") or ()
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    def submits(self) -> list[tuple[str, str]]:
        """(title, our data) of every Action.Submit in this message's cards."""
        found = []
        for card in self.cards():
            for item in card.get("body", []):
                for action in item.get("actions", []):
                    if action.get("type") == "Action.Submit":
                        found.append((action["title"], action["data"]["nik"]))
        return found


@dataclass
class FakeBotFramework:
    images: dict[str, bytes] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    updates: list[Sent] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    image_auth: list[str | None] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses for the next message POSTs
    drop_next: int = 0  # the next message POSTs are read, then the connection is cut (did it arrive?)
    attempts: int = 0  # message POSTs received, failed ones included
    _key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    _runner: web.AppRunner | None = None
    _port: int = 0
    _ids: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def service_url(self) -> str:
        return f"{self.url}/teams/"

    def cloud(self) -> Cloud:
        return Cloud(
            openid_metadata_url=f"{self.url}/openid",
            token_issuer=ISSUER,
            login_url=f"{self.url}/botframework.com",
            oauth_scope="https://api.botframework.com",
        )

    async def __aenter__(self) -> FakeBotFramework:
        app = web.Application()
        app.router.add_get("/openid", self._openid)
        app.router.add_get("/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_post("/teams/v3/conversations/{cid}/activities", self._post)
        app.router.add_post("/teams/v3/conversations/{cid}/activities/{reply_to}", self._post)
        app.router.add_put("/teams/v3/conversations/{cid}/activities/{aid}", self._put)
        app.router.add_get("/attachments/{name}", self._image)
        self._runner, self._port = await start_on_loopback(app)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    # -- tokens ------------------------------------------------------------------------

    def sign(
        self, *, algorithm: str = "RS256", key: Any = None, headers: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        """A channel token for ``APP_ID`` and this fake's service URL; ``claims`` override."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": APP_ID,
            "serviceurl": self.service_url,
            "nbf": now - 60,
            "exp": now + 3600,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self._key, algorithm=algorithm, headers={"kid": KID, **(headers or {})})

    def activity(self, name: str, **changes: Any) -> dict[str, Any]:
        """A recorded activity fixture, pointed at this fake (``serviceUrl``), with ``changes``."""
        data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
        data["serviceUrl"] = self.service_url
        for attachment in data.get("attachments") or ():
            if str(attachment.get("contentUrl", "")).startswith("{fake}"):
                attachment["contentUrl"] = attachment["contentUrl"].replace("{fake}", self.url)
        data.update(copy.deepcopy(changes))
        return data

    # -- waiting -----------------------------------------------------------------------

    def messages(self) -> list[Sent]:
        return [s for s in self.sent if s.type == "message"]

    async def wait_for(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; sent so far: {[s.text or s.activity for s in self.sent]}")
            await asyncio.sleep(0.02)

    # -- handlers ----------------------------------------------------------------------

    async def _openid(self, _: web.Request) -> web.Response:
        return web.json_response({"issuer": ISSUER, "jwks_uri": f"{self.url}/keys"})

    async def _keys(self, _: web.Request) -> web.Response:
        numbers = self._key.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "use": "sig",
            "kid": KID,
            "n": _b64(numbers.n),
            "e": _b64(numbers.e),
            "endorsements": ["msteams", "emulator"],
        }
        return web.json_response({"keys": [jwk]})

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({"tenant": request.match_info["tenant"], **{k: str(v) for k, v in form.items()}})
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3600, "access_token": f"bot-token-{len(self.token_requests)}"}
        )

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("type") == "message":
            self.attempts += 1
        if body.get("type") == "message" and self.drop_next:
            self.drop_next -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never reaches the client
        if body.get("type") == "message" and self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"error": {"code": "Throttled", "message": "scripted"}}, status=status)
        self._ids += 1
        self.sent.append(
            Sent(
                request.match_info["cid"],
                request.match_info.get("reply_to"),
                body,
                request.headers.get("Authorization"),
                f"bot-{self._ids}",
            )
        )
        return web.json_response({"id": f"bot-{self._ids}"}, status=201)

    async def _put(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.updates.append(
            Sent(request.match_info["cid"], request.match_info["aid"], body, request.headers.get("Authorization"))
        )
        return web.json_response({"id": request.match_info["aid"]})

    async def _image(self, request: web.Request) -> web.Response:
        self.image_auth.append(request.headers.get("Authorization"))
        data = self.images.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        kind = "audio/ogg" if request.match_info["name"].endswith(".ogg") else "image/png"
        return web.Response(body=data, content_type=kind)
