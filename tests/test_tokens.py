"""Access tokens (RFC 9068 JWTs), the key ring and the JWKS (RFC 7517)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth.clients import create_client
from auth.errors import InvalidTokenError
from auth.keys import (
    ALGORITHM,
    RETIRED_KEY_MARGIN_SECONDS,
    KeyRing,
    create_signing_key,
)
from auth.tokens import AccessTokenService
from handlers.gateway import Gateway
from models.base import utcnow
from models.clients import CLIENT_CREDENTIALS, query_client
from models.state import SigningKey
from models.tokens import AccessToken, revoke_tokens
from models.users import User, set_active

ISSUER = "http://127.0.0.1:8000"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def claims_for(record: AccessToken, **changes: Any) -> dict[str, Any]:
    """Return valid claims for ``record``; a change of None drops that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": record.user.username,
        "aud": ISSUER,
        "exp": now + 600,
        "iat": now,
        "jti": record.jti,
        "client_id": record.client_id,
        "scope": record.scope,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(gateway: Gateway, claims: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "at+jwt", "kid": gateway.keys.signing_kid, **header}
    return jwt.encode(
        claims, gateway.keys.signing_key, algorithm=ALGORITHM, headers=headers
    )


# A registered client: tokens of unknown clients are not usable.
CLIENT_ID = "partner-app-client-1"


def issue(gateway: Gateway, user: User) -> tuple[str, AccessToken]:
    if query_client(CLIENT_ID) is None:
        create_client(
            gateway.client_secret_key,
            name="Partner app",
            grant_types=[CLIENT_CREDENTIALS],
            service_account=user,
            client_id=CLIENT_ID,
        )
    return gateway.tokens.issue(user, CLIENT_ID, "integration:echo")


def assert_rejected(gateway: Gateway, token: str, log_detail: str) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        gateway.tokens.verify(token)
    assert caught.value.error == "invalid_token"
    assert caught.value.status_code == 401
    assert caught.value.log_detail == log_detail


def test_issued_token_profile(gateway: Gateway, service_account: User) -> None:
    token, record = issue(gateway, service_account)

    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] == gateway.keys.signing_kid

    claims = gateway.tokens.decode(token)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == ISSUER
    assert claims["sub"] == "partner-sa"
    assert claims["client_id"] == CLIENT_ID
    assert claims["scope"] == "integration:echo"
    assert claims["jti"] == record.jti
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 5


def test_jti_recorded(gateway: Gateway, service_account: User) -> None:
    _, record = issue(gateway, service_account)
    stored = AccessToken.get(AccessToken.jti == record.jti)

    assert stored.user_id == service_account.id
    assert stored.client_id == CLIENT_ID
    assert stored.scope == "integration:echo"
    assert stored.revoked_at is None
    lifetime = stored.expires_at - stored.issued_at
    assert lifetime == datetime.timedelta(seconds=3600)


def test_verify_returns_record_and_user(
    gateway: Gateway, service_account: User
) -> None:
    token, record = issue(gateway, service_account)

    verified = gateway.tokens.verify(token)

    assert verified.jti == record.jti
    assert verified.username == "partner-sa"


def test_jwks_verifies_token(gateway: Gateway, service_account: User) -> None:
    token, _ = issue(gateway, service_account)
    jwks = jwt.PyJWKSet.from_dict(gateway.keys.jwks)

    key = jwks[gateway.keys.signing_kid]
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=ISSUER)

    assert claims["sub"] == "partner-sa"
    published = gateway.keys.jwks["keys"][0]
    assert published["kty"] == "EC"
    assert published["crv"] == "P-256"
    assert published["alg"] == "ES256"
    assert published["use"] == "sig"
    assert "d" not in published


def test_application_at_jwt_typ_accepted(
    gateway: Gateway, service_account: User
) -> None:
    _, record = issue(gateway, service_account)
    token = sign(gateway, claims_for(record), typ="application/at+JWT")

    assert gateway.tokens.verify(token).jti == record.jti


