"""Web sessions: server-side rows behind the signed session cookie.

A row stores the SHA-256 digest of the session id, never the id itself, so a
copy of the database cannot be replayed as a cookie. A session ends when it
is logged out, idle for too long, older than its absolute lifetime, or when
its user's password or active flag changes (``credential_version``).
"""

from __future__ import annotations

import datetime

import peewee

from models.base import BaseModel, utcnow
from models.users import User


class WebSession(BaseModel):
    id: peewee.AutoField[int]
    session_digest = peewee.CharField(max_length=64, unique=True)
    user = peewee.ForeignKeyField(User, backref="web_sessions", on_delete="CASCADE")
    user_id: int
    # The user's credential_version at login; a password reset or a
    # deactivation raises it, which ends every session of the old value.
    credential_version = peewee.IntegerField()
    created_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField(index=True)
    ended_at = peewee.DateTimeField(null=True)
    remote_addr = peewee.CharField(max_length=64, null=True)


def create_session(
    session_digest: str,
    user: User,
    absolute_lifetime_seconds: int,
    remote_addr: str | None,
) -> WebSession:
    """Insert a session for ``user`` that expires after the absolute lifetime."""
    now = utcnow()
    return WebSession.create(
        session_digest=session_digest,
        user=user,
        credential_version=user.credential_version,
        created_at=now,
        last_seen_at=now,
        expires_at=now + datetime.timedelta(seconds=absolute_lifetime_seconds),
        remote_addr=(remote_addr or "")[:64] or None,
    )


def query_live_session(
    session_digest: str, idle_lifetime_seconds: int
) -> WebSession | None:
    """Return the live session with this digest joined with its user, or None.

    Live means not ended, not past its absolute expiry, used within the idle
    lifetime, and its user still active at the credential version of the login.
    """
    now = utcnow()
    idle_cutoff = now - datetime.timedelta(seconds=idle_lifetime_seconds)
    return (
        WebSession.select(WebSession, User)
        .join(User)
        .where(
            (WebSession.session_digest == session_digest)
            & WebSession.ended_at.is_null()
            & (WebSession.expires_at > now)
            & (WebSession.last_seen_at > idle_cutoff)
            & User.is_active
            & (User.credential_version == WebSession.credential_version)
        )
        .first()
    )


def touch_session(session: WebSession, resolution_seconds: float) -> None:
    """Move ``last_seen_at`` to now when it is older than ``resolution_seconds``."""
    now = utcnow()
    if now - session.last_seen_at < datetime.timedelta(seconds=resolution_seconds):
        return
    WebSession.update(last_seen_at=now).where(WebSession.id == session.id).execute()
    session.last_seen_at = now


def end_session(session_digest: str) -> bool:
    """Mark the session with this digest ended; return False when none was live."""
    query = WebSession.update(ended_at=utcnow()).where(
        (WebSession.session_digest == session_digest) & WebSession.ended_at.is_null()
    )
    return bool(query.execute())


def end_user_sessions(user_id: int) -> int:
    """End every live session of the user; return how many were ended."""
    query = WebSession.update(ended_at=utcnow()).where(
        (WebSession.user == user_id) & WebSession.ended_at.is_null()
    )
    return int(query.execute())


def delete_old_sessions(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` sessions that expired or ended before ``before``."""
    ended = WebSession.ended_at.is_null(False) & (WebSession.ended_at < before)
    return WebSession.delete_batch((WebSession.expires_at < before) | ended, limit)
