"""Dashboard counts and audit searches on large tables: grouping, indexes,
paging limits and the event loop staying free."""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import logging
import threading

import peewee
import pytest
import tornado.tcpclient

from handlers.admin import audit as audit_page
from models import paging, schema
from models.audit import AuditEvent
from models.audit_search import AuditFilter, EventSearch, query_audit_actions
from models.base import utcnow
from models.run_stats import CallCount, call_count_query, query_call_counts
from models.runs import IntegrationRun
from tests.pages import assert_page_headers, text

T0 = datetime.datetime(2025, 1, 31, 10, 0)


def add_run_at(integration: str, status: str, started_at: datetime.datetime) -> None:
    IntegrationRun.create(
        run_id=f"{integration}-{started_at:%d%H%M%S%f}",
        integration=integration,
        username="someone",
        auth_method="basic",
        status=status,
        http_status=200 if status == "succeeded" else 500,
        started_at=started_at,
    )


def add_events(count: int, created_at: datetime.datetime | None = None, **fields):
    """Insert ``count`` audit events; they share ``created_at`` when it is given."""
    now = utcnow()
    rows = [
        {
            "created_at": created_at
            or now - datetime.timedelta(seconds=count - number),
            "action": fields.get("action", "test.event"),
            "outcome": "success",
            "actor": fields.get("actor", "bulk"),
            "target": fields.get("target", f"t{number:04d}"),
            "detail": fields.get("detail"),
        }
        for number in range(count)
    ]
    for start in range(0, count, 500):
        AuditEvent.insert_many(rows[start : start + 500]).execute()


def index_names(db: peewee.Database, table: str) -> set[str]:
    return {index.name for index in db.get_indexes(table)}


def sqlite_plan(db: peewee.Database, query: peewee.Query) -> str:
    sql, params = query.sql()
    rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(row[3]) for row in rows)


def test_call_counts_group_by_hour(db):
    add_run_at("echo", "succeeded", T0 - datetime.timedelta(microseconds=1))
    add_run_at("echo", "succeeded", T0)
    add_run_at("echo", "failed", T0 + datetime.timedelta(minutes=59, seconds=59.9))
    add_run_at("other", "timed_out", T0 + datetime.timedelta(hours=1))
    add_run_at("echo", "succeeded", T0 + datetime.timedelta(hours=1, minutes=30))
    add_run_at("echo", "rejected", datetime.datetime(2025, 2, 1, 0, 0, 1))

    counts = query_call_counts(T0)

    assert counts.by_hour == [
        CallCount(datetime.datetime(2025, 1, 31, 10), 2, 1),
        CallCount(datetime.datetime(2025, 1, 31, 11), 2, 1),
        CallCount(datetime.datetime(2025, 2, 1, 0), 1, 1),
    ]
    assert counts.by_integration == [
        CallCount("echo", 4, 2),
        CallCount("other", 1, 1),
    ]


def test_call_counts_empty(db):
    add_run_at("echo", "succeeded", T0 - datetime.timedelta(hours=1))
    counts = query_call_counts(T0)
    assert counts.by_hour == []
    assert counts.by_integration == []


OLD_INDEXES = {
    "integration_run_integration": ("integration_run", "integration"),
    "integration_run_started_at": ("integration_run", "started_at"),
    "audit_event_actor": ("audit_event", "actor"),
    "audit_event_action": ("audit_event", "action"),
}
NEW_INDEXES = (
    "integration_run_started_at_integration_status",
    "integration_run_integration_started_at",
    "audit_event_actor_created_at",
    "audit_event_action_created_at",
    "audit_event_target_created_at",
)


def test_report_indexes_exist(db):
    names = index_names(db, "integration_run") | index_names(db, "audit_event")
    for name in NEW_INDEXES:
        assert name in names
    assert not set(OLD_INDEXES) & names


