"""Web sessions: new session ids at login, lookup by cookie, logout.

The cookie carries a random session id (256 bits) signed by Tornado; the
database stores only its SHA-256 digest (see ``models.sessions``).
"""

from __future__ import annotations

from auth.secrets import generate_token, sha256_hex
from models.sessions import (
    WebSession,
    create_session,
    end_session,
    query_live_session,
    touch_session,
)
from models.users import User

# ``last_seen_at`` is written at most this often, so that page views do not
# each cost a write. The idle lifetime is at least 60 seconds, and a fifth of
# it keeps the idle expiry accurate to within 20%.
MAX_TOUCH_RESOLUTION_SECONDS = 60.0


class SessionService:
    """Starts, resolves and ends the web sessions of people."""

    def __init__(
        self, idle_lifetime_seconds: int, absolute_lifetime_seconds: int
    ) -> None:
        self.idle_lifetime_seconds = idle_lifetime_seconds
        self.absolute_lifetime_seconds = absolute_lifetime_seconds
        self.touch_resolution_seconds = min(
            MAX_TOUCH_RESOLUTION_SECONDS, idle_lifetime_seconds / 5
        )

    def start(self, user: User, remote_addr: str | None) -> tuple[str, WebSession]:
        """Create a session with a new id; return the id for the cookie and the row."""
        session_id = generate_token(32)
        session = create_session(
            sha256_hex(session_id), user, self.absolute_lifetime_seconds, remote_addr
        )
        return session_id, session

    def resolve(self, session_id: str) -> WebSession | None:
        """Return the live session for a cookie's session id, or None.

        Service accounts never hold a session, and a row of one is ignored.
        """
        session = query_live_session(sha256_hex(session_id), self.idle_lifetime_seconds)
        if session is None or session.user.is_service_account:
            return None
        touch_session(session, self.touch_resolution_seconds)
        return session

    def end(self, session_id: str) -> bool:
        """End the session with this id; return False when none was live."""
        return end_session(sha256_hex(session_id))
