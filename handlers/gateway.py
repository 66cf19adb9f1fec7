"""The objects every handler shares, built once when the application starts."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import sys
import threading

from auth.authorization import AuthorizationEndpoint
from auth.basic_auth import BasicAuthenticator
from auth.clients import CLIENT_SECRET_KEY
from auth.credential_cache import CredentialCache
from auth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    Grant,
    RefreshTokenGrant,
)
from auth.introspection import IntrospectionEndpoint
from auth.keys import KeyRing
from auth.login_throttle import LoginThrottle
from auth.passwords import PasswordHasher
from auth.refresh_tokens import RefreshTokenService
from auth.revocation_endpoint import RevocationEndpoint
from auth.sessions import SessionService
from auth.token_endpoint import TokenEndpoint
from auth.tokens import AccessTokenService
from auth.user_auth import UserAuthenticator
from config import Settings
from models.batch import GroupWriter
from models.changes import tracker
from models.state import ensure_secret
from plugins.loader import IntegrationRegistry

log = logging.getLogger("integration_gateway.handlers.gateway")

COOKIE_SECRET_KEY = "cookie_secret"  # noqa: S105 - a name, not a secret
REALM = "integration-gateway"


@dataclasses.dataclass
class Gateway:
    settings: Settings
    registry: IntegrationRegistry
    keys: KeyRing
    tokens: AccessTokenService
    token_endpoint: TokenEndpoint
    hasher: PasswordHasher
    authenticator: UserAuthenticator
    #: Web sessions of people logged in to the pages.
    sessions: SessionService
    #: Counts failed logins to the pages and rejects guessing.
    login_throttle: LoginThrottle
    #: Checks Basic credentials of the partner API under the login throttle.
    basic_auth: BasicAuthenticator
    #: Key of the keyed digests under which client secrets are stored.
    client_secret_key: str
    cookie_secret: str
    #: Threads for bcrypt.
    password_executor: concurrent.futures.ThreadPoolExecutor
    #: Threads for plugins whose ``run`` is a plain function.
    plugin_executor: concurrent.futures.ThreadPoolExecutor
    #: Thread for the admin pages' queries that read many rows.
    report_executor: concurrent.futures.ThreadPoolExecutor
    #: Commits the rows of integration calls and token issuance in groups.
    writer: GroupWriter
    refresh_tokens: RefreshTokenService
    revocation: RevocationEndpoint
    introspection: IntrospectionEndpoint
    authorization: AuthorizationEndpoint

    @property
    def issuer(self) -> str:
        return self.settings.issuer_url

    def close(self) -> None:
        self.password_executor.shutdown(wait=False, cancel_futures=True)
        self.plugin_executor.shutdown(wait=False, cancel_futures=True)
        self.report_executor.shutdown(wait=False, cancel_futures=True)


# Nice value of the bcrypt threads. A flood of wrong passwords then slows the
# password checks, not the event loop that serves every other request.
BCRYPT_THREAD_NICENESS = 10


def lower_thread_priority() -> None:
    """Lower the scheduling priority of the calling thread, on Linux only.

    Linux applies ``setpriority`` to a single thread when given its id; other
    systems would apply it to the whole process, so they are left alone.
    """
    if sys.platform != "linux":
        return
    try:
        os.setpriority(
            os.PRIO_PROCESS, threading.get_native_id(), BCRYPT_THREAD_NICENESS
        )
    except OSError as error:
        log.warning("could not lower the priority of a bcrypt thread: %s", error)


def build_gateway(settings: Settings, registry: IntegrationRegistry) -> Gateway:
    """Assemble the shared objects; the database must be open and migrated."""
    password_executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=settings.worker_threads,
        thread_name_prefix="bcrypt",
        initializer=lower_thread_priority,
    )
    plugin_executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=settings.worker_threads, thread_name_prefix="plugin"
    )
    hasher = PasswordHasher(settings.bcrypt_rounds, password_executor)
    cache = CredentialCache(settings.basic_auth_cache_seconds)
    authenticator = UserAuthenticator(
        hasher, cache, max_pending=settings.worker_threads * 8
    )

    login_throttle = LoginThrottle(
        settings.login_throttle_max_failures,
        settings.login_throttle_window_seconds,
    )

    keys = KeyRing(settings.access_token_lifetime_seconds)
    keys.load()
    tokens = AccessTokenService(
        keys, settings.issuer_url, settings.access_token_lifetime_seconds
    )
    client_secret_key = ensure_secret(CLIENT_SECRET_KEY)
    refresh_tokens = RefreshTokenService(
        settings.refresh_token_idle_lifetime_seconds,
        settings.refresh_token_absolute_lifetime_seconds,
    )
    grants: list[Grant] = [
        ClientCredentialsGrant(tokens),
        AuthorizationCodeGrant(tokens, refresh_tokens),
        RefreshTokenGrant(tokens, refresh_tokens),
    ]
    tracker.poll_seconds = settings.change_poll_seconds
    writer = GroupWriter()
    token_endpoint = TokenEndpoint(grants, client_secret_key, writer)

    return Gateway(
        settings=settings,
        registry=registry,
        keys=keys,
        tokens=tokens,
        token_endpoint=token_endpoint,
        hasher=hasher,
        authenticator=authenticator,
        sessions=SessionService(
            settings.session_idle_lifetime_seconds,
            settings.session_absolute_lifetime_seconds,
        ),
        login_throttle=login_throttle,
        basic_auth=BasicAuthenticator(authenticator, login_throttle),
        client_secret_key=client_secret_key,
        cookie_secret=ensure_secret(COOKIE_SECRET_KEY, 48),
        password_executor=password_executor,
        plugin_executor=plugin_executor,
        # One thread: concurrent dashboards queue instead of scanning the
        # same rows side by side.
        report_executor=concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="report"
        ),
        writer=writer,
        refresh_tokens=refresh_tokens,
        revocation=RevocationEndpoint(tokens, client_secret_key),
        introspection=IntrospectionEndpoint(tokens, client_secret_key),
        authorization=AuthorizationEndpoint(
            settings.issuer_url,
            settings.authorization_code_lifetime_seconds,
            registry.names,
        ),
    )
