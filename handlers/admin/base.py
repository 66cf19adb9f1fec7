"""The base of the admin console pages: staff only, every change audited."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

from handlers.web import PageError, PageHandler, parse_ascii_int
from models.audit import SUCCESS, record_event
from models.base import database
from models.users import User

Result = TypeVar("Result")

SESSION_METHOD = "session"

# Fixed notices that a redirect after a change may show, by query value, so
# that no request input is ever echoed into the page as a message.
NOTICES = {
    "created": "Created.",
    "saved": "Saved.",
    "activated": "The account is active again.",
    "deactivated": "The account is deactivated: its sessions ended and its access"
    " tokens were revoked.",
    "password": "The password was changed and the user's sessions ended.",
    "own_password": "Your password was changed. Your sessions in other browsers"
    " ended; this one continues.",
    "deleted": "Deleted. Its tokens were revoked.",
    "revoked": "The token was revoked.",
    "refresh_revoked": "The refresh token and the access tokens of its grant were"
    " revoked.",
    "enabled": "The integration is enabled.",
    "disabled": "The integration is disabled: calls to it are rejected.",
    "permissions": "The permissions were saved.",
}


class StaffPageHandler(PageHandler):
    """A page of the admin console: anonymous users log in, others get 403."""

    def prepare(self) -> None:
        user = self.current_user
        if user is None:
            if self.request.method in ("GET", "HEAD"):
                query = urllib.parse.urlencode({"next": self.request.uri})
                self.redirect(f"{self.get_login_url()}?{query}")
                return
            raise PageError(
                403, "login_required", "Your session has ended. Log in again."
            )
        if not user.is_staff:
            raise PageError(
                403, "forbidden", "Only staff members may use the admin console."
            )

    @property
    def staff(self) -> User:
        user: User = self.current_user
        return user

    def audit(
        self,
        action: str,
        target: str,
        detail: str | None = None,
        *,
        outcome: str = SUCCESS,
        client_id: str | None = None,
    ) -> None:
        """Write one audit event with the staff member as actor."""
        record_event(
            action,
            outcome,
            actor=self.staff.username,
            auth_method=SESSION_METHOD,
            client_id=client_id,
            target=target,
            remote_addr=self.remote_addr,
            request_id=self.request_id,
            detail=detail,
        )

    def notice(self) -> str | None:
        """Return the fixed notice named by the ``notice`` query argument."""
        return NOTICES.get(self.get_query_argument("notice", ""))

    def page_number(self) -> int:
        """Return the ``page`` query argument, 1 when missing or invalid."""
        number = parse_ascii_int(self.get_query_argument("page", "1"), max_digits=6)
        return max(1, number or 1)

    def field(self, name: str, default: str = "") -> str:
        """Return a form field, stripped; ``default`` when it is missing."""
        return self.get_body_argument(name, default).strip()

    def switch_value(self, name: str) -> bool:
        """Return the on/off form field ``name``: "1" is on, "0" is off.

        Raises a 400 :class:`PageError` for any other value, missing included,
        so that a malformed request never switches something off.
        """
        value = self.field(name)
        if value not in ("0", "1"):
            raise PageError(400, "invalid_request", f"The {name} field must be 0 or 1.")
        return value == "1"

    async def run_report(self, query: Callable[[], Result]) -> Result:
        """Run ``query`` in the report thread, so a long scan leaves the loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.gateway.report_executor, _run_on_own_connection, query
        )


def _run_on_own_connection(query: Callable[[], Result]) -> Result:
    # peewee keeps a connection per thread. Closing it after each query keeps
    # it from outliving the database that the proxy pointed at when it opened.
    with database.connection_context():
        return query()
