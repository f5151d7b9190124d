"""What a process imports: a service neither the dev tools nor the simulation, and the
contract no ISO table until a code is validated.

Checked in a fresh interpreter: what ``basewatch ingest`` and ``basewatch projector``
load to parse their command line, and the apps they then build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

_PROBE = """
import json, sys
from basewatch_shared.cli import parse

for command in ("ingest", "projector"):
    parse([command, "--port", "0"])
import basewatch_ingest.app, basewatch_projector.app

print(json.dumps(sorted(sys.modules)))
"""
_CONTROL = """
import json, sys
from basewatch_shared.cli import parse

parse(["keys", "new", "app", "read"])  # names no service: only this command loads
after_one = sorted(sys.modules)
from basewatch_shared.cli import build_parser

build_parser()  # every command, as ``basewatch --help`` does
print(json.dumps([after_one, sorted(sys.modules)]))
"""
_ISO_TABLES = """
import json, sys
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.scalars import countries, currencies

heartbeat = {"type": "heartbeat", "event_id": "e", "occurred_at": "2026-01-01T00:00:00Z",
             "installation_id": "i"}
EVENT_ADAPTER.validate_python(heartbeat)
before = ["pycountry" in sys.modules, countries.cache_info().currsize]
EVENT_ADAPTER.validate_python({"type": "identify", "event_id": "e", "customer_id": "c",
                               "occurred_at": "2026-01-01T00:00:00Z", "traits": {"country": "de"}})
print(json.dumps([before, ["pycountry" in sys.modules, countries.cache_info().currsize,
                           currencies.cache_info().currsize]]))
"""
DEV = "basewatch_shared.devtools"


def loaded(code: str) -> Any:
    """Run ``code`` in a fresh interpreter; what it printed, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout)


def test_the_services_import_no_dev_tool_and_no_simulation() -> None:
    modules: list[str] = loaded(_PROBE)
    assert {"basewatch_ingest.main", "basewatch_projector.main"} <= set(modules)
    assert [m for m in modules if m == DEV or m.startswith(f"{DEV}.")] == []


def test_the_probe_sees_the_dev_tools_when_they_are_loaded() -> None:
    one: list[str]
    every: list[str]
    one, every = loaded(_CONTROL)
    assert not any(m.startswith(DEV) for m in one)
    assert {f"{DEV}.dev", f"{DEV}.simulation.command"} <= set(every)


def test_the_iso_tables_are_built_when_a_code_is_first_validated() -> None:
    before, after = loaded(_ISO_TABLES)
    assert before == [False, 0]  # importing the contract, validating a heartbeat: none
    assert after == [True, 1, 0]  # a country: its table only
