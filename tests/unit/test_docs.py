"""docs/ names what the code has: settings and their defaults, routes and their
parameters and fields, event fields, signal kinds, statuses, metrics, command options;
its links resolve, and nothing cites a contract outside the repository."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry

from basewatch_ingest.app import create_app as create_ingest
from basewatch_ingest.metrics import Metrics as IngestMetrics
from basewatch_ingest.settings import Settings as IngestSettings
from basewatch_projector.app import create_app as create_projector
from basewatch_projector.metrics import Metrics as ProjectorMetrics
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_shared.cli import build_parser
from basewatch_shared.devtools.dev import DEMO_ENV

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_SPAN = re.compile(r"`([^`\n]+)`")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@cache
def page(name: str) -> str:
    """The text of a docs page."""
    return (DOCS / name).read_text()


def names(text: str) -> set[str]:
    """Every identifier inside a `code span` of the text."""
    return {n for span in _SPAN.findall(text) for n in _NAME.findall(span)}


def sections(text: str, level: str) -> dict[str, str]:
    """Heading (its first code span, else its text) -> body, for headings of ``level``."""
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    found = {}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        span = _SPAN.search(heading)
        found[span.group(1) if span else heading] = body
    return found


@cache
def document(service: str) -> dict[str, Any]:
    """A service's OpenAPI document (no lifespan: no broker, no database)."""
    if service == "ingest":
        return create_ingest(IngestSettings.model_validate({})).openapi()
    return create_projector(ProjectorSettings.model_validate({})).openapi()


