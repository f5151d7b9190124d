"""Health, readiness and metrics of a running ingest."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ingest import IngestFactory
from tests.support.keys import BOTH_AUTH, INGEST_AUTH


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_health_and_readiness_with_a_broker(ingest: httpx.AsyncClient) -> None:
    assert (await ingest.get("/healthz")).json() == {"status": "ok"}
    ready = await ingest.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_metrics_count_requests_events_and_produce_latency(
    ingest_with: IngestFactory,
) -> None:
    batch: dict[str, Any] = {
        "events": [
            {
                "event_id": "secret-event-id",
                "type": "heartbeat",
                "occurred_at": "2026-01-01T10:00:00Z",
                "installation_id": "secret-installation",
            },
            {"event_id": "e2", "type": "purchase", "occurred_at": "2026-01-01T10:00:00Z"},
            {"event_id": "e3", "type": "no-such-type"},
        ]
    }
    async with ingest_with() as ingest:
        assert (await ingest.post("/v1/events", json=batch, headers=INGEST_AUTH)).status_code == 202
        assert (await ingest.post("/v1/events", json=batch, headers=BOTH_AUTH)).status_code == 202
        refused = await ingest.post("/v1/events", content=b"{", headers=INGEST_AUTH)
        assert refused.status_code == 415
        assert (await ingest.get("/no/such/path/secret-path")).status_code == 404
        response = await ingest.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    requests = "basewatch_ingest_requests_total"
    assert value(found, requests, route="/v1/events", method="POST", status="202") == 2
    assert value(found, requests, route="/v1/events", method="POST", status="415") == 1
    assert value(found, requests, route="unmatched", method="GET", status="404") == 1
    assert value(found, "basewatch_ingest_events_accepted_total", type="heartbeat") == 2
    rejected = "basewatch_ingest_events_rejected_total"
    assert value(found, rejected, type="purchase", reason="invalid") == 2
    assert value(found, rejected, type="unknown", reason="invalid") == 2
    assert value(found, "basewatch_ingest_produce_duration_seconds_count") == 2
    assert value(found, "basewatch_ingest_request_duration_seconds_count", route="/v1/events") == 3
    # Labels hold no ids, key names or client-chosen paths.
    for secret in ("secret", "test-app", "both", "e2", "no-such-type"):
        assert secret not in response.text


async def test_the_openapi_document_is_served(ingest: httpx.AsyncClient) -> None:
    document = (await ingest.get("/openapi.json")).json()
    assert "requestBody" in document["paths"]["/v1/events"]["post"]
