"""The auth mixin: resolves a request's credentials to a principal.

``Authorization: Basic`` (RFC 7617) resolves to the user or service account
with that password; ``Authorization: Bearer`` (RFC 6750) to the user behind the
access token. A request without usable credentials gets 401 with a challenge
per scheme; every failure is written to the audit trail.
"""

from __future__ import annotations

import logging

from auth.basic import (
    MalformedCredentialsError,
    parse_basic,
    parse_bearer,
    split_authorization,
)
from auth.basic_auth import ThrottledError
from auth.errors import InvalidTokenError
from auth.principal import BASIC, BEARER, Principal
from auth.scopes import integration_scope
from auth.user_auth import BusyError, touch_last_used
from handlers.base import ApiError, BaseHandler
from handlers.gateway import REALM
from models.audit import DENIED, FAILURE, record_event
from models.integration_state import check_integration_enabled, query_execute_facts
from models.users import EXECUTE, check_permission

log = logging.getLogger("integration_gateway.handlers.auth")

BASIC_CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'
BEARER_CHALLENGE = f'Bearer realm="{REALM}"'


def bearer_challenge(error: str, scope: str | None = None) -> str:
    challenge = f'{BEARER_CHALLENGE}, error="{error}"'
    if scope:
        challenge += f', scope="{scope}"'
    return challenge


