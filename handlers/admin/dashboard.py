"""``GET /admin/``: the counts staff check first and the calls of the last day."""

from __future__ import annotations

import datetime

from handlers.admin.base import StaffPageHandler
from handlers.admin.charts import build_hourly_chart, build_integration_chart
from models.audit import DENIED, FAILURE, AuditEvent
from models.base import utcnow
from models.clients import Client
from models.run_stats import (
    count_calls_by_hour,
    count_calls_by_integration,
    count_failed_runs,
)
from models.users import SERVICE_ACCOUNT, User


class DashboardHandler(StaffPageHandler):
    def get(self) -> None:
        now = utcnow()
        day_ago = now - datetime.timedelta(hours=24)
        hour_ago = now - datetime.timedelta(hours=1)
        registry = self.gateway.registry
        by_integration = count_calls_by_integration(day_ago)
        counts = {
            "integrations": len(registry.loaded),
            "failed_plugins": len(registry.failed),
            "people": User.select().where(User.kind != SERVICE_ACCOUNT).count(),
            "service_accounts": User.select()
            .where(User.kind == SERVICE_ACCOUNT)
            .count(),
            "clients": Client.select().count(),
            "failed_calls": count_failed_runs(hour_ago),
            "rejected_requests": AuditEvent.select()
            .where(
                (AuditEvent.created_at >= hour_ago)
                & AuditEvent.outcome.in_((FAILURE, DENIED))
            )
            .count(),
        }
        self.render_page(
            "admin/dashboard.html",
            counts=counts,
            integration_chart=build_integration_chart(by_integration),
            hourly_chart=build_hourly_chart(count_calls_by_hour(day_ago), now),
            total_calls=sum(count.calls for count in by_integration),
            total_errors=sum(count.errors for count in by_integration),
        )