def test_report_indexes_replace_old_ones(db):
    # Turn the tables back into those of the version before the migration.
    before = schema.MIGRATIONS.index(schema._add_report_indexes)
    for name in NEW_INDEXES:
        db.execute_sql(f'DROP INDEX "{name}"')
    for name, (table, column) in OLD_INDEXES.items():
        db.execute_sql(f'CREATE INDEX "{name}" ON "{table}" ("{column}")')
    schema.set_state(schema.SCHEMA_VERSION_KEY, str(before))

    assert schema.migrate() == before

    names = index_names(db, "integration_run") | index_names(db, "audit_event")
    for name in NEW_INDEXES:
        assert name in names
    assert not set(OLD_INDEXES) & names
    assert set(schema.REPLACED_INDEXES) == set(OLD_INDEXES)


def test_sqlite_plans_use_indexes(db):
    if not isinstance(db, peewee.SqliteDatabase):
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    plan = sqlite_plan(db, call_count_query(T0))
    assert "COVERING INDEX integration_run_started_at_integration_status" in plan
    since = AuditFilter(action="login", since=T0)
    for audit_filter, index in (
        (since, "audit_event_action_created_at (action=? AND created_at>?)"),
        (AuditFilter(actor="sam"), "audit_event_actor_created_at (actor=?)"),
        (AuditFilter(integration="echo"), "audit_event_target_created_at"),
    ):
        query = EventSearch(audit_filter).queries[0]
        ordered = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        plan = sqlite_plan(db, ordered.limit(50))
        assert f"USING INDEX {index}" in plan
        assert "TEMP B-TREE" not in plan


def test_audit_actions_distinct_sorted(db):
    for action in ("user.create", "login", "user.create", "audit.export", "login"):
        add_events(1, action=action)
    assert query_audit_actions() == ["audit.export", "login", "user.create"]


def test_audit_actions_empty(db):
    assert query_audit_actions() == []


def test_event_search_merges_integration(db):
    # Equal times, so that the order rests on the id alone.
    add_events(4, created_at=T0, target="echo")
    add_events(3, created_at=T0, target="other")
    add_events(
        3,
        created_at=T0,
        action="permission.grant",
        target="carol",
        detail="execute on echo",
    )
    add_events(2, created_at=T0, target="echo")
    search = EventSearch(AuditFilter(integration="echo"))
    expected = [
        event.id
        for event in AuditEvent.select().order_by(AuditEvent.id.desc())
        if event.target == "echo" or event.detail == "execute on echo"
    ]
    assert len(expected) == 9
    assert search.count(100) == 9
    assert search.count(5) == 5
    assert [event.id for event in search.fetch(4, offset=3)] == expected[3:7]

    chunks = []
    last = None
    while True:
        chunk = search.fetch(2, after=last)
        chunks.extend(event.id for event in chunk)
        if len(chunk) < 2:
            break
        last = chunk[-1]
    assert chunks == expected


def test_permission_event_on_same_named_user(db):
    # A user named like the integration: the event matches both queries.
    add_events(1, action="permission.grant", target="echo", detail="read on echo")
    search = EventSearch(AuditFilter(integration="echo"))
    assert search.count(10) == 1
    assert len(search.fetch(10)) == 1


@pytest.mark.gen_test
async def test_dashboard_counts_off_event_loop(
    staff_user, login_as, gateway, http_client, base_url
):
    pages = await login_as("sam")
    release = threading.Event()
    # The report thread is busy, so the dashboard's counts wait for it.
    gateway.report_executor.submit(release.wait, 5)
    dashboard = asyncio.ensure_future(pages.get("/admin/"))
    try:
        done, _ = await asyncio.wait({dashboard}, timeout=0.5)
        assert not done
        health = await http_client.fetch(base_url + "/healthz")
        assert health.code == 200
    finally:
        release.set()
    response = await dashboard
    assert response.code == 200
    assert_page_headers(response)
    assert "No calls in the last 24 hours." in text(response)