class PrincipalMixin(BaseHandler):
    """Resolves ``self.principal`` in ``prepare()`` or raises 400, 401, 429 or 503."""

    principal: Principal

    def check_xsrf_cookie(self) -> None:
        # Callers authenticate with their Authorization header, never with a
        # cookie, so a forged cross-site request carries no credentials.
        return

    async def prepare(self) -> None:
        # Execute permissions and enable switches already read with the
        # token, by integration.
        self._may_execute: dict[str, bool] = {}
        self._enabled: dict[str, bool] = {}
        header = self.request.headers.get("Authorization")
        if header is None:
            raise self._unauthorized("missing", "Credentials are required.")
        try:
            scheme, credentials = split_authorization(header)
        except MalformedCredentialsError as error:
            self._record_failure(None, None, str(error))
            raise ApiError(
                400,
                "invalid_request",
                "The Authorization header is malformed.",
                log_detail=str(error),
            ) from None

        if scheme == "basic":
            self.principal = await self._authenticate_basic(credentials)
        elif scheme == "bearer":
            self.principal = self._authenticate_bearer(credentials)
        else:
            self._record_failure(None, None, "unsupported authorization scheme")
            raise self._unauthorized(
                "unsupported scheme", "Use Basic or Bearer credentials."
            )

    async def _authenticate_basic(self, credentials: str) -> Principal:
        try:
            username, password = parse_basic(credentials)
        except MalformedCredentialsError as error:
            self._record_failure(None, BASIC, str(error))
            raise ApiError(
                400,
                "invalid_request",
                "The Basic credentials are malformed.",
                log_detail=str(error),
            ) from None
        basic_auth = self.gateway.basic_auth
        try:
            # A remembered credential is accepted without waiting for bcrypt.
            user = basic_auth.check_remembered(username, password, self.remote_addr)
            if user is None:
                user = await basic_auth.authenticate(
                    username, password, self.remote_addr
                )
        except BusyError:
            raise ApiError(
                503,
                "temporarily_unavailable",
                "Too many password checks are in progress; retry shortly.",
                headers={"Retry-After": "1"},
                log_detail="password check queue is full",
            ) from None
        except ThrottledError as error:
            raise self._throttled(username, error) from None
        if user is None:
            self._record_failure(username, BASIC, "invalid username or password")
            raise self._unauthorized(
                "bad password", "The username or password is invalid."
            )
        touch_last_used(user.id, user.last_used_at)
        target = self.target_integration()
        if target:
            may_execute, enabled = query_execute_facts(user.id, target)
            self._may_execute[target] = may_execute
            self._enabled[target] = enabled
        return Principal(
            user_id=user.id,
            username=user.username,
            kind=user.kind,
            auth_method=BASIC,
        )

    def _throttled(self, username: str, error: ThrottledError) -> ApiError:
        # Only attempts recorded as failures are audited, because they are
        # bounded per address and a flood from a throttled address is not.
        if error.recorded:
            self._record_failure(username, BASIC, "throttled")
        return ApiError(
            429,
            "too_many_requests",
            "Too many failed attempts for this username or from this address."
            " Retry after the number of seconds in Retry-After.",
            headers={"Retry-After": str(error.retry_after)},
            log_detail="Basic authentication throttled",
        )

    def _authenticate_bearer(self, credentials: str) -> Principal:
        try:
            token = parse_bearer(credentials)
            record = self.gateway.tokens.verify(token, self.target_integration())
        except (MalformedCredentialsError, InvalidTokenError) as error:
            detail = getattr(error, "log_detail", "") or str(error)
            self._record_failure(None, BEARER, detail)
            raise self._unauthorized(
                detail,
                "The access token is invalid, expired or revoked.",
                error="invalid_token",
            ) from None
        touch_last_used(record.user_id, record.last_used_at)
        target = self.target_integration()
        if target:
            self._may_execute[target] = record.may_execute
            self._enabled[target] = record.integration_enabled
        return Principal(
            user_id=record.user_id,
            username=record.username,
            kind=record.kind,
            auth_method=BEARER,
            client_id=record.client_id,
            scopes=frozenset(record.scope.split()),
            token_id=record.jti,
        )

    def _unauthorized(
        self, log_detail: str, description: str, error: str = "unauthorized"
    ) -> ApiError:
        bearer = BEARER_CHALLENGE
        if error == "invalid_token":
            bearer = bearer_challenge("invalid_token")
        return ApiError(
            401,
            error,
            description,
            headers={"WWW-Authenticate": [BASIC_CHALLENGE, bearer]},
            log_detail=log_detail,
        )

    def _record_failure(
        self, username: str | None, auth_method: str | None, detail: str
    ) -> None:
        record_event(
            "auth.failure",
            FAILURE,
            actor=username,
            auth_method=auth_method,
            target=self.request.path,
            remote_addr=self.remote_addr,
            request_id=self.request_id,
            detail=detail,
        )

    def target_integration(self) -> str:
        """Return the integration this request is about, or an empty string.

        A bearer request reads the principal's execute permission on it along
        with the token, saving a query on the hot path.
        """
        return ""

    def integration_enabled(self, integration: str) -> bool:
        """Return whether staff left ``integration`` enabled."""
        known = self._enabled.get(integration)
        if known is not None:
            return known
        return check_integration_enabled(integration)

    def may_execute(self, integration: str) -> bool:
        """Return whether the principal may execute ``integration`` now."""
        scopes = self.principal.scopes
        if scopes is not None and integration_scope(integration) not in scopes:
            return False
        known = self._may_execute.get(integration)
        if known is not None:
            return known
        return check_permission(self.principal.user_id, integration, EXECUTE)

    def forbidden(self, integration: str) -> ApiError:
        """Build the 403 for a principal that may not execute ``integration``."""
        headers: dict[str, str | list[str]] = {}
        scopes = self.principal.scopes
        if scopes is not None and integration_scope(integration) not in scopes:
            headers["WWW-Authenticate"] = bearer_challenge(
                "insufficient_scope", integration_scope(integration)
            )
            return ApiError(
                403,
                "insufficient_scope",
                "The access token's scope does not include this integration.",
                headers=headers,
            )
        return ApiError(
            403,
            "forbidden",
            "The caller may not execute this integration.",
        )

    def record_denied(self, action: str, target: str | None, detail: str) -> None:
        record_event(
            action,
            DENIED,
            actor=self.principal.username,
            auth_method=self.principal.auth_method,
            client_id=self.principal.client_id,
            target=target,
            remote_addr=self.remote_addr,
            request_id=self.request_id,
            detail=detail,
        )
