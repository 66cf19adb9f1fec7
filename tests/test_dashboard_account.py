"""The staff dashboard, its charts, and a standard user's own page."""

from __future__ import annotations

import datetime
import re

import pytest

from handlers.admin.charts import build_hourly_chart, build_integration_chart
from models.base import utcnow
from models.run_stats import CallCount, query_call_counts
from models.runs import IntegrationRun
from models.users import DEBUG, EXECUTE, READ
from tests.pages import assert_page_headers, text


def add_run(integration: str, status: str, minutes_ago: float, user=None) -> None:
    IntegrationRun.create(
        run_id=f"{integration}{status}{minutes_ago}".replace(".", "")[:32],
        integration=integration,
        user=user,
        username=user.username if user else "someone",
        auth_method="basic",
        status=status,
        http_status=200 if status == "succeeded" else 500,
        started_at=utcnow() - datetime.timedelta(minutes=minutes_ago),
    )


def count_value(body: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">(\d+)<', body)
    assert match, f"no count {element_id}"
    return int(match.group(1))


@pytest.mark.gen_test
async def test_dashboard_counts_and_chart(
    staff_user, service_account, cc_client, make_user, login_as
):
    make_user("carol")
    add_run("echo", "succeeded", 5)
    add_run("echo", "failed", 10)
    add_run("echo", "succeeded", 120)
    add_run("echo", "succeeded", 60 * 30)
    pages = await login_as("sam")
    response = await pages.get("/admin/")
    assert response.code == 200
    assert_page_headers(response)
    body = text(response)
    assert count_value(body, "count-integrations") == 1
    assert count_value(body, "count-people") == 2
    assert count_value(body, "count-service-accounts") == 1
    assert count_value(body, "count-clients") == 1
    assert count_value(body, "count-failed-calls") == 1
    assert '<svg class="chart" id="integration-chart"' in body
    assert "3 calls, 33.3% errors" in body
    assert '<svg class="chart" id="hourly-chart"' in body
    assert "<script" not in body


@pytest.mark.gen_test
async def test_dashboard_without_calls(staff_user, login_as):
    pages = await login_as("sam")
    body = text(await pages.get("/admin/"))
    assert "No calls in the last 24 hours." in body
    assert count_value(body, "count-failed-calls") == 0


def test_call_counts_by_integration_and_hour(db):
    add_run("echo", "succeeded", 1)
    add_run("echo", "timed_out", 2)
    add_run("other", "succeeded", 61)
    add_run("other", "succeeded", 60 * 25)
    since = utcnow() - datetime.timedelta(hours=24)
    counts = query_call_counts(since)
    by_name = {count.key: count for count in counts.by_integration}
    assert by_name["echo"].calls == 2
    assert by_name["echo"].errors == 1
    assert by_name["echo"].error_rate == 0.5
    assert by_name["other"].calls == 1
    hours = counts.by_hour
    assert sum(count.calls for count in hours) == 3
    assert all(isinstance(count.key, datetime.datetime) for count in hours)
    assert all(count.key.minute == 0 for count in hours)


def test_integration_chart_geometry():
    chart = build_integration_chart(
        [CallCount("a", 10, 5), CallCount("b", 5, 0), CallCount("c", 0, 0)]
    )
    first, second, third = chart.bars
    assert first.ok_width + first.error_width == pytest.approx(400)
    assert first.error_width == pytest.approx(200)
    assert second.ok_width == pytest.approx(200)
    assert second.error_width == 0
    assert third.ok_width == 0
    assert second.y > first.y


def test_hourly_chart_has_24_columns():
    now = datetime.datetime(2025, 1, 31, 14, 30)
    counts = [CallCount(datetime.datetime(2025, 1, 31, 14), 4, 1)]
    chart = build_hourly_chart(counts, now)
    assert len(chart.columns) == 24
    last = chart.columns[-1]
    assert last.hour == datetime.datetime(2025, 1, 31, 14)
    assert last.ok_height + last.error_height == pytest.approx(chart.plot_height)
    assert last.error_height == pytest.approx(chart.plot_height / 4)
    assert chart.columns[0].calls == 0
    assert chart.columns[0].label == "15:00"


@pytest.mark.gen_test
async def test_account_page_lists_permitted(make_user, login_as):
    carol = make_user("carol", permissions={"echo": (READ, EXECUTE)})
    add_run("echo", "succeeded", 1, carol)
    pages = await login_as("carol")
    response = await pages.get("/")
    assert response.code == 200
    assert_page_headers(response)
    body = text(response)
    assert "Returns who called and the JSON payload it was sent." in body
    assert "read, execute" in body
    assert "Recent runs" not in body


@pytest.mark.gen_test
async def test_account_page_runs_with_debug(make_user, login_as):
    carol = make_user("carol", permissions={"echo": (DEBUG,)})
    add_run("echo", "failed", 1, carol)
    pages = await login_as("carol")
    body = text(await pages.get("/"))
    assert "Recent runs" in body
    assert 'class="status-failed">failed<' in body
    assert "You may not read or execute any integration yet." in body


@pytest.mark.gen_test
async def test_account_page_without_permissions(make_user, login_as):
    make_user("carol")
    pages = await login_as("carol")
    body = text(await pages.get("/"))
    assert "You may not read or execute any integration yet." in body
    assert "/admin/" not in body
