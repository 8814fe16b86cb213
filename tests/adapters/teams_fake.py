"""A fake Bot Framework on 127.0.0.1, speaking the wire protocol the Teams adapter uses.

One aiohttp server plays every Microsoft endpoint:

* the connector (the activity's ``serviceUrl``): ``POST /v3/conversations/{id}/activities``
  and ``…/activities/{replyToId}`` (recorded in ``sent``), ``PUT …/activities/{id}``
  (recorded in ``updates``); ``fail_next`` scripts error statuses for the next POSTs;
* Teams' streaming protocol on those POSTs (``streaminfo`` entities): the first update
  answered 201 with the stream id, later ones 202; refused as Teams refuses them: a
  start without text or not numbered 1 (400), a streaming text that does not extend
  the last one or an informative update after it (400), a request sooner than
  ``stream_every`` after the previous one (429, counted in ``throttled``), any request
  to a finished stream, past ``stream_seconds`` or after the user pressed Stop
  (``stop_after`` updates; 403 ``ContentStreamNotAllowed``);
  an out-of-order sequence is dropped (202 ``ContentStreamSequenceOrderPreConditionFailed``);
* the login service: ``POST /{tenant}/oauth2/v2.0/token`` (recorded in ``token_requests``);
* the OpenID metadata and JWKS of a locally generated RSA key (``sign`` makes tokens);
* image (and ``.ogg`` voice) bytes at ``GET /attachments/{name}`` (the Authorization headers seen are recorded);
* OneDrive's upload session of a file-consent card: ``PUT /upload/{name}`` (bytes and headers in ``uploads``),
  whose URL ``consent_invoke`` puts into the ``fileConsent/invoke`` it builds.
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


def stream_info(activity: dict[str, Any]) -> dict[str, Any] | None:
    """The activity's ``streaminfo`` entity, if it has one."""
    for entity in activity.get("entities") or ():
        if isinstance(entity, dict) and str(entity.get("type", "")).lower() == "streaminfo":
            return entity
    return None


