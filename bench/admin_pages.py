"""Measure the admin pages that read many rows: dashboard, audit log, CSV export.

Fills a database with integration runs and audit events spread evenly over the
last 24 hours, oldest first (raw ``executemany`` on SQLite, ``execute_values``
on PostgreSQL). Then starts ``server.py serve`` on a free loopback port and
times the pages through HTTP while another process polls ``/healthz``. The
longest ``/healthz`` wait during a request is about how long the event loop
was held.

    .venv/bin/python -m bench.admin_pages sqlite:////tmp/admin.db
    .venv/bin/python -m bench.admin_pages postgresql://postgres@127.0.0.1:5432/x

The database must be empty or filled by an earlier run of this script.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import peewee
import requests
import tornado.web
from psycopg2.extras import execute_values

import models
from auth.secrets import generate_token, sha256_hex
from bench.loopback import pick_free_port
from handlers.gateway import COOKIE_SECRET_KEY
from handlers.web import session_cookie_name
from models.audit import AuditEvent
from models.base import database, utcnow
from models.runs import IntegrationRun
from models.sessions import create_session
from models.state import ensure_secret
from models.users import STAFF, create_user, query_user

ROOT = Path(__file__).resolve().parent.parent
STAFF_USERNAME = "bench-staff"
INTEGRATIONS = ("echo", "erp-orders", "crm-sync", "invoices", "stock")
ACTIONS = ("integration.execute", "token.issue", "login", "logout", "user.create")
BATCH_ROWS = 10_000
START_TIMEOUT_SECONDS = 30.0
HEALTH_POLL_SECONDS = 0.005
# Rows start 24 hours ago and end a little before now.
SPAN_SECONDS = 86_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


Row = tuple[Any, ...]


def _batches(count: int, make_row: Callable[[int], Row]) -> Iterator[list[Row]]:
    for start in range(0, count, BATCH_ROWS):
        numbers = range(start, min(count, start + BATCH_ROWS))
        yield [make_row(number) for number in numbers]


def _insert_rows(table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
    # Table and column names are constants of this script.
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
    cursor = database.cursor()
    if isinstance(database.obj, peewee.SqliteDatabase):
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(f"{insert}({marks})", rows)
    else:
        execute_values(cursor, insert + "%s", rows, page_size=1000)


def fill_runs(count: int) -> None:
    start = utcnow() - datetime.timedelta(hours=24)
    present = IntegrationRun.select().count()
    columns = (
        "run_id",
        "integration",
        "username",
        "auth_method",
        "status",
        "http_status",
        "started_at",
        "duration_ms",
    )

    def make_row(number: int) -> tuple[Any, ...]:
        failed = number % 20 == 0
        return (
            f"bench{number:027d}",
            INTEGRATIONS[number % len(INTEGRATIONS)],
            "partner-sa",
            "bearer",
            "failed" if failed else "succeeded",
            500 if failed else 200,
            start + datetime.timedelta(seconds=SPAN_SECONDS * number / count),
            1.0,
        )

    with database.atomic():
        for rows in _batches(max(0, count - present), make_row):
            _insert_rows(IntegrationRun._meta.table_name, columns, rows)


def fill_events(count: int) -> None:
    start = utcnow() - datetime.timedelta(hours=24)
    present = AuditEvent.select().count()
    columns = (
        "created_at",
        "actor",
        "auth_method",
        "action",
        "target",
        "outcome",
        "detail",
    )

    def make_row(number: int) -> tuple[Any, ...]:
        return (
            start + datetime.timedelta(seconds=SPAN_SECONDS * number / count),
            f"user{number % 500}",
            "bearer",
            ACTIONS[number % len(ACTIONS)],
            INTEGRATIONS[number % len(INTEGRATIONS)],
            "success",
            "bench row",
        )

    with database.atomic():
        for rows in _batches(max(0, count - present), make_row):
            _insert_rows(AuditEvent._meta.table_name, columns, rows)


def staff_cookie(secure_name: str) -> str:
    """Start a session for the staff user, created when missing; return the cookie."""
    # "!" is no bcrypt hash, so the user cannot log in with a password.
    user = query_user(STAFF_USERNAME) or create_user(STAFF_USERNAME, STAFF, "!")
    session_id = generate_token(32)
    with database.atomic():
        create_session(sha256_hex(session_id), user, 3600, None)
    secret = ensure_secret(COOKIE_SECRET_KEY, 48)
    signed = tornado.web.create_signed_value(secret, secure_name, session_id)
    return f"{secure_name}={signed.decode('ascii')}"


class HealthPoller(multiprocessing.Process):
    """Polls ``/healthz`` and keeps the longest wait seen while measuring.

    A process of its own, so that the client work of this process (reading a
    large CSV) cannot delay the polls.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.longest_ms = multiprocessing.Value("d", 0.0)
        self.measuring = multiprocessing.Value("b", 0)
        self.stopped = multiprocessing.Event()

    def run(self) -> None:
        with requests.Session() as session:
            while not self.stopped.is_set():
                measured = self.measuring.value
                started = time.perf_counter()
                session.get(self.base_url + "/healthz", timeout=30)
                elapsed = (time.perf_counter() - started) * 1000
                # A poll counts when the page request was running at either end.
                if measured or self.measuring.value:
                    with self.longest_ms.get_lock():
                        self.longest_ms.value = max(self.longest_ms.value, elapsed)
                time.sleep(HEALTH_POLL_SECONDS)


def start_server(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GATEWAY_")
    }
    env.update(
        {
            "GATEWAY_DATABASE_URL": database_url,
            "GATEWAY_PORT": str(port),
            "GATEWAY_HOST": "127.0.0.1",
        }
    )
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "server.py"), "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("server.py did not start")


def time_pages(base_url: str, cookie: str, repeat: int) -> None:
    since = (utcnow() - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    poller = HealthPoller(base_url)
    poller.start()
    headers = {"Cookie": cookie}
    for path in (
        "/admin/",
        "/admin/audit",
        f"/admin/audit?action=login&since={since}",
        "/admin/audit?actor=user7",
        "/admin/audit?integration=echo",
        "/admin/audit?integration=echo&page=200",
        "/admin/audit?page=200",
        "/admin/integrations/echo",
        "/admin/audit.csv",
        "/admin/audit.csv?integration=echo",
    ):
        times = []
        poller.longest_ms.value = 0.0
        for _ in range(repeat):
            poller.measuring.value = 1
            started = time.perf_counter()
            response = requests.get(base_url + path, headers=headers, timeout=300)
            times.append((time.perf_counter() - started) * 1000)
            poller.measuring.value = 0
            time.sleep(0.2)
            if response.status_code != 200:
                raise SystemExit(f"{path} returned status {response.status_code}")
        print(
            f"page {path}: {statistics.median(times):.0f} ms,"
            f" longest /healthz wait {poller.longest_ms.value:.0f} ms,"
            f" {len(response.content)} bytes"
        )
    poller.stopped.set()


def main() -> None:
    args = parse_args()
    models.open_database(args.database_url)
    models.migrate()
    started = time.perf_counter()
    fill_runs(args.runs)
    fill_events(args.events)
    print(f"filled in {time.perf_counter() - started:.1f} s")
    if not isinstance(database.obj, models.base.peewee.SqliteDatabase):
        database.execute_sql("ANALYZE")
    cookie = staff_cookie(session_cookie_name(False))
    database.close()

    port = pick_free_port()
    process = start_server(args.database_url, port)
    try:
        time_pages(f"http://127.0.0.1:{port}", cookie, args.repeat)
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
