"""Admin pages for users and service accounts: list, create, activate, passwords."""

from __future__ import annotations

import logging

from auth.accounts import activate_user, deactivate_user, reset_password
from auth.login_throttle import LoginAttempt
from auth.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordError,
    generate_password,
    validate_new_password,
)
from handlers.admin.base import StaffPageHandler
from handlers.login import THROTTLED_MESSAGE
from handlers.web import PageError, parse_ascii_int
from models.audit import FAILURE
from models.base import database
from models.users import (
    PERMISSIONS,
    SERVICE_ACCOUNT,
    STAFF,
    STANDARD,
    USER_KINDS,
    User,
    UserError,
    create_user,
    query_user_by_id,
    query_user_permissions,
    query_users,
    validate_username,
)

log = logging.getLogger("integration_gateway.handlers.admin.users")

KIND_LABELS = {
    STANDARD: "Standard user",
    STAFF: "Staff member",
    SERVICE_ACCOUNT: "Service account",
}


class UserPageMixin(StaffPageHandler):
    """Loads the user of the URL and renders the user's detail page."""

    def load_user(self, user_id: str) -> User:
        row_id = parse_ascii_int(user_id)
        user = query_user_by_id(row_id) if row_id is not None else None
        if user is None:
            raise PageError(404, "not_found", "No user has this id.")
        return user

    def render_user(
        self, user: User, status: int = 200, errors: dict[str, str] | None = None
    ) -> None:
        self.set_status(status)
        registry = self.gateway.registry
        held = query_user_permissions(user.id)
        rows = [
            {
                "name": name,
                "title": registry.loaded[name].integration.title,
                "held": held.get(name, set()),
            }
            for name in registry.names()
        ]
        unloaded = sorted(set(held) - set(registry.names()))
        self.render_page(
            "admin/user.html",
            user=user,
            kind_labels=KIND_LABELS,
            permissions=PERMISSIONS,
            rows=rows,
            unloaded={name: sorted(held[name]) for name in unloaded},
            errors=errors or {},
            notice=self.notice(),
        )


class UserListHandler(StaffPageHandler):
    """``GET /admin/users``: every user, optionally of one kind."""

    def get(self) -> None:
        kind = self.get_query_argument("kind", "")
        users = query_users(kind if kind in USER_KINDS else None)
        self.render_page(
            "admin/users.html",
            users=users,
            kind=kind if kind in USER_KINDS else "",
            kind_labels=KIND_LABELS,
            notice=self.notice(),
        )


class UserCreateHandler(StaffPageHandler):
    """``/admin/users/new``: create a person or a service account."""

    def get(self) -> None:
        self._render_form({"kind": STANDARD}, {})

    async def post(self) -> None:
        values = {
            "username": self.field("username"),
            "kind": self.field("kind"),
            "vendor": self.field("vendor"),
        }
        password = self.get_body_argument("password", "")
        confirm = self.get_body_argument("password_confirm", "")
        errors = _validate_new_user(values, password, confirm)
        if errors:
            self._render_form(values, errors, 422)
            return

        generated = values["kind"] == SERVICE_ACCOUNT
        if generated:
            password = generate_password()
        password_hash = await self.gateway.hasher.hash(password)
        try:
            with database.atomic():
                user = create_user(
                    values["username"],
                    values["kind"],
                    password_hash,
                    vendor=values["vendor"] or None,
                )
                self.audit("user.create", user.username, f"kind: {user.kind}")
        except UserError as error:
            self._render_form(values, {"username": str(error)}, 422)
            return
        log.info(
            "%s created %s %s request_id=%s",
            self.staff.username,
            user.kind,
            user.username,
            self.request_id,
        )
        if generated:
            self.render_page("admin/user_password.html", user=user, password=password)
            return
        self.redirect(f"/admin/users/{user.id}?notice=created", status=303)

    def _render_form(
        self, values: dict[str, str], errors: dict[str, str], status: int = 200
    ) -> None:
        self.set_status(status)
        self.render_page(
            "admin/user_new.html",
            values=values,
            errors=errors,
            kind_labels=KIND_LABELS,
        )


def _validate_new_user(
    values: dict[str, str], password: str, confirm: str
) -> dict[str, str]:
    errors: dict[str, str] = {}
    try:
        validate_username(values["username"])
    except UserError as error:
        errors["username"] = str(error)
    if values["kind"] not in USER_KINDS:
        errors["kind"] = "Choose standard user, staff member or service account."
    if values["vendor"] and values["kind"] != SERVICE_ACCOUNT:
        errors["vendor"] = "A vendor label is only for service accounts."
    if len(values["vendor"]) > 200:
        errors["vendor"] = "The vendor label is longer than 200 characters."
    if values["kind"] != SERVICE_ACCOUNT:
        errors.update(_check_new_password(password, confirm))
    return errors


