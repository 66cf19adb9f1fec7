"""``GET /``: a person's own page, with what they may use and see."""

from __future__ import annotations

import tornado.web

from auth.consents import query_authorizations
from handlers.web import PageHandler
from models.runs import query_recent_runs
from models.users import DEBUG, EXECUTE, READ, query_integrations_with

RECENT_RUNS_SHOWN = 50


class AccountHandler(PageHandler):
    """The integrations the user may read or execute, and runs they may debug."""

    @tornado.web.authenticated
    def get(self) -> None:
        user = self.current_user
        registry = self.gateway.registry
        readable = set(query_integrations_with(user.id, READ))
        executable = set(query_integrations_with(user.id, EXECUTE))
        debuggable = [
            name
            for name in query_integrations_with(user.id, DEBUG)
            if registry.get(name) is not None
        ]
        integrations = [
            {
                "name": name,
                "integration": registry.loaded[name].integration,
                "may_read": name in readable,
                "may_execute": name in executable,
                "may_debug": name in debuggable,
            }
            for name in registry.names()
            if name in readable or name in executable
        ]
        self.render_page(
            "account.html",
            integrations=integrations,
            runs=query_recent_runs(debuggable, RECENT_RUNS_SHOWN),
            debuggable=debuggable,
            authorizations=query_authorizations(user),
        )

    def head(self) -> None:
        # Uptime checks probe with HEAD: the headers of a GET, without its body.
        self.get()