def properties(schema: Any, doc: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    """Every property name in a schema, following $refs (once each), arrays and unions."""
    if isinstance(schema, list):
        return {name for item in schema for name in properties(item, doc, seen)}
    if not isinstance(schema, dict):
        return set()
    found: set[str] = set()
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        target = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        found |= properties(target, doc, seen | {ref})
    fields = schema.get("properties", {})
    nested = ("items", "anyOf", "allOf", "oneOf", "additionalProperties")
    children = [*fields.values(), *(schema.get(key) for key in nested)]
    return found | set(fields) | properties(children, doc, seen)


# -- configuration ---------------------------------------------------------------------


def env_name(field: str, settings: type[IngestSettings | ProjectorSettings]) -> str:
    """The environment variable a settings field is read from."""
    alias = settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"BASEWATCH_{field.upper()}"


def written(value: Any) -> str:
    """A default as configuration.md writes it."""
    if isinstance(value, timedelta):
        seconds, text = int(value.total_seconds()), ""
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if seconds >= size:
                text, seconds = f"{text}{seconds // size}{unit}", seconds % size
        return text
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "{}" if value == {} else str(value)


@pytest.mark.parametrize(
    ("settings", "section"), [(IngestSettings, "Ingest"), (ProjectorSettings, "Projector")]
)
def test_every_setting_is_documented_with_its_default(
    settings: type[IngestSettings | ProjectorSettings], section: str
) -> None:
    tables = sections(page("configuration.md"), "##")
    rows = {
        cells[0].strip("` "): cells[1].strip()
        for line in (tables["Both services"] + tables[section]).splitlines()
        if line.startswith("| `") and len(cells := line.strip("|").split("|")) >= 3
    }
    for field, info in settings.model_fields.items():
        name = env_name(field, settings)
        assert name in rows, f"{name} is not in a table of docs/configuration.md"
        default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        expected = written(default)
        expected = expected if expected == "none" else f"`{expected}`"
        assert rows[name].startswith(expected), (name, rows[name])


def subcommand(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    """The parser of ``basewatch <path...>``."""
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize(
    "command", [("dev",), ("simulate",), ("topics", "create"), ("churn", "release")]
)
def test_every_command_option_is_documented(command: tuple[str, ...]) -> None:
    parser = subcommand(build_parser(), *command)
    spans = _SPAN.findall(page("configuration.md"))
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert any(option in span for span in spans), (command, option)


def test_the_demo_settings_are_documented() -> None:
    for name, value in DEMO_ENV.items():
        assert f"`{name}={value}`" in page("configuration.md"), name


# -- routes ----------------------------------------------------------------------------


def test_every_route_is_in_the_docs() -> None:
    pages = {"ingest": page("events.md") + page("operating.md"), "projector": page("read-api.md")}
    apps = {
        "ingest": create_ingest(IngestSettings.model_validate({})),
        "projector": create_projector(ProjectorSettings.model_validate({})),
    }
    walked = dict.fromkeys(apps, 0)
    for service, app in apps.items():
        # Flattened: FastAPI keeps an included router as one entry of app.routes.
        for route in iter_route_contexts(app.routes):
            if not route.path or not route.include_in_schema:
                continue
            for method in route.methods or ():
                walked[service] += 1
                assert f"`{method} {route.path}`" in pages[service], route.path
    # Every documented route of each service was walked, not only the top-level ones.
    assert walked["projector"] >= len(read_operations()) + 2  # /healthz, /readyz
    assert walked["ingest"] >= 3


def read_operations() -> list[tuple[str, dict[str, Any]]]:
    """(path, operation) of every GET /v1 route of the projector."""
    paths = document("projector")["paths"]
    return [(p, ops["get"]) for p, ops in paths.items() if p.startswith("/v1/")]


@pytest.mark.parametrize("path", [path for path, _ in read_operations()])
def test_every_parameter_and_answer_field_is_in_its_route_section(path: str) -> None:
    section = sections(page("read-api.md"), "##").get(f"GET {path}")
    assert section is not None, f"docs/read-api.md has no section ## `GET {path}`"
    operation = dict(read_operations())[path]
    documented = names(section)
    for parameter in operation.get("parameters", []):
        assert parameter["name"] in documented, (path, parameter["name"])
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    for field in properties(answer, document("projector")):
        assert field in documented, (path, field)


def test_every_vocabulary_word_is_documented() -> None:
    schemas = document("projector")["components"]["schemas"]
    signals = dict(read_operations())["/v1/signals"]["parameters"]
    kind = next(p for p in signals if p["name"] == "kind")["schema"]
    kinds = schemas[kind["anyOf"][0]["$ref"].rsplit("/", 1)[-1]]

    def enum(schema: dict[str, Any]) -> list[str]:
        """The words of an enum, inline or behind a $ref."""
        ref = schema.get("$ref")
        words: list[str] = (schemas[ref.rsplit("/", 1)[-1]] if ref else schema)["enum"]
        return words

    words = {
        "tables.md": [
            *enum(schemas["Customer"]["properties"]["segment"]),
            *enum(schemas["Customer"]["properties"]["status"]),
            *enum(schemas["Installation"]["properties"]["status"]),
        ],
        "signals.md": kinds["enum"],
    }
    for name, vocabulary in words.items():
        for word in vocabulary:
            assert f"`{word}`" in page(name), (name, word)
    assert len(kinds["enum"]) == 6


# -- events ----------------------------------------------------------------------------


def test_every_event_field_is_in_its_type_section() -> None:
    doc = document("ingest")
    by_type = sections(page("events.md"), "###")
    common = names(sections(page("events.md"), "##")["Fields every event has"])
    mapping = doc["components"]["schemas"]["Event"]["discriminator"]["mapping"]
    assert mapping, "no event types in the document"
    for kind, ref in mapping.items():
        assert kind in by_type, f"docs/events.md has no section ### `{kind}`"
        for field in properties({"$ref": ref}, doc):
            assert field in common | names(by_type[kind]), (kind, field)
    answers = names(sections(page("events.md"), "##")["Answers"])
    for field in properties(doc["components"]["schemas"]["IngestResult"], doc):
        assert field in answers, field


# -- metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize("metrics", [IngestMetrics, ProjectorMetrics])
def test_every_metric_is_documented(metrics: type[IngestMetrics | ProjectorMetrics]) -> None:
    registry: CollectorRegistry = metrics().registry
    families = list(registry.collect())
    assert families
    for family in families:
        exposed = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"`{exposed}`" in page("operating.md"), exposed


# -- links and citations ---------------------------------------------------------------


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def markdown_files() -> list[Path]:
    """The docs pages and the README."""
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("source", markdown_files(), ids=lambda p: p.name)
def test_every_link_and_anchor_resolves(source: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve() if path else source
        assert resolved.is_relative_to(ROOT), f"{source.name} links outside the repository"
        assert resolved.exists(), f"{source.name}: {target}"
        if anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", resolved.read_text(), flags=re.MULTILINE)
            assert anchor in {slug(h) for h in headings}, f"{source.name}: {target}"


def test_nothing_cites_the_contract_outside_the_repository() -> None:
    # Spelt in pieces so that this file does not match itself.
    citation = re.compile(r"shared/" + r"contract\.md|contract (?:section|§) ?\d|\(§\d")
    places = ["shared", "services", "tests", "bench", "deploy", "docs"]
    files = [ROOT / "README.md", ROOT / "Makefile"]
    files += [
        f
        for d in places
        for f in (ROOT / d).rglob("*")
        if f.suffix in (".py", ".md", ".js", ".yml")
    ]
    cited = [str(f.relative_to(ROOT)) for f in files if citation.search(f.read_text())]
    assert not cited, f"cite docs/ instead: {cited}"
