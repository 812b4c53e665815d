"""The App's JWTs (the requests for installation tokens) are signed with its key read once."""

from __future__ import annotations

import jwt
import pytest

from bot.config import Settings
from bot.forge.github import GitHubApp
from tests.fakes.github.auth import generate_key_pair


def app_with_key(pem: str) -> GitHubApp:
    return GitHubApp(
        Settings(github_app_id="4242", github_private_key=pem, github_webhook_secret="s")
    )


def test_jwts_are_signed_with_the_app_key_read_once():
    pem, public_pem = generate_key_pair()
    app = app_with_key(pem)
    app.warm()
    read = app._key.key()
    tokens = [app._auth.create_jwt() for _ in range(2)]
    assert app._key.key() is read  # (not read again for the JWTs)
    for token in tokens:
        claims = jwt.decode(token, public_pem, algorithms=["RS256"])
        assert claims["iss"] == "4242" and claims["exp"] > claims["iat"]
    assert jwt.get_unverified_header(tokens[0])["alg"] == "RS256"


def test_a_key_that_is_not_one_fails_when_a_jwt_is_signed_as_pyjwt_failed():
    app = app_with_key("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(jwt.InvalidKeyError):
        app.warm()
    with pytest.raises(jwt.InvalidKeyError):
        app._auth.create_jwt()
