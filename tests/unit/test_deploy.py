"""The deployment files, checked without a Docker engine: docker-compose.yml, deploy/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from basewatch_ingest.metrics import Metrics as IngestMetrics
from basewatch_projector.metrics import Metrics as ProjectorMetrics
from tests.support.promql import families, metric_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "basewatch.json"
BASEWATCH_SERVICES = ("topics", "migrate", "ingest", "projector")


def load_yaml(path: Path) -> Any:
    """Parse a YAML file (merge keys and anchors included, as compose reads them)."""
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed: dict[str, Any] = load_yaml(COMPOSE)
    return parsed


def operating_section() -> str:
    """The README's "Operating basewatch" section."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Operating basewatch")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('sum by (status) (rate(x_total{status=~"5.."}[5m]))', {"x_total"}),
        (
            "histogram_quantile(0.99, sum by (le) (rate(h_bucket{route='/v1'}[5m])))",
            {"h_bucket"},
        ),
        ("a / ignoring (code) group_left (x) b > bool 0.05", {"a", "b"}),
        ("max(x offset 10m) unless on (t, p) changes(y[10m]) > 1e3", {"x", "y"}),
        ("deriv(sum(lag)[15m:1m]) and absent(z)", {"lag", "z"}),
        ('label_replace(v, "dst", "$1", "src", "(.*)") or vector(0)', {"v"}),
        ("sum(x) by (topic) * on(instance) group_right y", {"x", "y"}),
        ("rate(ns:metric_a[5m]) + Inf - NaN", {"ns:metric_a"}),
    ],
)
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_compose_references_only_files_that_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is not None:
            context = ROOT / build["context"]
            assert (context / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a bind mount; named volumes are declared below
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"


def test_compose_runs_the_whole_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"kafka", "postgres", *BASEWATCH_SERVICES, "prometheus", "grafana"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["topics"]["command"][:2] == ["topics", "create"]
    partitions = int(
        services["topics"]["command"][services["topics"]["command"].index("--partitions") + 1]
    )
    assert services["migrate"]["command"] == ["migrate"]
    projector = services["projector"]
    assert projector["command"] == ["projector"]
    replicas = projector["deploy"]["replicas"]
    assert 2 <= replicas <= partitions  # one group; a replica beyond the partitions idles
    assert projector["environment"]["BASEWATCH_CONSUMER_GROUP"]
    # The services start after the one-shot steps have finished successfully.
    for name, needs in (("ingest", {"topics"}), ("projector", {"topics", "migrate"})):
        depends = services[name]["depends_on"]
        assert set(depends) == needs
        assert all(d["condition"] == "service_completed_successfully" for d in depends.values())
    for name in BASEWATCH_SERVICES:
        env = services[name]["environment"]
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["BASEWATCH_KAFKA_IDEMPOTENCE"] == "true"
        assert env["BASEWATCH_HOST"] == "0.0.0.0"  # the default, loopback, is unreachable
    assert services["ingest"]["environment"]["BASEWATCH_PORT"] == 8080
    assert projector["environment"]["BASEWATCH_PORT"] == 8081
    assert services["migrate"]["environment"]["DATABASE_URL"].startswith("postgresql://")


def test_kafka_is_a_single_kraft_node_with_matching_replication(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for setting in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_MIN_INSYNC_REPLICAS",
    ):
        assert env[setting] == 1, setting
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "--replication-factor" in compose["services"]["topics"]["command"]
    # The note on a three-broker cluster is there.
    assert "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 2" in COMPOSE.read_text()


def test_api_keys_come_from_the_environment_as_hashes(compose: dict[str, Any]) -> None:
    for name in BASEWATCH_SERVICES:
        keys = compose["services"][name]["environment"]["BASEWATCH_API_KEYS"]
        # Interpolated from .env, required: no key (nor hash) is written in the file.
        assert re.fullmatch(r"\$\{BASEWATCH_API_KEYS:\?[^}]+\}", keys), keys
    assert "basewatch keys new" in operating_section()


def test_dockerfile_is_slim_non_root_hashed_and_checks_health() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"PYTHON_IMAGE=python:3\.\d+-slim", text)
    assert "--require-hashes" in text and "requirements.lock" in text
    assert "--no-index" in text  # the runtime install sees only the hash-checked wheels
    for package in ("./shared", "./services/ingest", "./services/projector"):
        assert package in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0"))
    healthcheck = re.search(r"^HEALTHCHECK .*\n(?:.*\n)*?\s*CMD (.*)$", text, re.MULTILINE)
    assert healthcheck is not None
    assert "urllib.request" in healthcheck.group(1) and "/healthz" in healthcheck.group(1)
    patterns = [
        line for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] not in "#"
    ]
    assert patterns[0] == "*"  # an allow-list: no .env, .venv or database in the context
    assert {"!requirements.lock", "!shared/", "!services/"} <= set(patterns)