def _check_new_password(password: str, confirm: str) -> dict[str, str]:
    try:
        validate_new_password(password)
    except PasswordError as error:
        return {"password": str(error)}
    if password != confirm:
        return {"password_confirm": "The two passwords do not match."}
    return {}


class UserHandler(UserPageMixin):
    """``GET /admin/users/<id>``: a user, its permissions and its actions."""

    def get(self, user_id: str) -> None:
        self.render_user(self.load_user(user_id))


class UserActiveHandler(UserPageMixin):
    """``POST /admin/users/<id>/active``: deactivate or reactivate a user."""

    def post(self, user_id: str) -> None:
        user = self.load_user(user_id)
        active = self.switch_value("active")
        if not active and user.id == self.staff.id:
            self.render_user(
                user, 422, {"active": "You cannot deactivate your own account."}
            )
            return
        if active == user.is_active:
            self.redirect(f"/admin/users/{user.id}", status=303)
            return
        with database.atomic():
            if active:
                stragglers = activate_user(user)
                self.audit(
                    "user.activate",
                    user.username,
                    f"access tokens issued while inactive, revoked:"
                    f" {stragglers.access_tokens}"
                    if stragglers and stragglers.total
                    else None,
                )
            else:
                revoked = deactivate_user(user)
                self.audit(
                    "user.deactivate",
                    user.username,
                    f"access tokens revoked: {revoked.access_tokens},"
                    f" refresh tokens revoked: {revoked.refresh_tokens}",
                )
        # A credential remembered by this process must stop at once.
        self.gateway.authenticator.cache.forget_user(user.id)
        notice = "activated" if active else "deactivated"
        self.redirect(f"/admin/users/{user.id}?notice={notice}", status=303)


class UserPasswordHandler(UserPageMixin):
    """``POST /admin/users/<id>/password``: set or generate a new password.

    Staff who change their own password must give the current one, and keep
    their session under a new id while every other session of theirs ends.
    """

    async def post(self, user_id: str) -> None:
        user = self.load_user(user_id)
        own = user.id == self.staff.id
        generated = user.is_service_account
        if generated:
            password = generate_password()
        else:
            password = self.get_body_argument("password", "")
            confirm = self.get_body_argument("password_confirm", "")
            status, errors = 422, _check_new_password(password, confirm)
            if not errors and own:
                status, errors = await self._check_current_password(user)
            if errors:
                self.render_user(user, status, errors)
                return
        password_hash = await self.gateway.hasher.hash(password)
        with database.atomic():
            reset_password(user, password_hash)
            if own:
                self.audit("user.password_change", user.username, "own password")
            else:
                self.audit(
                    "user.password_reset",
                    user.username,
                    "generated" if generated else "set by staff",
                )
        self.gateway.authenticator.cache.forget_user(user.id)
        if generated:
            self.render_page("admin/user_password.html", user=user, password=password)
            return
        if own:
            self._continue_session(user)
            self.redirect(f"/admin/users/{user.id}?notice=own_password", status=303)
            return
        self.redirect(f"/admin/users/{user.id}?notice=password", status=303)

    async def _check_current_password(self, user: User) -> tuple[int, dict[str, str]]:
        """Check the ``current_password`` field, throttled like a login.

        Returns the status and the errors by field, none when it matches:
        422 for a wrong password, 429 with ``Retry-After`` while too many
        wrong ones were given.
        """
        attempt = LoginAttempt(user.username, self.remote_addr, None)
        throttle = self.gateway.login_throttle
        retry_after = throttle.check_retry_after(attempt)
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
            message = THROTTLED_MESSAGE.format(seconds=retry_after)
            return 429, {"current_password": message}
        # Counted first and taken back on success, as at the login form.
        failure_id = throttle.record_failure(attempt)
        current = self.get_body_argument("current_password", "")
        if len(current) <= MAX_PASSWORD_LENGTH and await self.gateway.hasher.check(
            current, user.password_hash
        ):
            throttle.forget_failure(failure_id)
            return 200, {}
        self.audit(
            "user.password_change",
            user.username,
            "current password incorrect",
            outcome=FAILURE,
        )
        return 422, {"current_password": "The current password is incorrect."}

    def _continue_session(self, user: User) -> None:
        # Changing the password ended every session of the user, this one
        # included. A new one, with a new id, keeps the staff member in.
        refreshed = query_user_by_id(user.id)
        if refreshed is None:
            return
        session_id, session = self.gateway.sessions.start(refreshed, self.remote_addr)
        self.set_session_cookie(session_id)
        log.info(
            "%s changed their own password, new session %d request_id=%s",
            user.username,
            session.id,
            self.request_id,
        )
