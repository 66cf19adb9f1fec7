"""``/admin/audit``: the audit trail, filtered, paged and exported as CSV."""

from __future__ import annotations

import asyncio
import csv
import datetime
import functools
import io
import logging
import urllib.parse

import tornado.iostream

from handlers.admin.base import StaffPageHandler
from models.audit import AuditEvent
from models.audit_search import (
    AuditFilter,
    EventSearch,
    query_audit_actions,
)
from models.paging import build_page

log = logging.getLogger("integration_gateway.handlers.admin.audit")

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
# The export reads and sends its rows in chunks of CSV_CHUNK_ROWS, on the
# event loop, with a turn for other requests between chunks. One export is
# capped at MAX_CSV_ROWS; narrow the time range to export more.
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

    async def get(self) -> None:
        values, audit_filter, errors = self.read_filter()
        filter_query = urllib.parse.urlencode(
            {name: value for name, value in values.items() if value}
        )
        page = None
        if errors:
            self.set_status(400)
        else:
            # A deep page of the integration filter reads up to
            # MAX_COUNTED_ROWS rows of each of its two queries.
            search = EventSearch(audit_filter)
            page = await self.run_report(
                functools.partial(
                    build_page, search.count, search.fetch, self.page_number()
                )
            )
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
        # Recorded before the first row leaves, so that an export the client
        # stops halfway is on record too.
        self.audit("audit.export", "audit log", _describe(audit_filter))
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header(
            "Content-Disposition", 'attachment; filename="audit-events.csv"'
        )
        try:
            await self._write_rows(audit_filter)
        except tornado.iostream.StreamClosedError:
            log.info(
                "audit export by %s ended early: the client closed the connection"
                " request_id=%s",
                self.staff.username,
                self.request_id,
            )

    async def _write_rows(self, audit_filter: AuditFilter) -> None:
        search = EventSearch(audit_filter)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        exported = 0
        last: AuditEvent | None = None
        while exported < MAX_CSV_ROWS:
            limit = min(CSV_CHUNK_ROWS, MAX_CSV_ROWS - exported)
            chunk = search.fetch(limit, after=last)
            writer.writerows(_event_cells(event) for event in chunk)
            self.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
            await self.flush()
            # flush() completes without a turn of the event loop when the
            # socket takes the whole chunk at once. The sleep gives that turn.
            await asyncio.sleep(0)
            exported += len(chunk)
            if len(chunk) < limit:
                break
            last = chunk[-1]
        await self.finish()


def _event_cells(event: AuditEvent) -> list[str]:
    return [csv_cell(getattr(event, column)) for column in CSV_COLUMNS]


def _describe(audit_filter: AuditFilter) -> str:
    parts = [
        f"{name}={value}"
        for name, value in vars(audit_filter).items()
        if value is not None
    ]
    return "filters: " + (", ".join(parts) if parts else "none")
