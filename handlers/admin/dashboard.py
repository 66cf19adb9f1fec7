"""``GET /admin/``: the counts staff check first and the calls of the last day."""

from __future__ import annotations

import dataclasses
import datetime
import functools

from handlers.admin.base import StaffPageHandler
from handlers.admin.charts import build_hourly_chart, build_integration_chart
from models.audit import DENIED, FAILURE, AuditEvent
from models.base import utcnow
from models.clients import Client
from models.run_stats import CallCounts, count_failed_runs, query_call_counts
from models.users import SERVICE_ACCOUNT, User


@dataclasses.dataclass(frozen=True)
class Activity:
    """The counts of the dashboard that read runs and audit events."""

    calls: CallCounts
    #: Runs in the last hour that did not succeed.
    failed_calls: int
    #: Audit events of the last hour that failed or were denied.
    rejected_requests: int


def query_activity(now: datetime.datetime) -> Activity:
    """Count the calls of the 24 hours and the failures of the hour before ``now``."""
    hour_ago = now - datetime.timedelta(hours=1)
    rejected = AuditEvent.select().where(
        (AuditEvent.created_at >= hour_ago) & AuditEvent.outcome.in_((FAILURE, DENIED))
    )
    return Activity(
        calls=query_call_counts(now - datetime.timedelta(hours=24)),
        failed_calls=count_failed_runs(hour_ago),
        rejected_requests=rejected.count(),
    )


class DashboardHandler(StaffPageHandler):
    async def get(self) -> None:
        now = utcnow()
        activity = await self.run_report(functools.partial(query_activity, now))
        registry = self.gateway.registry
        by_integration = activity.calls.by_integration
        counts = {
            "integrations": len(registry.loaded),
            "failed_plugins": len(registry.failed),
            "people": User.select().where(User.kind != SERVICE_ACCOUNT).count(),
            "service_accounts": User.select()
            .where(User.kind == SERVICE_ACCOUNT)
            .count(),
            "clients": Client.select().count(),
            "failed_calls": activity.failed_calls,
            "rejected_requests": activity.rejected_requests,
        }
        self.render_page(
            "admin/dashboard.html",
            counts=counts,
            integration_chart=build_integration_chart(by_integration),
            hourly_chart=build_hourly_chart(activity.calls.by_hour, now),
            total_calls=sum(count.calls for count in by_integration),
            total_errors=sum(count.errors for count in by_integration),
        )
