"""OAuth 2.0 endpoints for machines: token, revocation, introspection, keys."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from auth.errors import InvalidRequestError, OAuthError
from auth.forms import parse_form
from auth.metadata import create_metadata
from handlers.auth_mixin import BASIC_CHALLENGE
from handlers.base import BaseHandler

log = logging.getLogger("integration_gateway.handlers.oauth")

T = TypeVar("T")


class OAuthEndpointHandler(BaseHandler):
    """Base of endpoints that respond with JSON and ``Cache-Control: no-store``."""

    def check_xsrf_cookie(self) -> None:
        # Clients authenticate themselves; there is no cookie to protect.
        return

    def read_form(self) -> dict[str, str]:
        """Return the form body; the query string may not carry parameters."""
        if self.request.query:
            raise InvalidRequestError(
                "Parameters are accepted only in the request body."
            )
        return parse_form(self.request.body, self.request.headers.get("Content-Type"))

    @overload
    async def call_endpoint(
        self, create_response: Callable[..., Awaitable[T]]
    ) -> T | None: ...

    @overload
    async def call_endpoint(self, create_response: Callable[..., T]) -> T | None: ...

    async def call_endpoint(self, create_response: Callable[..., Any]) -> Any:
        """Pass the form and the client credentials to ``create_response``.

        Returns its result, awaited if it is awaitable, or None after writing
        the OAuth error it raised.
        """
        try:
            form = self.read_form()
            result = create_response(
                form,
                self.request.headers.get("Authorization"),
                remote_addr=self.remote_addr,
                request_id=self.request_id,
            )
            if inspect.isawaitable(result):
                result = await result
        except OAuthError as error:
            self.write_oauth_error(error)
            return None
        return result

    def set_no_store_headers(self) -> None:
        # RFC 6749 §5.1: token responses must not be cached.
        self.set_header("Cache-Control", "no-store")
        self.set_header("Pragma", "no-cache")

    def write_oauth_json(self, body: dict[str, Any], status_code: int = 200) -> None:
        self.set_no_store_headers()
        self.write_json(body, status_code)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Pragma", "no-cache")
        super().write_error(status_code, **kwargs)

    def write_oauth_error(self, error: OAuthError) -> None:
        if error.status_code == 401:
            self.set_header("WWW-Authenticate", BASIC_CHALLENGE)
        self.write_oauth_json(error.to_dict(), error.status_code)


class TokenHandler(OAuthEndpointHandler):
    """``POST /o/token/``: RFC 6749 §3.2."""

    def read_form(self) -> dict[str, str]:
        try:
            return super().read_form()
        except OAuthError as error:
            # The token endpoint audits the requests it rejects, but a form
            # rejected here never reaches it.
            self.gateway.token_endpoint.record_refusal(
                error, "", None, self.remote_addr, self.request_id
            )
            raise

    async def post(self) -> None:
        endpoint = self.gateway.token_endpoint
        body = await self.call_endpoint(endpoint.create_token_response)
        if body is not None:
            self.write_oauth_json(body)


class RevocationHandler(OAuthEndpointHandler):
    """``POST /o/revoke/``: RFC 7009 §2."""

    async def post(self) -> None:
        endpoint = self.gateway.revocation
        kind = await self.call_endpoint(endpoint.create_revocation_response)
        if kind is None:
            return
        # RFC 7009 §2.2: 200 whether or not the token was known, with no body.
        self.set_no_store_headers()
        self.clear_header("Content-Type")
        self.finish()


class IntrospectionHandler(OAuthEndpointHandler):
    """``POST /o/introspect/``: RFC 7662 §2, for resource servers only."""

    async def post(self) -> None:
        endpoint = self.gateway.introspection
        body = await self.call_endpoint(endpoint.create_introspection_response)
        if body is not None:
            self.write_oauth_json(body)


class MetadataHandler(BaseHandler):
    """``GET /.well-known/oauth-authorization-server``: RFC 8414 §3."""

    def get(self) -> None:
        gateway = self.gateway
        metadata = create_metadata(
            gateway.issuer,
            gateway.token_endpoint.grant_types,
            gateway.registry.names(),
        )
        self.set_header("Cache-Control", "public, max-age=300")
        self.write_json(metadata)


class JWKSHandler(BaseHandler):
    """``GET /o/jwks/``: the public keys that verify access tokens."""

    def get(self) -> None:
        # A rotated key signs at once, so resource servers that cache this
        # document must fetch it again soon; they also should on an unknown kid.
        self.set_header("Cache-Control", "public, max-age=60")
        self.write_json(self.gateway.keys.jwks)