def test_prometheus_scrapes_every_service_and_loads_the_rules(compose: dict[str, Any]) -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    for rules in config["rule_files"]:
        assert (DEPLOY / "prometheus" / rules).is_file()  # relative to the config file
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["basewatch-ingest"]["static_configs"][0]["targets"] == ["ingest:8080"]
    # DNS service discovery: one target per projector replica.
    [dns] = jobs["basewatch-projector"]["dns_sd_configs"]
    assert (dns["names"], dns["type"], dns["port"]) == (["projector"], "A", 8081)
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_grafana_loads_the_dashboard_from_prometheus(compose: dict[str, Any]) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    [provider] = load_yaml(provisioning / "dashboards" / "basewatch.yml")["providers"]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    [source] = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    shown = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            shown |= metric_names(target["expr"])
    assert shown >= {
        "basewatch_projector_consumer_lag_records",
        "basewatch_projector_consumer_lag_seconds",
        "basewatch_ingest_events_accepted_total",
        "basewatch_projector_events_total",
        "basewatch_ingest_requests_total",
        "basewatch_projector_installations",
        "basewatch_projector_signals_total",
    }


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of deploy/prometheus/alerts.yml."""
    groups = load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_is_explained() -> None:
    section = operating_section()
    rules = alert_rules()
    assert len(rules) >= 7
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert f"`{rule['alert']}`" in section, f"no runbook for {rule['alert']} in the README"


def exported_families() -> dict[str, str]:
    """Every metric family both services register (name -> type), from their registries."""
    found: dict[str, str] = {}
    for metrics in (IngestMetrics(), ProjectorMetrics()):
        found |= families(generate_latest(metrics.registry).decode())
    return found


def test_metric_names_follow_prometheus_conventions() -> None:
    for name, kind in exported_families().items():
        assert re.fullmatch(r"basewatch_(ingest|projector)_[a-z0-9_]+", name), name
        if kind == "counter":
            assert not name.endswith("_total"), name  # the exposition adds it once
        if "duration" in name or "lag_seconds" in name or "timestamp" in name:
            assert name.endswith("_seconds"), f"{name}: time is in seconds"
        assert not re.search(r"_(ms|milliseconds|minutes|hours|percent)$", name), name


def test_lag_is_exported_as_gauges_per_topic_and_partition() -> None:
    kinds = exported_families()
    for name in (
        "basewatch_projector_committed_offset",
        "basewatch_projector_log_end_offset",
        "basewatch_projector_consumer_lag_records",
        "basewatch_projector_consumer_lag_seconds",
        "basewatch_projector_last_event_timestamp_seconds",
    ):
        assert kinds[name] == "gauge", name
    metrics = ProjectorMetrics()
    for gauge in metrics.partition_gauges:
        gauge.labels(topic="t", partition="0").set(1)
    exposition = generate_latest(metrics.registry).decode()
    assert exposition.count('{partition="0",topic="t"}') == len(metrics.partition_gauges)


def test_every_metric_is_documented_in_the_readme() -> None:
    section = operating_section()
    for name, kind in exported_families().items():
        shown = f"{name}_total" if kind == "counter" else name
        assert f"`{shown}`" in section, f"{shown} is not documented in the README"


TOOLS = ("kafka", "postgres", "prometheus", "grafana")
SERVICES_ADDRESS = "${BASEWATCH_PUBLISH_ADDRESS:-127.0.0.1}:"


def test_every_published_port_is_on_the_loopback(compose: dict[str, Any]) -> None:
    # Found by attacking a running stack: Kafka's PLAINTEXT listener (read every topic,
    # write past ingest's keys) and Prometheus answered on every interface.
    published = {
        name: [str(port) for port in service.get("ports", [])]
        for name, service in compose["services"].items()
    }
    assert published["kafka"] and published["prometheus"] and published["ingest"]
    for name, ports in published.items():
        for port in ports:
            if name in TOOLS:
                assert port.startswith("127.0.0.1:"), (name, port)
            else:  # the keyed services: loopback unless the operator says otherwise
                assert port.startswith(SERVICES_ADDRESS), (name, port)


def test_every_password_is_required_none_has_a_default() -> None:
    # POSTGRES_PASSWORD silently defaulted to a known value.
    text = COMPOSE.read_text()
    uses = re.findall(r"\$\{([A-Z_]*PASSWORD[A-Z_]*)(:?[-?])", text)
    assert {name for name, _ in uses} == {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
    assert {how for _, how in uses} == {":?"}, uses


def test_tls_in_front_of_the_services_is_documented() -> None:
    section = operating_section()
    assert "### TLS in front" in section
    assert "BASEWATCH_PUBLISH_ADDRESS" in section