@pytest.mark.gen_test
async def test_audit_page_counts_capped(staff_user, login_as, monkeypatch):
    monkeypatch.setattr(paging, "MAX_COUNTED_ROWS", 100)
    add_events(120)
    pages = await login_as("sam")
    first = await pages.get("/admin/audit?actor=bulk")
    assert first.code == 200
    assert_page_headers(first)
    body = text(first)
    assert "Page 1 of 2 (more than 100 match" in body
    assert ">t0119<" in body
    last = text(await pages.get("/admin/audit?actor=bulk&page=2"))
    assert ">t0069<" in last
    assert ">t0020<" in last
    assert ">t0019<" not in last
    past = await pages.get("/admin/audit?actor=bulk&page=3")
    assert past.code == 200
    assert "No event matches the filters." in text(past)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "integration_gateway.access"
    ]


@pytest.mark.gen_test
async def test_audit_export_yields_between_chunks(
    staff_user, login_as, http_client, base_url, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger="integration_gateway")
    monkeypatch.setattr(audit_page, "CSV_CHUNK_ROWS", 10)
    add_events(1000)
    pages = await login_as("sam")
    health: list[asyncio.Future] = []

    def on_chunk(chunk: bytes) -> None:
        if not health:
            health.append(
                asyncio.ensure_future(http_client.fetch(base_url + "/healthz"))
            )

    export = await pages.get("/admin/audit.csv?actor=bulk", streaming_callback=on_chunk)
    assert export.code == 200
    assert (await health[0]).code == 200
    lines = access_lines(caplog)
    health_line = next(i for i, line in enumerate(lines) if "GET /healthz" in line)
    export_line = next(i for i, line in enumerate(lines) if "/admin/audit.csv" in line)
    # The health check was sent after the first rows arrived, and the server
    # finished it before the export.
    assert health_line < export_line


@pytest.mark.gen_test
async def test_audit_export_row_cap(staff_user, login_as, monkeypatch):
    monkeypatch.setattr(audit_page, "CSV_CHUNK_ROWS", 10)
    monkeypatch.setattr(audit_page, "MAX_CSV_ROWS", 25)
    add_events(40)
    pages = await login_as("sam")
    response = await pages.get("/admin/audit.csv?actor=bulk")
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=UTF-8"
    rows = list(csv.reader(io.StringIO(response.body.decode("utf-8"))))
    assert rows[0][0] == "created_at"
    targets = [row[5] for row in rows[1:]]
    assert targets == [f"t{number:04d}" for number in range(39, 14, -1)]


@pytest.mark.gen_test
async def test_audit_export_ties_in_order(staff_user, login_as, monkeypatch):
    monkeypatch.setattr(audit_page, "CSV_CHUNK_ROWS", 3)
    add_events(10, created_at=T0)
    pages = await login_as("sam")
    response = await pages.get("/admin/audit.csv?actor=bulk")
    rows = list(csv.reader(io.StringIO(response.body.decode("utf-8"))))
    assert [row[5] for row in rows[1:]] == [f"t{n:04d}" for n in range(9, -1, -1)]


@pytest.mark.gen_test
async def test_audit_export_client_gone(
    staff_user, login_as, http_port, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger="integration_gateway")
    monkeypatch.setattr(audit_page, "CSV_CHUNK_ROWS", 10)
    add_events(2000)
    pages = await login_as("sam")
    cookies = "; ".join(f"{name}={value}" for name, value in pages.cookies.items())
    stream = await tornado.tcpclient.TCPClient().connect("127.0.0.1", http_port)
    request = (
        f"GET /admin/audit.csv HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookies}\r\n\r\n"
    )
    await stream.write(request.encode("ascii"))
    first = await stream.read_bytes(1024, partial=True)
    assert first.startswith(b"HTTP/1.1 200 OK")
    stream.close()

    for _ in range(300):
        if any("closed the connection" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    ended = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(ended) == 1
    assert ended[0].levelno == logging.INFO
    assert ended[0].name == "integration_gateway.handlers.admin.audit"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # The export was on record before its first row was sent.
    event = AuditEvent.get(AuditEvent.action == "audit.export")
    assert event.actor == "sam"
    assert event.detail == "filters: none"
