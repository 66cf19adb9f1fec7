"""Checking a login to the web pages: people only, never service accounts."""

from __future__ import annotations

import dataclasses

from auth.user_auth import UserAuthenticator
from models.users import User, check_username_syntax, query_user

LOGGED_IN = "logged_in"
INVALID_CREDENTIALS = "invalid_credentials"
SERVICE_ACCOUNT_REJECTED = "service_account_rejected"


@dataclasses.dataclass(frozen=True)
class LoginResult:
    #: ``logged_in``, ``invalid_credentials`` or ``service_account_rejected``.
    outcome: str
    #: The user who logged in; None unless the outcome is ``logged_in``.
    user: User | None = None


async def check_login(
    authenticator: UserAuthenticator, username: str, password: str, remote_addr: str
) -> LoginResult:
    """Check a username and password typed into the login page.

    An unknown user, a wrong password and an inactive user all give
    ``invalid_credentials``. A service account gives
    ``service_account_rejected`` whether or not the password was right, after
    the same bcrypt check, so the response does not reveal the password.
    Raises :class:`auth.user_auth.BusyError` when too many checks are waiting.
    """
    user = await authenticator.authenticate(username, password, remote_addr)
    if user is not None and not user.is_service_account:
        return LoginResult(LOGGED_IN, user)
    account = user
    if account is None and check_username_syntax(username):
        account = query_user(username)
    if account is not None and account.is_service_account:
        return LoginResult(SERVICE_ACCOUNT_REJECTED)
    return LoginResult(INVALID_CREDENTIALS)
