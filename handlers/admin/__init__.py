"""The admin console: pages for staff to run the gateway."""

from __future__ import annotations

import tornado.web

from handlers.admin.applications import (
    ApplicationCreateHandler,
    ApplicationDeleteHandler,
    ApplicationHandler,
    ApplicationListHandler,
    ApplicationSecretHandler,
)
from handlers.admin.audit import AuditExportHandler, AuditLogHandler
from handlers.admin.dashboard import DashboardHandler
from handlers.admin.integrations import (
    IntegrationHandler,
    IntegrationListHandler,
    IntegrationSwitchHandler,
)
from handlers.admin.permissions import UserPermissionsHandler
from handlers.admin.tokens import (
    RefreshTokenRevokeHandler,
    TokenListHandler,
    TokenRevokeHandler,
)
from handlers.admin.users import (
    UserActiveHandler,
    UserCreateHandler,
    UserHandler,
    UserListHandler,
    UserPasswordHandler,
)

_CLIENT_ID = r"([A-Za-z0-9_-]{1,64})"
_INTEGRATION = r"([a-z0-9-]{1,64})"
_USER_ID = r"([0-9]{1,11})"


def admin_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Return the URL patterns of the admin console.

    Each path is also served with a trailing slash, as people type it.
    """
    routes: list[tuple[str, type[tornado.web.RequestHandler]]] = [
        (r"/admin", DashboardHandler),
        (r"/admin/users", UserListHandler),
        (r"/admin/users/new", UserCreateHandler),
        (rf"/admin/users/{_USER_ID}", UserHandler),
        (rf"/admin/users/{_USER_ID}/active", UserActiveHandler),
        (rf"/admin/users/{_USER_ID}/password", UserPasswordHandler),
        (rf"/admin/users/{_USER_ID}/permissions", UserPermissionsHandler),
        (r"/admin/integrations", IntegrationListHandler),
        (rf"/admin/integrations/{_INTEGRATION}", IntegrationHandler),
        (rf"/admin/integrations/{_INTEGRATION}/enabled", IntegrationSwitchHandler),
        (r"/admin/applications", ApplicationListHandler),
        (r"/admin/applications/new", ApplicationCreateHandler),
        (rf"/admin/applications/{_CLIENT_ID}", ApplicationHandler),
        (rf"/admin/applications/{_CLIENT_ID}/secret", ApplicationSecretHandler),
        (rf"/admin/applications/{_CLIENT_ID}/delete", ApplicationDeleteHandler),
        (r"/admin/tokens", TokenListHandler),
        (r"/admin/tokens/revoke", TokenRevokeHandler),
        (r"/admin/tokens/refresh/revoke", RefreshTokenRevokeHandler),
        (r"/admin/audit", AuditLogHandler),
        (r"/admin/audit\.csv", AuditExportHandler),
    ]
    return [(pattern + "/?", handler) for pattern, handler in routes]
