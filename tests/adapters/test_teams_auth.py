"""Who may post to /api/messages: locally signed JWTs against a loopback OpenID/JWKS document.

A rejected request gets 401 (415 for a wrong Content-Type), is not stored and causes
no outbound call: no token request, no message."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from teams_fake import APP_ID, ISSUER, KID, FakeBotFramework
from teams_harness import serving, teams_settings

from adapters.serve import running
from adapters.teams import TeamsPlatform
from bot.config import Settings
from bot.errors import ConfigError
from bot.runtime.composition import Nik
from fakes import Text
from knowledge.service import KnowledgeBase


def bad_tokens(fake: FakeBotFramework) -> dict[str, str]:
    """Authorization headers that must be refused, by what is wrong with them."""
    now = int(time.time())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": APP_ID, "serviceurl": fake.service_url, "exp": now + 600},
        None,
        algorithm="none",
        headers={"kid": KID},
    )
    return {
        "expired": f"Bearer {fake.sign(exp=now - 3600, nbf=now - 7200)}",
        "not yet valid": f"Bearer {fake.sign(nbf=now + 3600)}",
        "wrong audience": f"Bearer {fake.sign(aud='11111111-2222-3333-4444-555555555555')}",
        "wrong issuer": f"Bearer {fake.sign(iss='https://evil.example.com')}",
        "no issuer": f"Bearer {fake.sign(iss=None)}",
        "wrong service url": f"Bearer {fake.sign(serviceurl='https://attacker.example.com/')}",
        "no service url": f"Bearer {fake.sign(serviceurl=None)}",
        "no expiry": f"Bearer {fake.sign(exp=None)}",
        "alg none": f"Bearer {unsigned}",
        "HS256 with the key id": f"Bearer {fake.sign(algorithm='HS256', key='k' * 32)}",
        "signed by another key": f"Bearer {fake.sign(key=stranger)}",
        "unknown key id": f"Bearer {fake.sign(headers={'kid': 'other-key'})}",
        "garbage": "Bearer not.a.jwt",
        "garbage bytes": "Bearer %%%%",
        "basic auth": "Basic dXNlcjpwYXNz",
        "bearer without token": "Bearer ",
        "two words": f"Bearer {fake.sign()} extra",
        "empty": "",
    }


async def test_bad_tokens_are_refused_and_nothing_is_stored_or_sent(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb) as teams:
        message = teams.fake.activity("personal_message")
        for why, header in bad_tokens(teams.fake).items():
            status, _ = await teams.post(message, authorization=header)
            assert status == 401, why
        status, _ = await teams.post(message, token=None)
        assert status == 401, "no Authorization header"
        status, _ = await teams.post(teams.fake.activity("personal_message", channelId="slack"))
        assert status == 401, "the key is not endorsed for this channel"
        await teams.nik.dispatcher.drain()
        assert await teams.stored() == 0
        assert teams.fake.sent == [] and teams.fake.token_requests == [] and teams.llm.requests == []


async def test_a_valid_token_is_accepted_and_the_answer_uses_the_bots_token(
    kb_dir: Path, sample_kb: KnowledgeBase
) -> None:
    async with serving(kb_dir, sample_kb, [Text("Hallo Anna.")]) as teams:
        status, _ = await teams.post(teams.fake.activity("personal_message"))
        assert status == 201
        await teams.fake.wait_for(lambda: bool(teams.fake.messages()))
        assert await teams.stored() == 1
    [answer] = teams.fake.messages()
    assert answer.text.startswith("Hallo Anna.")
    assert answer.authorization == "Bearer bot-token-1"
    [token_request] = teams.fake.token_requests  # fetched once, cached for the turn's requests
    assert token_request["tenant"] == "botframework.com"
    assert token_request["grant_type"] == "client_credentials"
    assert token_request["client_id"] == APP_ID and token_request["client_secret"] == "s3cret-test-password"
    assert token_request["scope"] == "https://api.botframework.com/.default"


async def test_content_type_and_body_are_checked_before_anything_else(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with serving(kb_dir, sample_kb) as teams:
        message = teams.fake.activity("personal_message")
        assert (await teams.post(message, content_type="text/plain"))[0] == 415
        assert (await teams.post(message, content_type=None))[0] == 415
        assert (await teams.post("{not json", content_type="application/json"))[0] == 400
        assert (await teams.post("[1, 2]", content_type="application/json"))[0] == 400
        assert await teams.stored() == 0 and teams.fake.sent == []


def test_without_an_app_id_teams_refuses_to_start_in_production(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    for extra in ({"NIK_TEAMS": "true"}, {"NIK_ENV": "development"}, {"NIK_ENV": "production", "NIK_TEAMS": "true"}):
        settings = teams_settings(kb_dir, "http://127.0.0.1:9/v1", TEAMS_APP_ID="", **extra)
        with pytest.raises(ConfigError, match="NIK_ENV=development"):
            TeamsPlatform(_nik_stub(settings))


def test_an_app_id_needs_its_secret_and_a_known_type(kb_dir: Path) -> None:
    with pytest.raises(ConfigError, match="TEAMS_APP_PASSWORD"):
        TeamsPlatform(_nik_stub(teams_settings(kb_dir, "http://127.0.0.1:9/v1", TEAMS_APP_PASSWORD="")))
    with pytest.raises(ConfigError, match="TEAMS_APP_TENANT_ID"):
        TeamsPlatform(_nik_stub(teams_settings(kb_dir, "http://127.0.0.1:9/v1", TEAMS_APP_TYPE="SingleTenant")))
    with pytest.raises(ConfigError, match="TEAMS_APP_TYPE"):
        TeamsPlatform(_nik_stub(teams_settings(kb_dir, "http://127.0.0.1:9/v1", TEAMS_APP_TYPE="Whatever")))


async def test_development_mode_runs_without_authentication(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    async with FakeBotFramework() as fake:
        settings = Settings.model_validate(
            {
                "NIK_DATA_DIR": str(kb_dir),
                "NIK_HOST": "127.0.0.1",
                "NIK_PORT": "0",
                "NIK_ENV": "development",
                "NIK_TEAMS": "true",
            }
        )

        def platform(nik: Nik) -> TeamsPlatform:
            return TeamsPlatform(nik, cloud=fake.cloud())

        async with running(settings, knowledge=sample_kb, factories=[platform]) as server:
            import aiohttp

            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{server.port}/api/messages"
                async with http.post(url, json=fake.activity("personal_message", text="help")) as response:
                    assert response.status == 201
            await fake.wait_for(lambda: bool(fake.messages()))
    [reply] = fake.messages()
    assert "/help" in reply.text and reply.authorization is None  # nobody to authenticate to
    assert fake.token_requests == []


def _nik_stub(settings: Settings) -> Nik:
    """TeamsPlatform reads only the settings while it checks them."""
    return Nik(settings, None, None, None, None, None, None, None, None, (), None)  # type: ignore[arg-type]
