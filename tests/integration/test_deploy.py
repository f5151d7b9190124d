"""deploy/ against the running services: every metric the dashboard and the alerts read
is one the services export, and promtool accepts the rules, their tests and the config.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings
from tests.support.databases import TestDatabase
from tests.support.keys import INGEST_AUTH
from tests.support.polling import eventually
from tests.support.promql import exposed_names, label_names, referenced
from tests.support.services import serve

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "basewatch.json"

# Series Prometheus makes itself for every target; the services do not export them.
PROMETHEUS_OWN = {"up"}
# Metrics the dashboard or the alerts already read but whose code has not landed yet.
# The test fails if one of them is exported (then delete it here), so this only shrinks.
ANNOUNCED_NOT_YET_EXPORTED: set[str] = set()
# Labels that would make a series per customer, installation, event or key.
FORBIDDEN_LABELS = {"customer_id", "installation_id", "event_id", "order_id", "key", "id"}


@pytest.fixture
def database(sqlite_db: TestDatabase) -> TestDatabase:
    """One database is enough: which metrics exist does not depend on it."""
    return sqlite_db


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


EVENT = {
    "event_id": "deploy-e1",
    "type": "install",
    "occurred_at": "2026-11-01T10:00:00Z",
    "customer_id": "c1",
    "installation_id": "i1",
    "product_id": "p1",
    "version": "1.0",
}


async def test_dashboard_and_alerts_read_only_exported_metrics(
    ingest: httpx.AsyncClient,
    migrated: AsyncEngine,
    projector_settings: Callable[..., ProjectorSettings],
) -> None:
    async with serve(create_projector(projector_settings())) as projector:
        # One event end to end, so that the labelled series exist as they do in production.
        sent = await ingest.post("/v1/events", json={"events": [EVENT]}, headers=INGEST_AUTH)
        assert sent.status_code == 202, sent.text

        async def projector_metrics() -> str:
            return (await projector.get("/metrics")).text

        projected = await eventually(
            projector_metrics,
            lambda text: (
                'outcome="applied",type="install"' in text
                and "basewatch_projector_consumer_lag_records{" in text
            ),
        )
        ingested = (await ingest.get("/metrics")).text

    exported = exposed_names(ingested) | exposed_names(projected)
    wanted = referenced(dashboard_expressions() + alert_expressions())
    missing = wanted - exported - PROMETHEUS_OWN - ANNOUNCED_NOT_YET_EXPORTED
    assert not missing, f"deploy/ reads metrics no service exports: {sorted(missing)}"
    landed = ANNOUNCED_NOT_YET_EXPORTED & exported
    assert not landed, f"exported now: remove {sorted(landed)} from ANNOUNCED_NOT_YET_EXPORTED"
    assert not ANNOUNCED_NOT_YET_EXPORTED - wanted, "announced but read nowhere"

    binary = find_promtool()
    for exposition in (ingested, projected):
        assert not label_names(exposition) & FORBIDDEN_LABELS
        if binary is not None:
            await promtool_lints(binary, exposition)


def find_promtool() -> str | None:
    """The promtool binary, or None outside CI; CI installs it (.ci/run) and must have it."""
    found = shutil.which("promtool")
    if found is None and os.environ.get("CI"):
        pytest.fail("promtool is missing in CI: .ci/run installs the Debian package prometheus")
    return found


def promtool() -> str:
    """The promtool binary; outside CI its absence skips the test."""
    found = find_promtool()
    if found is None:
        pytest.skip("promtool not installed (apt-get install prometheus); CI runs this check")
    return found


async def promtool_lints(binary: str, exposition: str) -> None:
    """``promtool check metrics``: Prometheus' own lint of names, types, units and help."""
    proc = await asyncio.create_subprocess_exec(
        binary,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(exposition.encode()), timeout=30)
    assert proc.returncode == 0, output.decode()


@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
        ["check", "config", "prometheus.yml"],
    ],
    ids=["check-rules", "test-rules", "check-config"],
)
def test_promtool_accepts_the_prometheus_files(args: list[str]) -> None:
    result = subprocess.run(
        [promtool(), *args],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
