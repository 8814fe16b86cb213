"""Bot Framework authentication, both ways.

**Inbound** (``TokenValidator``): every ``POST /api/messages`` carries a JWT signed by
the Bot Framework. We check the signature against the keys of the OpenID metadata
document (``jwks_uri``; a key's ``endorsements`` must name the activity's channel),
the algorithm (RS256/384/512 only, never ``none``), the issuer, the audience (our
app id), expiry and not-before (5 minutes leeway, as botbuilder allows), and that the
token's ``serviceurl`` claim equals the activity's ``serviceUrl``.

Why not botbuilder's own validation (``JwtTokenExtractor``)? It fetches the keys with
blocking ``requests`` on the event loop and reports a bad token as bare ``Exception``
or ``IndexError`` (so a 401 would need a broad catch); PyJWT with our own async key
cache gives typed errors. Everything else is botbuilder's: ``NikAuthentication``
implements the library's public ``BotFrameworkAuthentication`` and hands connector
and user-token clients out of ``ConfigurationBotFrameworkAuthentication``, configured
with the cloud's URLs (``Cloud``: tests point them at loopback).

**Outbound** (``SecretCredentialsFactory``, a ``ServiceClientCredentialsFactory``):
the client-credentials grant against the cloud's login URL
(``<login_url>/oauth2/v2.0/token``), fetched asynchronously before a connector is
used and cached until shortly before it expires; botbuilder's MSAL credentials
would fetch synchronously on the event loop, once per turn, and MSAL accepts only
``https`` authorities (so no loopback fake). ``UserAssignedMSI`` apps use the
library's managed-identity factory unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import jwt
import requests
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    ManagedIdentityServiceClientCredentialsFactory,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512")
LEEWAY_SECONDS = 300
KEYS_MAX_AGE = 24 * 3600.0
KEYS_MIN_REFRESH = 300.0  # an unknown key id refetches the keys at most this often
TOKEN_EARLY_SECONDS = 300.0  # renew an access token this long before it expires
CONNECTOR_TIMEOUT_SECONDS = 20  # one connector request; msrest's default is 100 s
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True, slots=True)
class Cloud:
    """Where the Bot Framework lives (the public Azure cloud unless a test says otherwise)."""

    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    token_issuer: str = "https://api.botframework.com"
    login_url: str = "https://login.microsoftonline.com/botframework.com"  # <login_url>/oauth2/v2.0/token
    oauth_scope: str = "https://api.botframework.com"
    oauth_url: str = "https://api.botframework.com"  # the user-token service (unused by Nik)


PUBLIC_CLOUD = Cloud()


class AuthError(Exception):
    """The request's token is missing or invalid: answer 401, store nothing."""


class KeysUnavailable(Exception):
    """The signing keys could not be fetched: answer 503 so that the channel retries."""


class TokenUnavailable(Exception):
    """No access token for outbound calls (wrong secret, login service down)."""


SessionOf = Callable[[], aiohttp.ClientSession]


@dataclass
class _Keys:
    fetched_at: float = float("-inf")
    keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...]]] = field(default_factory=dict)