@pytest.mark.parametrize("typ", ["JWT", "", "at+jwt+x"])
def test_wrong_typ_rejected(gateway: Gateway, service_account: User, typ: str) -> None:
    _, record = issue(gateway, service_account)
    token = sign(gateway, claims_for(record), typ=typ)

    assert_rejected(gateway, token, "token typ is not at+jwt")


@pytest.mark.parametrize("typ", [1, ["at+jwt"], {"at": "jwt"}, None])
def test_non_string_typ_rejected(
    gateway: Gateway, service_account: User, typ: Any
) -> None:
    _, record = issue(gateway, service_account)
    header = {"alg": "ES256", "kid": gateway.keys.signing_kid, "typ": typ}
    signing_input = b64json(header) + "." + b64json(claims_for(record))

    token = signing_input + "." + b64url(b"\x00" * 64)

    assert_rejected(gateway, token, "token typ is not at+jwt")


def test_unknown_kid_rejected(gateway: Gateway, service_account: User) -> None:
    _, record = issue(gateway, service_account)

    assert_rejected(
        gateway, sign(gateway, claims_for(record), kid="other"), "token kid is unknown"
    )
    assert_rejected(
        gateway, sign(gateway, claims_for(record), kid=""), "token kid is unknown"
    )


def test_non_string_kid_rejected(gateway: Gateway, service_account: User) -> None:
    _, record = issue(gateway, service_account)
    header = {"alg": "ES256", "typ": "at+jwt", "kid": ["x"]}
    token = b64json(header) + "." + b64json(claims_for(record)) + ".c2ln"

    assert_rejected(gateway, token, "token is not a JWT")


def test_other_key_with_same_kid_rejected(
    gateway: Gateway, service_account: User
) -> None:
    _, record = issue(gateway, service_account)
    other_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        claims_for(record),
        other_key,
        algorithm="ES256",
        headers={"typ": "at+jwt", "kid": gateway.keys.signing_kid},
    )

    assert_rejected(gateway, token, "token rejected: InvalidSignatureError")


def test_alg_none_rejected(gateway: Gateway, service_account: User) -> None:
    _, record = issue(gateway, service_account)
    header = {"alg": "none", "typ": "at+jwt", "kid": gateway.keys.signing_kid}

    token = b64json(header) + "." + b64json(claims_for(record)) + "."

    assert_rejected(gateway, token, "token rejected: InvalidAlgorithmError")


def test_hs256_with_public_key_rejected(
    gateway: Gateway, service_account: User
) -> None:
    # The classic confusion attack: an HMAC keyed with the published key.
    _, record = issue(gateway, service_account)
    public_pem = gateway.keys.public_keys[gateway.keys.signing_kid].public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": gateway.keys.signing_kid}
    signing_input = b64json(header) + "." + b64json(claims_for(record))
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    token = signing_input + "." + b64url(mac)

    assert_rejected(gateway, token, "token rejected: InvalidAlgorithmError")


@pytest.mark.parametrize(
    ("changes", "error_class"),
    [
        ({"aud": "https://elsewhere.example.com"}, "InvalidAudienceError"),
        ({"aud": None}, "MissingRequiredClaimError"),
        ({"iss": "https://elsewhere.example.com"}, "InvalidIssuerError"),
        ({"iss": None}, "MissingRequiredClaimError"),
        ({"exp": int(time.time()) - 10}, "ExpiredSignatureError"),
        ({"exp": None}, "MissingRequiredClaimError"),
        ({"jti": None}, "MissingRequiredClaimError"),
        ({"client_id": None}, "MissingRequiredClaimError"),
        ({"sub": None}, "MissingRequiredClaimError"),
        ({"iat": "yesterday"}, "InvalidIssuedAtError"),
    ],
)
def test_bad_claims_rejected(
    gateway: Gateway,
    service_account: User,
    changes: dict[str, Any],
    error_class: str,
) -> None:
    _, record = issue(gateway, service_account)
    token = sign(gateway, claims_for(record, **changes))

    assert_rejected(gateway, token, f"token rejected: {error_class}")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "....."])
