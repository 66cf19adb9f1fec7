"""``/admin/tokens``: live access tokens and refresh tokens, each revocable.

The page lists an access token by its ``jti`` and a refresh token by its
grant id, never the token itself. The gateway does not store access tokens,
and it stores refresh tokens only as SHA-256 digests.
"""

from __future__ import annotations

import urllib.parse

from auth.revocation import revoke_grant
from handlers.admin.base import StaffPageHandler
from models.base import database
from models.paging import fetch_page
from models.refresh_tokens import query_grant_refresh_token, search_live_refresh_tokens
from models.tokens import AccessToken, revoke_tokens, search_live_tokens

ACCESS_TOKEN = "access_token"  # noqa: S105 - a token kind, as in RFC 7009 hints
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a token kind, as in RFC 7009 hints
TOKEN_KINDS = (ACCESS_TOKEN, REFRESH_TOKEN)
REFRESH_TOKENS_PATH = "/admin/tokens?kind=refresh_token"  # noqa: S105 - a path


class TokenListHandler(StaffPageHandler):
    """``GET /admin/tokens``: live tokens of one kind, by client id and username.

    ``kind`` is ``access_token`` (the default) or ``refresh_token``.
    """

    def get(self) -> None:
        kind = self.get_query_argument("kind", ACCESS_TOKEN)
        if kind not in TOKEN_KINDS:
            kind = ACCESS_TOKEN
        client_id = self.get_query_argument("client_id", "").strip()[:64]
        username = self.get_query_argument("username", "").strip()[:150]
        if kind == REFRESH_TOKEN:
            query = search_live_refresh_tokens(client_id or None, username or None)
        else:
            query = search_live_tokens(client_id or None, username or None)

        filters = {
            key: value
            for key, value in (("client_id", client_id), ("username", username))
            if value
        }
        # The pager's links keep the kind as well as the filters.
        page_filters = {"kind": kind, **filters} if kind == REFRESH_TOKEN else filters
        self.render_page(
            "admin/tokens.html",
            kind=kind,
            tokens=fetch_page(query, self.page_number()),
            client_id=client_id,
            username=username,
            filter_query=urllib.parse.urlencode(filters),
            page_query=urllib.parse.urlencode(page_filters),
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


class RefreshTokenRevokeHandler(StaffPageHandler):
    """``POST /admin/tokens/refresh/revoke``: revoke a refresh token by grant id.

    As at the revocation endpoint (RFC 7009 §2.1), revoking a refresh token
    revokes its whole grant, which is its refresh tokens, the access tokens
    issued with them and a code not yet redeemed.
    """

    def post(self) -> None:
        grant_id = self.field("grant_id")[:64]
        token = query_grant_refresh_token(grant_id) if grant_id else None
        if token is None:
            self.redirect(REFRESH_TOKENS_PATH, status=303)
            return
        with database.atomic():
            counts = revoke_grant(grant_id)
            if counts.total:
                self.audit(
                    "token.revoke",
                    grant_id,
                    f"refresh token of {token.user.username};"
                    f" access tokens revoked: {counts.access_tokens};"
                    f" refresh tokens revoked: {counts.refresh_tokens}",
                    client_id=token.client_id,
                )
        self.redirect(f"{REFRESH_TOKENS_PATH}&notice=refresh_revoked", status=303)
