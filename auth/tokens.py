"""Access tokens as JWTs in the RFC 9068 profile, recorded by ``jti``.

The signature proves the token came from this gateway; the ``jti`` row proves
it has not been revoked. Both are checked on every use.
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import time
from typing import Any

import jwt

from auth.errors import InvalidTokenError
from auth.keys import ALGORITHM, ALLOWED_ALGORITHMS, KeyRing
from auth.secrets import new_ordered_id
from models.base import utcnow
from models.tokens import (
    INSERT_TOKEN,
    AccessToken,
    LiveToken,
    query_live_token_row,
    token_row,
)
from models.users import User

VERIFIED_CACHE_SIZE = 10_000
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
        # Claims of tokens whose signature was already verified, keyed by the
        # token's SHA-256, so that a token reused by a partner is checked once.
        self._verified: collections.OrderedDict[bytes, dict[str, Any]] = (
            collections.OrderedDict()
        )

    def issue(
        self,
        user: User,
        client_id: str,
        scope: str,
        grant_id: str | None = None,
    ) -> tuple[str, AccessToken]:
        """Sign a token for ``user`` and record it; the caller commits.

        The returned record carries the token's fields but not its row id.
        """
        token, record = self.sign(user, client_id, scope, grant_id)
        INSERT_TOKEN.execute(**token_row(record))
        return token, record

    def sign(
        self,
        user: User,
        client_id: str,
        scope: str,
        grant_id: str | None = None,
    ) -> tuple[str, AccessToken]:
        """Sign a token for ``user`` without recording it.

        The caller must insert ``token_row(record)`` before handing the token
        out, because a token without its row is rejected as revoked.
        """
        now = utcnow().replace(microsecond=0)
        expires_at = now + datetime.timedelta(seconds=self.lifetime_seconds)
        # Ordered by time, so the unique index on jti grows at its end.
        jti = new_ordered_id()
        record = AccessToken(
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
        """Verify the signature and claims of ``token`` and return the claims.

        A token verified before is looked up in memory instead; only its
        expiry is checked again.
        """
        digest = hashlib.sha256(token.encode()).digest()
        claims = self._verified.get(digest)
        if claims is not None:
            if claims["exp"] > time.time():
                return claims
            del self._verified[digest]
        claims = self._decode(token)
        self._verified[digest] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def decode_ignoring_expiry(self, token: str) -> dict[str, Any]:
        """Verify ``token`` like :meth:`decode` but accept it after it expired.

        For revocation, where an expired token is still identified by its jti.
        """
        return self._decode(token, verify_expiry=False)

    def _decode(self, token: str, verify_expiry: bool = True) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError(log_detail="token is not a JWT") from None
        # The header is attacker-controlled JSON, so typ may be any type.
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TOKEN_TYPES:
            raise InvalidTokenError(log_detail="token typ is not at+jwt")
        # PyJWT has already rejected a kid that is not a string.
        kid = header.get("kid", "")
        public_key = self.keys.public_keys.get(kid)
        if public_key is None and self.keys.reload_for_unknown_kid(kid):
            # Another gateway process rotated the signing key.
            public_key = self.keys.public_keys.get(kid)
        if public_key is None:
            raise InvalidTokenError(log_detail="token kid is unknown")
        try:
            return jwt.decode(
                token,
                public_key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED_CLAIMS, "verify_exp": verify_expiry},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(
                log_detail=f"token rejected: {type(error).__name__}"
            ) from None

    def verify(self, token: str, integration: str = "") -> LiveToken:
        """Return the live token behind ``token``; raise ``InvalidTokenError``.

        Live means signed by a current key, unexpired, not revoked, and issued
        to a user who is still active. The user's execute permission on
        ``integration`` comes back in the same query.
        """
        claims = self.decode(token)
        record = query_live_token_row(str(claims["jti"]), integration)
        if record is None:
            raise InvalidTokenError(log_detail="token is revoked, expired or inactive")
        if record.username != claims["sub"]:
            raise InvalidTokenError(log_detail="token subject does not match")
        return record
