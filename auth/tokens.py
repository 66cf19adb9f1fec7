"""Access tokens as JWTs in the RFC 9068 profile, recorded by ``jti``.

The signature proves the token came from this gateway; the ``jti`` row proves
it has not been revoked. Both are checked on every use.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import jwt

from auth.errors import InvalidTokenError
from auth.keys import ALGORITHM, ALLOWED_ALGORITHMS, KeyRing
from models.base import utcnow
from models.tokens import AccessToken, query_live_token
from models.users import User

TOKEN_TYPE_HEADER = "at+jwt"  # noqa: S105 - RFC 9068 media type
_TOKEN_TYPES = (TOKEN_TYPE_HEADER, "application/at+jwt")
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]


class AccessTokenService:
    """Issues and verifies the gateway's access tokens."""

    def __init__(self, keys: KeyRing, issuer: str, lifetime_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        # The gateway is its own resource server.
        self.audience = issuer
        self.lifetime_seconds = lifetime_seconds

    def issue(
        self,
        user: User,
        client_id: str,
        scope: str,
        grant_id: str | None = None,
    ) -> tuple[str, AccessToken]:
        """Sign a token for ``user`` and record it; the caller commits."""
        now = utcnow()
        expires_at = now + datetime.timedelta(seconds=self.lifetime_seconds)
        jti = uuid.uuid4().hex
        record = AccessToken.create(
            jti=jti,
            client_id=client_id,
            user=user,
            scope=scope,
            issued_at=now,
            expires_at=expires_at,
            grant_id=grant_id,
        )
        issued = int(now.replace(tzinfo=datetime.UTC).timestamp())
        claims = {
            "iss": self.issuer,
            "sub": user.username,
            "aud": self.audience,
            "exp": issued + self.lifetime_seconds,
            "iat": issued,
            "jti": jti,
            "client_id": client_id,
            "scope": scope,
        }
        headers = {"typ": TOKEN_TYPE_HEADER, "kid": self.keys.signing_kid}
        token = jwt.encode(
            claims, self.keys.signing_key, algorithm=ALGORITHM, headers=headers
        )
        return token, record

    def decode(self, token: str) -> dict[str, Any]:
        """Verify the signature and claims of ``token`` and return the claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError(log_detail="token is not a JWT") from None
        # The header is attacker-controlled JSON, so typ may be any type.
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TOKEN_TYPES:
            raise InvalidTokenError(log_detail="token typ is not at+jwt")
        # PyJWT has already rejected a kid that is not a string.
        public_key = self.keys.public_keys.get(header.get("kid", ""))
        if public_key is None:
            raise InvalidTokenError(log_detail="token kid is unknown")
        try:
            return jwt.decode(
                token,
                public_key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(
                log_detail=f"token rejected: {type(error).__name__}"
            ) from None

    def verify(self, token: str) -> AccessToken:
        """Return the live token record behind ``token``, with its user loaded."""
        claims = self.decode(token)
        record = query_live_token(str(claims["jti"]))
        if record is None:
            raise InvalidTokenError(log_detail="token is revoked or expired")
        if not record.user.is_active or record.user.username != claims["sub"]:
            raise InvalidTokenError(log_detail="token user is inactive")
        return record
