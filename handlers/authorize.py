"""``GET/POST /o/authorize/``: the consent page of the authorization code flow.

GET validates the request, sends a user without a session to the login page
and back, and shows the consent page (or, for a confidential client whose
approval is remembered, redirects with a code at once). POST carries the
user's decision with the xsrf token and redirects with 303 (RFC 6749 §4.1.2,
RFC 9207). The protocol rules live in :mod:`auth.authorization`.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any

import tornado.web

from auth.authorization import AuthorizationRequest, decode_arguments
from auth.client_auth import check_client_id_syntax
from auth.consents import remember_consent, revoke_authorization
from auth.errors import (
    AccessDeniedError,
    AuthorizationPageError,
    InvalidRequestError,
    OAuthError,
)
from auth.next_path import MAX_NEXT_LENGTH
from auth.scopes import INTEGRATION_PREFIX
from handlers.web import PageError, PageHandler
from models.audit import DENIED, SUCCESS, record_event
from models.base import database
from models.clients import query_client
from models.users import User

log = logging.getLogger("integration_gateway.handlers.authorize")

AUTHORIZE_PATH = "/o/authorize/"
APPROVE = "approve"
DENY = "deny"
APPROVE_ACTION = "authorization.approve"
DENY_ACTION = "authorization.deny"
REVOKE_ACTION = "authorization.revoke"


class AuthorizeHandler(PageHandler):
    """The authorization endpoint for people: consent, then a code."""

    def get(self) -> None:
        request = self._parse(self.request.query_arguments)
        if request.error is not None:
            self._redirect_error(request, request.error)
            return
        user = self.current_user
        if user is None:
            # Back to this very request after the login.
            query = urllib.parse.urlencode({"next": self.request.uri})
            if len(query) > MAX_NEXT_LENGTH:
                error = InvalidRequestError(
                    "The authorization request is too long to resume after the login.",
                    log_detail=f"login query of {len(query)} characters",
                )
                self._redirect_error(request, error)
                return
            self.redirect(f"{self.get_login_url()}?{query}")
            return
        try:
            scopes = self.gateway.authorization.resolve_scopes(request, user)
        except OAuthError as error:
            self._redirect_error(request, error)
            return
        endpoint = self.gateway.authorization
        if endpoint.check_remembered_consent(request, user, scopes):
            self._approve(request, user, scopes, remembered=True)
            return
        self._render_consent(request, user, scopes)

    def post(self) -> None:
        # Tornado has checked the xsrf token before this method runs.
        request = self._parse(self.request.body_arguments)
        user = self.current_user
        if user is None:
            # The session ended while the consent page was open: log in again
            # and come back to the same request.
            fields = self._fields(request, request.scopes)
            next_path = AUTHORIZE_PATH + "?" + urllib.parse.urlencode(fields)
            query = urllib.parse.urlencode({"next": next_path})
            self.redirect(f"{self.get_login_url()}?{query}", status=303)
            return
        if request.error is not None:
            self._redirect_error(request, request.error, status=303)
            return
        try:
            scopes = self.gateway.authorization.resolve_scopes(request, user)
        except OAuthError as error:
            self._redirect_error(request, error, status=303)
            return

        decision = self.get_body_argument("decision", "")
        if decision == APPROVE:
            remember_consent(user, request.client, scopes)
            self._approve(request, user, scopes, remembered=False)
        elif decision == DENY:
            self._audit(DENY_ACTION, DENIED, user, request, "denied by the user")
            self._redirect_error(request, AccessDeniedError(), status=303)
        else:
            raise PageError(
                400,
                "invalid_request",
                "Choose Approve or Deny on the consent page.",
                log_detail="decision missing or unknown",
            )

    def _parse(self, arguments: Mapping[str, list[bytes]]) -> AuthorizationRequest:
        try:
            decoded = decode_arguments(arguments)
            return self.gateway.authorization.parse_request(decoded)
        except AuthorizationPageError as error:
            log.info(
                "authorization request rejected: %s request_id=%s",
                error.log_detail or error.description,
                self.request_id,
            )
            raise PageError(
                400, error.error, error.description, log_detail=error.log_detail
            ) from None

    def _approve(
        self,
        request: AuthorizationRequest,
        user: User,
        scopes: frozenset[str],
        remembered: bool,
    ) -> None:
        with database.atomic():
            location = self.gateway.authorization.create_code_redirect(
                request, user, scopes
            )
            # Set inside the transaction: a location that Tornado rejects as a
            # header value rolls the code back instead of leaving it stored.
            self._set_location(location)
            detail = "remembered consent" if remembered else "approved by the user"
            self._audit(APPROVE_ACTION, SUCCESS, user, request, detail)
        log.info(
            "code issued: client_id=%s user=%s (%s) request_id=%s",
            request.client.client_id,
            user.username,
            detail,
            self.request_id,
        )
        # A POSTed form gets 303, never 307, so that the browser does not
        # post the form and its xsrf token on to the client.
        self.set_status(302 if remembered else 303)
        self.finish()

    def _set_location(self, location: str) -> None:
        try:
            self.set_header("Location", location)
        except ValueError:
            # Tornado's message repeats the value, code included, so neither
            # the message nor a traceback may reach the log.
            raise PageError(
                500,
                "server_error",
                "The gateway could not build the redirect to the application.",
                log_detail="redirect location is not a valid header value",
            ) from None

    def _redirect_error(
        self, request: AuthorizationRequest, error: OAuthError, status: int = 302
    ) -> None:
        log.info(
            "authorization error sent to client_id=%s: %s %s request_id=%s",
            request.client.client_id,
            error.error,
            error.log_detail,
            self.request_id,
        )
        location = self.gateway.authorization.create_error_redirect(request, error)
        self.redirect(location, status=status)

    def _audit(
        self,
        action: str,
        outcome: str,
        user: User,
        request: AuthorizationRequest,
        detail: str,
    ) -> None:
        record_event(
            action,
            outcome,
            actor=user.username,
            auth_method="session",
            client_id=request.client.client_id,
            target=request.client.client_id,
            remote_addr=self.remote_addr,
            request_id=self.request_id,
            detail=detail,
        )

    @staticmethod
    def _fields(
        request: AuthorizationRequest, scopes: frozenset[str] | None
    ) -> list[tuple[str, str]]:
        """Return the request's parameters for the consent form's hidden fields."""
        fields = [("response_type", "code"), ("client_id", request.client.client_id)]
        if request.redirect_uri_sent:
            fields.append(("redirect_uri", request.redirect_uri))
        if request.state is not None:
            fields.append(("state", request.state))
        if request.code_challenge is not None:
            fields.append(("code_challenge", request.code_challenge))
            fields.append(
                ("code_challenge_method", request.code_challenge_method or "")
            )
        if scopes is not None:
            fields.append(("scope", " ".join(sorted(scopes))))
        return fields

    def _render_consent(
        self, request: AuthorizationRequest, user: User, scopes: frozenset[str]
    ) -> None:
        registry = self.gateway.registry
        items: list[dict[str, Any]] = []
        for scope in sorted(scopes):
            name = scope.removeprefix(INTEGRATION_PREFIX)
            loaded = registry.get(name)
            integration = loaded.integration if loaded else None
            items.append(
                {
                    "scope": scope,
                    "title": integration.title if integration else name,
                    "description": integration.description if integration else "",
                }
            )
        # The resolved scope is posted explicitly, so the user approves
        # exactly what this page lists.
        fields = self._fields(request, scopes)
        self.render_page(
            "consent.html",
            client=request.client,
            user=user,
            scopes=items,
            redirect_uri=request.redirect_uri,
            fields=fields,
        )


class RevokeAuthorizationHandler(PageHandler):
    """``POST /authorizations/revoke``: the user withdraws a client's access."""

    @tornado.web.authenticated
    def post(self) -> None:
        user = self.current_user
        client_id = self.get_body_argument("client_id", "")
        client = query_client(client_id) if check_client_id_syntax(client_id) else None
        if client is None:
            raise PageError(
                404, "not_found", "No application with this client id was found."
            )
        with database.atomic():
            counts = revoke_authorization(user, client)
            record_event(
                REVOKE_ACTION,
                SUCCESS,
                actor=user.username,
                auth_method="session",
                client_id=client.client_id,
                target=client.client_id,
                remote_addr=self.remote_addr,
                request_id=self.request_id,
                detail=f"{counts.total} tokens revoked",
            )
        self.redirect(self.home_path(user), status=303)
