"""Changes to users that staff make on the admin pages, with their effects.

Each change takes effect at once in every gateway process: deactivation and a
new password raise the user's ``credential_version``, which stops remembered
Basic credentials and web sessions, and deactivation also revokes the user's
codes, access tokens and refresh tokens.
"""

from __future__ import annotations

from auth.revocation import RevokedCounts, revoke_user_tokens
from models.base import database
from models.sessions import end_user_sessions
from models.users import (
    PERMISSIONS,
    User,
    UserError,
    grant_permission,
    query_user_permissions,
    revoke_permission,
    set_active,
    set_password_hash,
    validate_permission,
)


def deactivate_user(user: User) -> RevokedCounts:
    """Deactivate ``user``, end its sessions and revoke its codes and tokens."""
    with database.atomic():
        set_active(user, False)
        end_user_sessions(user.id)
        return revoke_user_tokens(user.id)


def activate_user(user: User) -> RevokedCounts | None:
    """Allow a deactivated ``user`` again; revoked tokens stay revoked.

    Deactivation revoked every token of the user, so a live one found now was
    issued by a process that had not yet seen the deactivation (README,
    "Several processes"). Such tokens are revoked here, and their counts
    returned; None when the user was active already.
    """
    with database.atomic():
        was_active = user.is_active
        set_active(user, True)
        if was_active:
            return None
        return revoke_user_tokens(user.id)


def reset_password(user: User, password_hash: str) -> None:
    """Store a new password hash and end the user's web sessions."""
    with database.atomic():
        set_password_hash(user, password_hash)
        end_user_sessions(user.id)


def set_integration_permissions(
    user: User, integration: str, wanted: set[str]
) -> tuple[list[str], list[str]]:
    """Make ``wanted`` the user's permissions on ``integration``.

    Returns the permissions granted and those revoked, in the order of
    ``PERMISSIONS``. Raises :class:`UserError` for a permission the user may
    not hold, such as ``read`` for a service account, before changing anything.
    """
    unknown = wanted - set(PERMISSIONS)
    if unknown:
        raise UserError(f"invalid permission {sorted(unknown)[0]!r}")
    for permission in wanted:
        validate_permission(user, permission)
    with database.atomic():
        held = query_user_permissions(user.id).get(integration, set())
        granted = [name for name in PERMISSIONS if name in wanted - held]
        revoked = [name for name in PERMISSIONS if name in held - wanted]
        for permission in granted:
            grant_permission(user, integration, permission)
        for permission in revoked:
            revoke_permission(user, integration, permission)
    return granted, revoked