def test_not_a_jwt(gateway: Gateway, token: str) -> None:
    assert_rejected(gateway, token, "token is not a JWT")


def test_unrecorded_jti_rejected(gateway: Gateway, service_account: User) -> None:
    _, record = issue(gateway, service_account)
    token = sign(gateway, claims_for(record, jti="f" * 32))

    assert_rejected(gateway, token, "token is revoked, expired or inactive")


def test_revoked_token_rejected(gateway: Gateway, service_account: User) -> None:
    token, record = issue(gateway, service_account)

    assert revoke_tokens(AccessToken.jti == record.jti) == 1

    assert_rejected(gateway, token, "token is revoked, expired or inactive")


def test_expired_record_rejected(gateway: Gateway, service_account: User) -> None:
    # The signature may still be inside exp when the record has expired.
    token, record = issue(gateway, service_account)
    AccessToken.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        AccessToken.jti == record.jti
    ).execute()

    assert_rejected(gateway, token, "token is revoked, expired or inactive")


def test_inactive_user_rejected(gateway: Gateway, service_account: User) -> None:
    token, _ = issue(gateway, service_account)

    set_active(service_account, False)

    assert_rejected(gateway, token, "token is revoked, expired or inactive")


def test_subject_must_match_record(
    gateway: Gateway, service_account: User, make_user: Any
) -> None:
    make_user("someone-else")
    _, record = issue(gateway, service_account)
    token = sign(gateway, claims_for(record, sub="someone-else"))

    assert_rejected(gateway, token, "token subject does not match")


def test_keys_persist_across_loads(gateway: Gateway) -> None:
    ring = KeyRing(3600)
    ring.load()

    assert ring.signing_kid == gateway.keys.signing_kid
    assert SigningKey.select().count() == 1


def test_signing_key_before_load() -> None:
    ring = KeyRing(3600)

    with pytest.raises(RuntimeError, match="no signing key is loaded"):
        ring.signing_key  # noqa: B018


def test_signing_key_after_load(gateway: Gateway) -> None:
    ring = KeyRing(3600)
    ring.load()

    public_key = ring.signing_key.public_key()
    assert public_key.public_numbers() == (
        ring.public_keys[ring.signing_kid].public_numbers()
    )


def test_rotation_keeps_old_tokens_valid(
    gateway: Gateway, service_account: User
) -> None:
    old_kid = gateway.keys.signing_kid
    old_token, _ = issue(gateway, service_account)

    new_key = create_signing_key()
    gateway.keys.load()
    new_token, _ = issue(gateway, service_account)

    assert gateway.keys.signing_kid == new_key.kid != old_kid
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    assert {key["kid"] for key in gateway.keys.jwks["keys"]} == {old_kid, new_key.kid}
    assert gateway.tokens.verify(old_token).username == "partner-sa"
    assert gateway.tokens.verify(new_token).username == "partner-sa"


def test_retired_key_dropped_after_token_lifetime(
    gateway: Gateway, service_account: User
) -> None:
    old_kid = gateway.keys.signing_kid
    old_token, _ = issue(gateway, service_account)
    create_signing_key()
    long_ago = utcnow() - datetime.timedelta(
        seconds=3600 + RETIRED_KEY_MARGIN_SECONDS + 1
    )
    SigningKey.update(retired_at=long_ago).where(SigningKey.kid == old_kid).execute()

    gateway.keys.load()

    assert old_kid not in gateway.keys.public_keys
    assert gateway.keys.delete_expired_keys() == 1
    assert_rejected(gateway, old_token, "token kid is unknown")


def test_token_service_audience_is_issuer(gateway: Gateway) -> None:
    service = AccessTokenService(gateway.keys, "https://gw.example.com", 60)

    assert service.audience == "https://gw.example.com"
