"""``GET /healthz``: 200 when the database responds, 503 when it does not."""

from __future__ import annotations

from handlers.base import BaseHandler
from models.base import check_database


class HealthHandler(BaseHandler):
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        if check_database():
            self.write_json({"status": "ok"})
        else:
            self.write_json({"status": "unavailable", "database": "unreachable"}, 503)

    def head(self) -> None:
        # Load balancers often probe with HEAD; Tornado sends no body for it.
        self.get()