class TokenValidator:
    def __init__(self, cloud: Cloud, app_id: str, session_of: SessionOf) -> None:
        self._cloud = cloud
        self._app_id = app_id
        self._session_of = session_of
        self._keys = _Keys()
        self._lock = asyncio.Lock()

    async def validate(self, header: str, activity: Activity) -> dict[str, Any]:
        """The token's claims, or ``AuthError``."""
        scheme, _, token = header.strip().partition(" ")
        if scheme != "Bearer" or not token or " " in token.strip():
            raise AuthError("no bearer token")
        try:
            head = jwt.get_unverified_header(token.strip())
        except jwt.PyJWTError as error:
            raise AuthError(f"unreadable token: {error}") from None
        algorithm, kid = head.get("alg"), head.get("kid")
        if algorithm not in ALGORITHMS or not isinstance(kid, str):
            raise AuthError(f"algorithm {algorithm!r} / key id {kid!r} not accepted")
        key, endorsements = await self._key(kid)
        if endorsements and (activity.channel_id or "") not in endorsements:
            raise AuthError(f"key {kid} is not endorsed for channel {activity.channel_id!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                key.key,
                algorithms=[algorithm],
                audience=self._app_id,
                issuer=self._cloud.token_issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise AuthError(f"invalid token: {error}") from None
        if claims.get("serviceurl") != activity.service_url:
            raise AuthError("the token's serviceurl claim does not match the activity")
        return claims

    async def _key(self, kid: str) -> tuple[jwt.PyJWK, tuple[str, ...]]:
        async with self._lock:
            age = time.monotonic() - self._keys.fetched_at
            if age > KEYS_MAX_AGE or (kid not in self._keys.keys and age > KEYS_MIN_REFRESH):
                self._keys = await self._fetch()
        found = self._keys.keys.get(kid)
        if found is None:
            raise AuthError(f"unknown signing key {kid}")
        return found

    async def _fetch(self) -> _Keys:
        session = self._session_of()
        try:
            async with session.get(self._cloud.openid_metadata_url, timeout=HTTP_TIMEOUT) as response:
                response.raise_for_status()
                jwks_uri = str((await response.json(content_type=None))["jwks_uri"])
            async with session.get(jwks_uri, timeout=HTTP_TIMEOUT) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as error:
            raise KeysUnavailable(f"OpenID metadata {self._cloud.openid_metadata_url}: {error!r}") from None
        keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...]]] = {}
        for entry in document.get("keys", ()) if isinstance(document, dict) else ():
            try:
                keys[str(entry["kid"])] = (jwt.PyJWK(entry), tuple(entry.get("endorsements") or ()))
            except (jwt.PyJWTError, KeyError, TypeError) as error:
                log.warning("skipping an unusable signing key: %s", error)
        log.info("fetched %d Bot Framework signing keys", len(keys))
        return _Keys(time.monotonic(), keys)


