"""Admin pages for integrations: loaded and failed plugins, switches, runs."""

from __future__ import annotations

from handlers.admin.base import StaffPageHandler
from handlers.web import PageError
from models.base import database
from models.integration_state import (
    query_disabled_integrations,
    set_integration_enabled,
)
from models.paging import fetch_page
from models.runs import search_runs
from models.users import query_permission_holders
from plugins.loader import LoadedIntegration


class IntegrationPageMixin(StaffPageHandler):
    def load_integration(self, name: str) -> LoadedIntegration:
        loaded = self.gateway.registry.get(name)
        if loaded is None:
            raise PageError(
                404, "not_found", "No integration with this name is loaded."
            )
        return loaded


class IntegrationListHandler(IntegrationPageMixin):
    """``GET /admin/integrations``: every plugin, loaded or failed."""

    def get(self) -> None:
        registry = self.gateway.registry
        self.render_page(
            "admin/integrations.html",
            loaded=[registry.loaded[name] for name in registry.names()],
            failed=registry.failed,
            disabled=query_disabled_integrations(),
            notice=self.notice(),
        )


class IntegrationHandler(IntegrationPageMixin):
    """``GET /admin/integrations/<name>``: one integration and its recent runs."""

    def get(self, name: str) -> None:
        loaded = self.load_integration(name)
        self.render_page(
            "admin/integration.html",
            loaded=loaded,
            enabled=name not in query_disabled_integrations(),
            holders=query_permission_holders(name),
            runs=fetch_page(search_runs(name), self.page_number()),
            notice=self.notice(),
        )


class IntegrationSwitchHandler(IntegrationPageMixin):
    """``POST /admin/integrations/<name>/enabled``: the enable switch."""

    def post(self, name: str) -> None:
        self.load_integration(name)
        enabled = self.switch_value("enabled")
        with database.atomic():
            changed = set_integration_enabled(name, enabled, self.staff.username)
            if changed:
                action = "integration.enable" if enabled else "integration.disable"
                self.audit(action, name)
        notice = "enabled" if enabled else "disabled"
        self.redirect(f"/admin/integrations/{name}?notice={notice}", status=303)
