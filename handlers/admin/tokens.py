"""``/admin/tokens``: live access tokens by client and user, each revocable.

The page lists a token's ``jti``, never the token itself, which the gateway
does not store.
"""

from __future__ import annotations

import urllib.parse

from handlers.admin.base import StaffPageHandler
from models.base import database
from models.paging import fetch_page
from models.tokens import AccessToken, revoke_tokens, search_live_tokens


class TokenListHandler(StaffPageHandler):
    """``GET /admin/tokens``: live tokens, filtered by client id and username."""

    def get(self) -> None:
        client_id = self.get_query_argument("client_id", "").strip()[:64]
        username = self.get_query_argument("username", "").strip()[:150]
        query = search_live_tokens(client_id or None, username or None)
        filters = {
            key: value
            for key, value in (("client_id", client_id), ("username", username))
            if value
        }
        self.render_page(
            "admin/tokens.html",
            tokens=fetch_page(query, self.page_number()),
            client_id=client_id,
            username=username,
            filter_query=urllib.parse.urlencode(filters),
            notice=self.notice(),
        )


class TokenRevokeHandler(StaffPageHandler):
    """``POST /admin/tokens/revoke``: revoke one access token by its jti."""

    def post(self) -> None:
        jti = self.field("jti")[:64]
        token = AccessToken.get_or_none(AccessToken.jti == jti) if jti else None
        if token is None:
            self.redirect("/admin/tokens", status=303)
            return
        with database.atomic():
            revoked = revoke_tokens(AccessToken.jti == jti)
            if revoked:
                self.audit(
                    "token.revoke",
                    jti,
                    f"access token of {token.user.username}",
                    client_id=token.client_id,
                )
        self.redirect("/admin/tokens?notice=revoked", status=303)