class SecretCredentials(AppCredentials):
    """An app id + secret's access token for one scope, renewed by ``refresh``."""

    def __init__(self, app_id: str, secret: str, token_url: str, scope: str) -> None:
        super().__init__(app_id=app_id, oauth_scope=scope)
        self._secret = secret
        self.token_url = token_url
        self._token = ""
        self._expires = 0.0

    @property
    def fresh(self) -> bool:
        return bool(self._token) and time.time() < self._expires - TOKEN_EARLY_SECONDS

    def _form(self) -> dict[str, str]:
        scope = self.oauth_scope if self.oauth_scope.endswith("/.default") else f"{self.oauth_scope}/.default"
        return {
            "grant_type": "client_credentials",
            "client_id": self.microsoft_app_id,
            "client_secret": self._secret,
            "scope": scope,
        }

    def _keep(self, status: int, body: object) -> str:
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            detail = body.get("error", status) if isinstance(body, dict) else status
            raise TokenUnavailable(f"token request to {self.token_url} failed: {detail}")
        self._token = body["access_token"]
        self._expires = time.time() + float(body.get("expires_in", 3600))
        return self._token

    async def refresh(self, session: aiohttp.ClientSession) -> str:
        """The current token, fetched first when it is missing or about to expire."""
        if self.fresh:
            return self._token
        try:
            async with session.post(self.token_url, data=self._form(), timeout=HTTP_TIMEOUT) as response:
                body = await response.json(content_type=None)
                return self._keep(response.status, body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise TokenUnavailable(f"token request to {self.token_url} failed: {error!r}") from None

    def get_access_token(self, force_refresh: bool = False) -> str:
        """msrest asks synchronously; ``refresh`` ran just before, so this is normally the cached token."""
        if self.fresh and not force_refresh:
            return self._token
        try:
            response = requests.post(self.token_url, data=self._form(), timeout=15)
            return self._keep(response.status_code, response.json())
        except (requests.RequestException, ValueError) as error:
            raise TokenUnavailable(f"token request to {self.token_url} failed: {error!r}") from None


class SecretCredentialsFactory(ServiceClientCredentialsFactory):
    """Credentials of one app (multi- or single-tenant), one cached token per scope."""

    def __init__(self, app_id: str, secret: str, tenant_id: str | None, session_of: SessionOf) -> None:
        self._app_id = app_id
        self._secret = secret
        self._tenant_id = tenant_id
        self._session_of = session_of
        self._credentials: dict[tuple[str, str], SecretCredentials] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(self._app_id) and app_id == self._app_id

    async def is_authentication_disabled(self) -> bool:
        return not self._app_id

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> AppCredentials:
        if not self._app_id:
            return MicrosoftAppCredentials.empty()
        if app_id != self._app_id:
            raise PermissionError(f"credentials asked for a foreign app id {app_id!r}")
        authority = login_endpoint.rstrip("/")
        if self._tenant_id:  # single-tenant: the app's own tenant instead of botframework.com
            authority = f"{authority.rsplit('/', 1)[0]}/{self._tenant_id}"
        key = (oauth_scope, authority)
        credentials = self._credentials.get(key)
        if credentials is None:
            token_url = f"{authority}/oauth2/v2.0/token"
            credentials = self._credentials[key] = SecretCredentials(app_id, self._secret, token_url, oauth_scope)
        await credentials.refresh(self._session_of())
        return credentials


class _BoundedConnectorFactory(ConnectorFactory):
    """The library's connector, without msrest's own retries (they re-send a POST after a read
    timeout: duplicates) and with a shorter timeout; ``outbound.deliver`` retries instead."""

    def __init__(self, inner: ConnectorFactory) -> None:
        self._inner = inner

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        client = await self._inner.create(service_url, audience)
        client.config.retry_policy.retries = 0
        client.config.connection.timeout = CONNECTOR_TIMEOUT_SECONDS
        return client


class NikAuthentication(BotFrameworkAuthentication):
    """Our token validation in, botbuilder's configured connectors out."""

    def __init__(
        self,
        cloud: Cloud,
        credentials: ServiceClientCredentialsFactory,
        validator: TokenValidator | None,
    ) -> None:
        configuration = SimpleNamespace(
            TO_CHANNEL_FROM_BOT_LOGIN_URL=cloud.login_url,
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=cloud.oauth_scope,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=cloud.token_issuer,
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=cloud.openid_metadata_url,
            OAUTH_URL=cloud.oauth_url,
        )
        self._inner = ConfigurationBotFrameworkAuthentication(configuration, credentials_factory=credentials)
        self._cloud = cloud
        self._validator = validator  # None: authentication disabled (development only)

    async def claims(self, activity: Activity, auth_header: str) -> ClaimsIdentity:
        """The caller's identity, or ``AuthError`` / ``KeysUnavailable``."""
        if self._validator is None:
            return ClaimsIdentity({}, True, "anonymous")
        return ClaimsIdentity(await self._validator.validate(auth_header, activity), True)

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        identity = await self.claims(activity, auth_header)
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self._cloud.oauth_scope
        result.connector_factory = self.create_connector_factory(identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        raise AuthError("Nik does not accept streaming connections")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _BoundedConnectorFactory(self._inner.create_connector_factory(claims_identity))

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self._inner.create_user_token_client(claims_identity)

    def get_originating_audience(self) -> str:
        return self._cloud.oauth_scope


def credentials_factory(
    app_id: str | None, secret: str | None, tenant_id: str | None, app_type: str, session_of: SessionOf
) -> ServiceClientCredentialsFactory:
    """The outbound credentials the settings describe (see ``TeamsPlatform`` for the checks)."""
    if app_type.lower() == "userassignedmsi" and app_id:
        return ManagedIdentityServiceClientCredentialsFactory(app_id)
    single = app_type.lower() == "singletenant"
    return SecretCredentialsFactory(app_id or "", secret or "", tenant_id if single else None, session_of)
