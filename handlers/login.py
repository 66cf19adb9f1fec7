"""``GET/POST /login`` and ``POST /logout``: sessions of people on the pages."""

from __future__ import annotations

import logging

from auth.login import (
    INVALID_CREDENTIALS,
    LOGGED_IN,
    SERVICE_ACCOUNT_REJECTED,
    check_login,
)
from auth.login_throttle import LoginAttempt
from auth.next_path import sanitize_next_path
from auth.passwords import MAX_PASSWORD_LENGTH
from auth.secrets import generate_token
from auth.user_auth import BusyError, touch_last_used
from handlers.web import LOGIN_URL, PageError, PageHandler
from models.audit import DENIED, FAILURE, SUCCESS, record_event
from models.base import database
from models.users import User

log = logging.getLogger("integration_gateway.handlers.login")

LOGIN_ACTION = "login"
LOGOUT_ACTION = "logout"
PASSWORD_METHOD = "password"  # noqa: S105 - an auth method name
SESSION_METHOD = "session"

INVALID_MESSAGE = "The username or password is invalid."
SERVICE_ACCOUNT_MESSAGE = (
    "Service accounts cannot log in to the web pages. They call the partner API"
    " with Basic credentials or a client-credentials access token."
)
MISSING_MESSAGE = "Enter your username and password."
THROTTLED_MESSAGE = (
    "Too many failed logins for this username or from this address."
    " Wait {seconds} seconds, then try again."
)

# A device cookie marks a browser that logged in as a username before, so its
# failed logins are counted apart from those of unknown browsers.
DEVICE_COOKIE_DAYS = 90


def device_cookie_name(secure: bool) -> str:
    return "__Host-gateway_device" if secure else "gateway_device"


class LoginHandler(PageHandler):
    """The login form; a successful POST starts a new session."""

    def get(self) -> None:
        next_path = sanitize_next_path(self.get_query_argument("next", None), "")
        user = self.current_user
        if user is not None:
            self.redirect(next_path or self.home_path(user))
            return
        self.render_page("login.html", next_path=next_path, username="", error=None)

    def head(self) -> None:
        # Uptime checks probe with HEAD: the headers of a GET, without its body.
        self.get()

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "")
        next_path = sanitize_next_path(self.get_body_argument("next", None), "")
        if not username or not password:
            self.set_status(422)
            self.render_page(
                "login.html",
                next_path=next_path,
                username=username,
                error=MISSING_MESSAGE,
            )
            return

        attempt = LoginAttempt(username, self.remote_addr, self._device_id(username))
        throttle = self.gateway.login_throttle
        retry_after = throttle.check_retry_after(attempt)
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
            message = THROTTLED_MESSAGE.format(seconds=retry_after)
            self._reject(username, next_path, 429, message, "throttled")
            return

        # The failure is counted before the password check and taken back on
        # success, so concurrent guesses cannot all pass the throttle at once.
        failure_id = throttle.record_failure(attempt)
        outcome, user = await self._check_password(username, password)
        if outcome == SERVICE_ACCOUNT_REJECTED:
            self._reject(
                username, next_path, 403, SERVICE_ACCOUNT_MESSAGE, "service account"
            )
            return
        if user is None:
            self._reject(
                username, next_path, 422, INVALID_MESSAGE, "invalid credentials"
            )
            return
        throttle.forget_failure(failure_id)
        self._start_session(user)
        # 303, so that the browser follows with a GET and never re-posts the form.
        self.redirect(next_path or self.home_path(user), status=303)

    async def _check_password(
        self, username: str, password: str
    ) -> tuple[str, User | None]:
        if len(password) > MAX_PASSWORD_LENGTH:
            return INVALID_CREDENTIALS, None
        try:
            result = await check_login(
                self.gateway.authenticator, username, password, self.remote_addr
            )
        except BusyError:
            raise PageError(
                503,
                "temporarily_unavailable",
                "Too many logins are being checked right now. Try again in a moment.",
                headers={"Retry-After": "1"},
                log_detail="password check queue is full",
            ) from None
        if result.outcome != LOGGED_IN:
            return result.outcome, None
        return result.outcome, result.user

    def _start_session(self, user: User) -> None:
        old_session_id = self.read_session_id()
        with database.atomic():
            # A new id at every login: a session id planted before the login
            # (session fixation) never becomes a logged-in session.
            if old_session_id is not None:
                self.gateway.sessions.end(old_session_id)
            session_id, session = self.gateway.sessions.start(user, self.remote_addr)
            record_event(
                LOGIN_ACTION,
                SUCCESS,
                actor=user.username,
                auth_method=PASSWORD_METHOD,
                target=user.username,
                remote_addr=self.remote_addr,
                request_id=self.request_id,
            )
        touch_last_used(user.id, user.last_used_at)
        self.set_session_cookie(session_id)
        self._set_device_cookie(user.username)
        log.info(
            "user %s logged in, session %d request_id=%s",
            user.username,
            session.id,
            self.request_id,
        )

    def _device_id(self, username: str) -> str | None:
        """Return the id of this browser's device cookie for ``username``, or None."""
        name = device_cookie_name(self.gateway.settings.secure_cookies)
        value = self.get_signed_cookie(name, max_age_days=DEVICE_COOKIE_DAYS)
        if value is None:
            return None
        cookie_username, _, device_id = value.decode("utf-8", "replace").rpartition("|")
        if cookie_username != username or not device_id:
            return None
        return device_id

    def _set_device_cookie(self, username: str) -> None:
        # A new device id at every login, so a copied cookie ages out.
        self.set_signed_cookie(
            device_cookie_name(self.gateway.settings.secure_cookies),
            f"{username}|{generate_token(16)}",
            expires_days=DEVICE_COOKIE_DAYS,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.gateway.settings.secure_cookies,
        )

    def _reject(
        self, username: str, next_path: str, status: int, message: str, detail: str
    ) -> None:
        record_event(
            LOGIN_ACTION,
            DENIED if status in (403, 429) else FAILURE,
            actor=username,
            auth_method=PASSWORD_METHOD,
            target=username,
            remote_addr=self.remote_addr,
            request_id=self.request_id,
            detail=detail,
        )
        log.info(
            "login rejected for %r from %s: %s request_id=%s",
            username[:150],
            self.remote_addr,
            detail,
            self.request_id,
        )
        self.set_status(status)
        self.render_page(
            "login.html", next_path=next_path, username=username, error=message
        )


class LogoutHandler(PageHandler):
    """``POST /logout``: ends the session row and clears the cookie."""

    def post(self) -> None:
        session_id = self.read_session_id()
        user = self.current_user
        if session_id is not None:
            with database.atomic():
                ended = self.gateway.sessions.end(session_id)
                if ended and user is not None:
                    record_event(
                        LOGOUT_ACTION,
                        SUCCESS,
                        actor=user.username,
                        auth_method=SESSION_METHOD,
                        target=user.username,
                        remote_addr=self.remote_addr,
                        request_id=self.request_id,
                    )
        self.clear_session_cookie()
        self.redirect(LOGIN_URL, status=303)