@dataclass
class _Stream:
    started: float
    last: float
    sequence: int
    text: str = ""  # the streamed text shown so far
    done: bool = False


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
    stream_every: float = 0.0  # seconds a stream's requests must be apart (Teams: 1)
    stream_seconds: float = 120.0  # a stream's lifetime
    throttled: int = 0  # streaming requests refused with 429
    refused: list[tuple[int, str]] = field(default_factory=list)  # (status, text) of refused streaming requests
    stop_after: int | None = None  # the user presses Stop once a stream has had this many updates
    streaming_allowed: bool = True  # False: Teams refuses to stream to this bot (403)
    uploads: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)  # name → (bytes, headers)
    hold_updates: asyncio.Event | None = None  # a stream's later updates are recorded, then answered once it is set
    _streams: dict[str, _Stream] = field(default_factory=dict)
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
        app.router.add_put("/upload/{name}", self._upload)
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

    def consent_invoke(self, card: dict[str, Any], action: str, base: str = "personal_message") -> dict[str, Any]:
        """The ``fileConsent/invoke`` Teams sends when the user answers the consent ``card`` (an attachment)."""
        name = str(card["name"])
        value: dict[str, Any] = {"type": "fileUpload", "action": action}
        value["context"] = card["content"]["acceptContext" if action == "accept" else "declineContext"]
        if action == "accept":
            value["uploadInfo"] = {
                "contentUrl": f"{self.url}/drive/{name}",
                "name": name,
                "uploadUrl": f"{self.url}/upload/{name}",
                "uniqueId": "drive-item-1",
                "fileType": name.rsplit(".", 1)[-1],
            }
        invoke = self.activity(base, type="invoke", value=value, text=None, id="invoke-1")
        invoke["name"] = "fileConsent/invoke"
        return invoke

    # -- waiting -----------------------------------------------------------------------

    def messages(self) -> list[Sent]:
        return [s for s in self.sent if s.type == "message"]

    def streamed(self) -> list[Sent]:
        """The accepted activities of streams (updates and final messages), in order."""
        return [s for s in self.sent if stream_info(s.activity) is not None]

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
        info = stream_info(body)
        if info is not None:
            refused = self._stream(body, info)
            if refused is not None:
                self.refused.append((refused.status, str(body.get("text") or "")))
                return refused
        self._ids += 1
        streamed = info is not None and info.get("streamId")  # a stream's message has the stream's id
        self._record(request, body, str(info["streamId"]) if info is not None and streamed else f"bot-{self._ids}")
        if streamed:
            if body.get("type") == "typing" and self.hold_updates is not None:
                await self.hold_updates.wait()  # a slow connector: the bot waits for this answer
            return web.json_response({}, status=202)
        if info is not None:
            self._streams[f"bot-{self._ids}"] = _Stream(time.monotonic(), time.monotonic(), 1, _streaming(body, info))
        return web.json_response({"id": f"bot-{self._ids}"}, status=201)

    def _stream(self, body: dict[str, Any], info: dict[str, Any]) -> web.Response | None:
        """Teams' checks of a streaming request; None when it is accepted (and the stream advanced)."""
        kind = info.get("streamType", "streaming")
        stream_id = info.get("streamId")
        if stream_id is None:
            if not self.streaming_allowed:
                return _refuse(403, "ContentStreamNotAllowed", "Content stream is not allowed")
            if body.get("type") != "typing" or kind == "final" or info.get("streamSequence") != 1:
                return _refuse(400, "BadRequest", "A stream starts with a typing activity numbered 1")
            if not body.get("text"):
                return _refuse(400, "BadRequest", "Start streaming activities should include text")
            return None
        stream = self._streams.get(str(stream_id))
        if stream is None:
            return _refuse(400, "BadRequest", "Unknown stream")
        now = time.monotonic()
        if stream.done:
            message = "Content stream is not allowed on an already completed streamed message"
            return _refuse(403, "ContentStreamNotAllowed", message)
        if self.stop_after is not None and stream.sequence >= self.stop_after:
            return _refuse(403, "ContentStreamNotAllowed", "Content stream was cancelled by user.")
        if now - stream.started > self.stream_seconds:
            return _refuse(403, "ContentStreamNotAllowed", "Content stream finished due to exceeded streaming time.")
        if now - stream.last < self.stream_every:
            self.throttled += 1
            return _refuse(429, "Throttled", "API calls quota exceeded")
        stream.last = now
        if kind == "final":
            if body.get("type") != "message" or "streamSequence" in info:
                return _refuse(400, "BadRequest", "The final message is a message without a sequence")
            stream.done = True
            return None
        sequence = info.get("streamSequence")
        if body.get("type") != "typing" or not isinstance(sequence, int):
            return _refuse(400, "BadRequest", "Stream updates are typing activities with a sequence")
        if sequence <= stream.sequence:
            message = "PreCondition failed exception when processing streaming activity."
            return _refuse(202, "ContentStreamSequenceOrderPreConditionFailed", message)
        text = str(body.get("text") or "")
        if kind == "informative" and stream.text:
            return _refuse(400, "BadRequest", "Informative updates come before the streamed text")
        if kind == "streaming" and not text.startswith(stream.text):
            return _refuse(400, "BadRequest", "A streamed text must contain the text streamed before")
        stream.sequence = sequence
        stream.text = _streaming(body, info) or stream.text
        return None

    def _record(self, request: web.Request, body: dict[str, Any], activity_id: str) -> None:
        self.sent.append(
            Sent(
                request.match_info["cid"],
                request.match_info.get("reply_to"),
                body,
                request.headers.get("Authorization"),
                activity_id,
            )
        )

    async def _put(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.updates.append(
            Sent(request.match_info["cid"], request.match_info["aid"], body, request.headers.get("Authorization"))
        )
        return web.json_response({"id": request.match_info["aid"]})

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["name"]] = (await request.read(), dict(request.headers))
        return web.json_response({"id": "drive-item-1", "name": request.match_info["name"]}, status=201)

    async def _image(self, request: web.Request) -> web.Response:
        self.image_auth.append(request.headers.get("Authorization"))
        data = self.images.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        kind = "audio/ogg" if request.match_info["name"].endswith(".ogg") else "image/png"
        return web.Response(body=data, content_type=kind)


def _streaming(body: dict[str, Any], info: dict[str, Any]) -> str:
    """The text a streaming update shows ("" for an informative one)."""
    return str(body.get("text") or "") if info.get("streamType", "streaming") == "streaming" else ""


def _refuse(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
