"""``/admin/audit``: the audit trail, filtered, paged and exported as CSV."""

from __future__ import annotations

import csv
import datetime
import io
import urllib.parse

from handlers.admin.base import StaffPageHandler
from models.audit import AuditEvent
from models.audit_search import AuditFilter, query_audit_actions, search_events
from models.paging import fetch_page

FILTER_FIELDS = ("actor", "action", "integration", "since", "until")
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
CSV_COLUMNS = (
    "created_at",
    "actor",
    "auth_method",
    "client_id",
    "action",
    "target",
    "outcome",
    "remote_addr",
    "request_id",
    "detail",
)
# NOTE: the export runs its query on the event loop, like every page query.
# One export is capped so that it cannot hold the loop for long; narrow the
# time range to export more.
MAX_CSV_ROWS = 100_000
CSV_CHUNK_ROWS = 500
# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def parse_time(value: str) -> datetime.datetime | None:
    """Parse a UTC time from a filter field; None when it has no known format."""
    for time_format in TIME_FORMATS:
        try:
            return datetime.datetime.strptime(value, time_format)
        except ValueError:
            continue
    return None


def csv_cell(value: object) -> str:
    """Format one CSV cell so that a spreadsheet shows it as text."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class AuditFilterMixin(StaffPageHandler):
    def read_filter(self) -> tuple[dict[str, str], AuditFilter, dict[str, str]]:
        """Return the typed filters, the parsed filter and errors by field."""
        values = {
            name: self.get_query_argument(name, "").strip()[:150]
            for name in FILTER_FIELDS
        }
        errors: dict[str, str] = {}
        times: dict[str, datetime.datetime | None] = {}
        for name in ("since", "until"):
            times[name] = parse_time(values[name]) if values[name] else None
            if values[name] and times[name] is None:
                errors[name] = "Use a time like 2025-01-31T14:00 (UTC)."
        audit_filter = AuditFilter(
            actor=values["actor"] or None,
            action=values["action"] or None,
            integration=values["integration"] or None,
            since=times["since"],
            until=times["until"],
        )
        return values, audit_filter, errors


class AuditLogHandler(AuditFilterMixin):
    """``GET /admin/audit``: newest events first, 50 a page."""

    def get(self) -> None:
        values, audit_filter, errors = self.read_filter()
        filter_query = urllib.parse.urlencode(
            {name: value for name, value in values.items() if value}
        )
        page = None
        if errors:
            self.set_status(400)
        else:
            page = fetch_page(search_events(audit_filter), self.page_number())
        self.render_page(
            "admin/audit.html",
            values=values,
            errors=errors,
            events=page,
            actions=query_audit_actions(),
            integrations=self.gateway.registry.names(),
            filter_query=filter_query,
        )


class AuditExportHandler(AuditFilterMixin):
    """``GET /admin/audit.csv``: the filtered events as a CSV download."""

    async def get(self) -> None:
        _, audit_filter, errors = self.read_filter()
        if errors:
            self.set_status(400)
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(" ".join(errors.values()) + "\n")
            return
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header(
            "Content-Disposition", 'attachment; filename="audit-events.csv"'
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        query = search_events(audit_filter).limit(MAX_CSV_ROWS)
        for count, event in enumerate(query.iterator(), start=1):
            writer.writerow(_event_cells(event))
            if count % CSV_CHUNK_ROWS == 0:
                self.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
                await self.flush()
        self.write(buffer.getvalue())
        self.audit("audit.export", "audit log", _describe(audit_filter))
        self.finish()


def _event_cells(event: AuditEvent) -> list[str]:
    return [csv_cell(getattr(event, column)) for column in CSV_COLUMNS]


def _describe(audit_filter: AuditFilter) -> str:
    parts = [
        f"{name}={value}"
        for name, value in vars(audit_filter).items()
        if value is not None
    ]
    return "filters: " + (", ".join(parts) if parts else "none")
