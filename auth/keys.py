"""Signing keys for access tokens and the JWKS that publishes them (RFC 7517).

Keys are ECDSA P-256 (``ES256``), created on first start and stored in the
database. Rotation adds a key that signs from then on; an older key stays in
the JWKS and keeps verifying until every token it signed has expired.
Keys are parsed into key objects once, when the ring loads, not per token.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from models.base import database, utcnow
from models.state import SigningKey

log = logging.getLogger("integration_gateway.auth.keys")

ALGORITHM = "ES256"
#: The only algorithms a token may be verified with.
ALLOWED_ALGORITHMS = [ALGORITHM]


def _thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    # RFC 7638 thumbprint: SHA-256 over the required members in sorted order.
    jwk = json.loads(ECAlgorithm.to_jwk(public_key))
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def create_signing_key() -> SigningKey:
    """Generate a key, store it and retire the keys that signed before it."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    kid = _thumbprint(private_key.public_key())
    with database.atomic():
        now = utcnow()
        SigningKey.update(retired_at=now).where(
            SigningKey.retired_at.is_null()
        ).execute()
        key = SigningKey.create(kid=kid, algorithm=ALGORITHM, private_pem=pem)
    log.info("signing key %s created", kid)
    return key


#: A retired key keeps verifying for the token lifetime plus this margin. A
#: running server signs with a retired key until it reloads its keys, which
#: housekeeping does every 60 seconds, and the clocks of servers may differ.
RETIRED_KEY_MARGIN_SECONDS = 600
#: A token with an unknown kid reloads the keys at most this often, in case
#: another process rotated them. A shorter interval would let forged tokens
#: cost a query each.
UNKNOWN_KID_RELOAD_SECONDS = 5.0


class KeyRing:
    """The signing key and every key whose tokens may still be live."""

    def __init__(self, token_lifetime_seconds: int) -> None:
        self.token_lifetime_seconds = token_lifetime_seconds
        self.signing_kid = ""
        self._signing_key: ec.EllipticCurvePrivateKey | None = None
        self.public_keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self.jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = -UNKNOWN_KID_RELOAD_SECONDS

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The key that signs new tokens, available once :meth:`load` has run."""
        if self._signing_key is None:
            raise RuntimeError("no signing key is loaded, because load() has not run")
        return self._signing_key

    def reload_for_unknown_kid(self, kid: str) -> bool:
        """Reload the keys, at most every few seconds; return whether kid is known."""
        if time.monotonic() - self._loaded_at < UNKNOWN_KID_RELOAD_SECONDS:
            return False
        self.load()
        return kid in self.public_keys

    def load(self) -> None:
        """Read the keys from the database, creating the first one if needed."""
        self._loaded_at = time.monotonic()
        rows = list(
            SigningKey.select().where(
                SigningKey.retired_at.is_null()
                | (SigningKey.retired_at > self._verify_cutoff())
            )
        )
        if not any(row.retired_at is None for row in rows):
            rows.append(create_signing_key())

        public_keys = {}
        jwks = []
        signing_row = None
        for row in rows:
            private_key = serialization.load_pem_private_key(
                row.private_pem.encode("ascii"), password=None
            )
            if not isinstance(private_key, ec.EllipticCurvePrivateKey):
                raise RuntimeError(f"signing key {row.kid} is not an EC key")
            public_keys[row.kid] = private_key.public_key()
            jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
            jwk.update({"kid": row.kid, "alg": row.algorithm, "use": "sig"})
            jwks.append(jwk)
            if row.retired_at is None and (
                signing_row is None or row.created_at > signing_row.created_at
            ):
                signing_row = row
                self._signing_key = private_key

        if signing_row is None:
            raise RuntimeError("no signing key is available")
        self.signing_kid = signing_row.kid
        self.public_keys = public_keys
        self.jwks = {"keys": jwks}

    def _verify_cutoff(self) -> datetime.datetime:
        # A key retired before this moment signed no token that is still live.
        margin = self.token_lifetime_seconds + RETIRED_KEY_MARGIN_SECONDS
        return utcnow() - datetime.timedelta(seconds=margin)

    def delete_expired_keys(self) -> int:
        """Delete retired keys whose tokens have all expired."""
        query = SigningKey.delete().where(
            SigningKey.retired_at.is_null(False)
            & (SigningKey.retired_at <= self._verify_cutoff())
        )
        return int(query.execute())
