"""A plugin packaged on its own, found by a real ``server.py`` through its
distribution metadata and run.

The package lives in a temporary directory with a ``*.dist-info`` folder of
its own, the layout an installed wheel has, and reaches the server only
through ``PYTHONPATH``. Nothing in this repository's pyproject names it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

DISTRIBUTION = "acme-gateway-plugins"

PLUGIN_SOURCE = '''
"""ACME's integrations for integration-gateway."""

from plugins import Integration, IntegrationError


class InvoiceLookup(Integration):
    name = "invoice-lookup"
    title = "Invoice lookup"
    description = "Looks an invoice up in the ACME ERP."
    version = "1.2.0"

    def run(self, context, payload):
        invoice = payload.get("invoice") if isinstance(payload, dict) else None
        if invoice is None:
            raise IntegrationError(
                "The payload needs an invoice number.", 422, "invalid_payload"
            )
        context.logger.info("looked up invoice %s", invoice)
        return {
            "invoice": invoice,
            "status": "paid",
            "region": context.settings.get("region"),
            "caller": context.principal.username,
        }
'''

ENTRY_POINTS = """\
[integration_gateway.integrations]
invoice-lookup = acme_gateway_plugins:InvoiceLookup
acme-ledger = acme_gateway_plugins.ledger:Ledger
"""


def build_package(root: Path) -> Path:
    """Write the package and its metadata under ``root``; return the path entry."""
    site = root / "site"
    package = site / "acme_gateway_plugins"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE)
    # A second plugin whose import fails, as when a dependency is missing.
    (package / "ledger.py").write_text('raise ImportError("acme-sdk is missing")\n')
    metadata = site / "acme_gateway_plugins-1.2.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(
        textwrap.dedent(
            f"""\
            Metadata-Version: 2.1
            Name: {DISTRIBUTION}
            Version: 1.2.0
            """
        )
    )
    (metadata / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


@pytest.fixture
def acme_gateway(gateway_process: Any, tmp_path: Path) -> Any:
    """A gateway process with the ACME package on its path and a settings table."""
    config = tmp_path / "gateway.toml"
    config.write_text('[integrations.invoice-lookup]\nregion = "eu-west"\n')
    gateway_process.env["PYTHONPATH"] = str(build_package(tmp_path))
    gateway_process.env["GATEWAY_CONFIG"] = str(config)
    return gateway_process


def test_cli_lists_separate_package(acme_gateway: Any) -> None:
    listing = acme_gateway.cli_json("list-integrations")

    by_name = {item["name"]: item for item in listing["integrations"]}
    assert set(by_name) == {"echo", "invoice-lookup"}
    assert by_name["invoice-lookup"]["distribution"] == DISTRIBUTION
    assert by_name["invoice-lookup"]["version"] == "1.2.0"
    assert by_name["invoice-lookup"]["entry_point"] == (
        "invoice-lookup = acme_gateway_plugins:InvoiceLookup"
    )
    assert listing["failed"] == [
        {
            "entry_point": "acme-ledger = acme_gateway_plugins.ledger:Ledger",
            "distribution": DISTRIBUTION,
            "reason": "import failed: ImportError: acme-sdk is missing",
        }
    ]


def test_cli_text_lists_failed_plugin(acme_gateway: Any) -> None:
    output = acme_gateway.cli("list-integrations")

    assert output.splitlines() == [
        "echo  1.0.0  Echo  (integration-gateway)",
        f"invoice-lookup  1.2.0  Invoice lookup  ({DISTRIBUTION})",
        f"FAILED  acme-ledger = acme_gateway_plugins.ledger:Ledger  ({DISTRIBUTION}):"
        " import failed: ImportError: acme-sdk is missing",
    ]


def test_server_runs_separate_package(acme_gateway: Any) -> None:
    password = acme_gateway.cli_json("create-user", "acme-sa", "--service-account")[
        "password"
    ]
    acme_gateway.cli("grant", "acme-sa", "invoice-lookup")
    acme_gateway.cli("grant", "acme-sa", "echo")
    base_url = acme_gateway.start()
    auth = ("acme-sa", password)

    listed = requests.get(base_url + "/integrations", auth=auth, timeout=10)
    found = requests.post(
        base_url + "/integrations/execute/invoice-lookup",
        auth=auth,
        json={"invoice": "INV-17"},
        timeout=10,
    )
    rejected = requests.post(
        base_url + "/integrations/execute/invoice-lookup",
        auth=auth,
        json={},
        timeout=10,
    )
    echo = requests.post(
        base_url + "/integrations/execute/echo", auth=auth, json={}, timeout=10
    )
    failed = requests.post(
        base_url + "/integrations/execute/acme-ledger", auth=auth, timeout=10
    )

    assert [item["name"] for item in listed.json()["integrations"]] == [
        "echo",
        "invoice-lookup",
    ]
    assert found.status_code == 200
    assert found.json() == {
        "invoice": "INV-17",
        "status": "paid",
        "region": "eu-west",
        "caller": "acme-sa",
    }
    assert rejected.status_code == 422
    assert rejected.json() == {
        "error": "invalid_payload",
        "error_description": "The payload needs an invoice number.",
        "run_id": rejected.headers["X-Run-Id"],
    }
    assert echo.status_code == 200
    assert failed.status_code == 404
    assert failed.json()["error"] == "not_found"

    acme_gateway.stop()
    log = acme_gateway.log()
    assert "integrations, 1 failed plugins)" in log
    assert "failed to load: import failed: ImportError: acme-sdk is missing" in log
    assert f"run {found.headers['X-Run-Id']}: looked up invoice INV-17" in log
    assert password not in log
