"""Logging and auditing of refused requests at the OAuth endpoints."""

from __future__ import annotations

import logging

from auth.client_auth import ClientAuthenticationError
from auth.errors import OAuthError
from auth.log_text import clip_for_log
from models.audit import FAILURE, record_event

log = logging.getLogger("integration_gateway.auth.refusals")

AUTH_FAILURE = "auth.failure"


def record_refusal(
    action: str,
    error: OAuthError,
    client_id: str | None,
    remote_addr: str | None,
    request_id: str | None,
    target: str | None,
) -> None:
    """Log and audit a refused request to the endpoint of ``action``.

    A failed client authentication is audited as ``auth.failure``; any other
    refusal under ``action`` itself.
    """
    detail = error.error
    if error.log_detail:
        detail += ": " + error.log_detail
    log.info(
        "%s refused: error=%s client_id=%r target=%r request_id=%s %s",
        action,
        error.error,
        clip_for_log(client_id) if client_id is not None else None,
        clip_for_log(target, 40) if target is not None else None,
        request_id,
        error.log_detail,
    )
    failed_authentication = isinstance(error, ClientAuthenticationError)
    record_event(
        AUTH_FAILURE if failed_authentication else action,
        FAILURE,
        client_id=client_id,
        auth_method="client" if failed_authentication else None,
        target=target,
        remote_addr=remote_addr,
        request_id=request_id,
        detail=detail,
    )
