"""The built-in page in headless Chromium, against the whole system as a user starts it.

`basewatch dev --demo` runs the stack and the simulation; the test opens the page, is
refused with a wrong key, enters the read key, waits for the charts and the first churn
signals, and checks that every number the page shows is exactly the number of a
`/v1/summary` read at the same moment, then takes a screenshot of the whole page.

It also erases a customer, and checks that the page counts the erased customers as
`/v1/erasures` names them and marks each one it shows as erased.

The README's picture, docs/page.png, is this screenshot after two minutes of demo:
`BASEWATCH_README_SCREENSHOT=1 .venv/bin/pytest tests/e2e/test_page.py` renews it. A
plain run keeps its screenshot in the test's temporary directory and leaves the working
tree alone.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from basewatch_shared.devtools.devkeys import DEV_ERASE_KEY, DEV_INGEST_KEY, DEV_READ_KEY
from tests.support.ports import free_port
from tests.support.processes import cmdline, descendants

pytestmark = pytest.mark.slow

README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "page.png"
README_DEMO_SECONDS = 120  # enough demo for churn, reactivations and a history with a shape
WIDTH = 1400
CHARTS = 5  # three of history, two of movements
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
READ = {"Authorization": f"Bearer {DEV_READ_KEY}"}
T = TypeVar("T")


def _until(probe: Callable[[], T], ok: Callable[[T], bool], within: float, what: str) -> T:
    """Call ``probe`` until ``ok(result)``; fail naming ``what`` and the last result."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {within} s; last: {result!r}")
        time.sleep(0.1)


@dataclass
class Stack:
    """The running system: where its two services listen, and its simulation."""

    ingest: str
    projector: str
    dev: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)

    def simulation(self) -> int:
        """The pid of the `basewatch simulate` that the demo runs."""
        found = [pid for pid in descendants(self.dev.pid) if b"simulate" in cmdline(pid)]
        assert len(found) == 1, found
        return found[0]

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The simulation stopped in its tracks (SIGSTOP), so only churn moves numbers."""
        pid = self.simulation()
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """`basewatch dev --demo`, as the README tells a newcomer to start it."""
    ingest_port, projector_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "BASEWATCH_API_KEYS")
    }
    log = tmp_path / "dev.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "basewatch_shared.cli", "dev", "--demo"),
                *("--partitions", "3", "--data-dir", str(tmp_path / "data")),
                *("--ingest-port", str(ingest_port), "--projector-port", str(projector_port)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=tmp_path,
        )
    try:
        _until(
            log.read_text,
            lambda text: "dev keys" in text or proc.poll() is not None,
            within=90,
            what="basewatch dev prints its banner",
        )
        assert proc.poll() is None, log.read_text()
        yield Stack(f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{projector_port}", proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    """Headless Chromium from Debian, driven without selenium-manager or any download."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromedriver are missing: run tests/system-deps.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        f"--window-size={WIDTH},1600",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# ---- reading the page ----------------------------------------------------------------

_SHOWN = """
const shown = {};
for (const el of document.querySelectorAll('[data-testid^="summary."]')) {
  (shown[el.dataset.testid] ||= []).push(el.textContent);
}
const refreshed = document.getElementById('refreshed').dataset;
return [Number(refreshed.summaryRequestedAt || 0), shown];
"""


def _numbers(document: dict[str, Any]) -> dict[str, int]:
    """The summary's numbers by the data-testid the page gives each one."""
    found: dict[str, int] = {}

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{path}.{key}", inner)
        elif isinstance(value, list):  # installed_base.by_product, keyed by product
            for item in value:
                product = "~" if item["product_id"] is None else item["product_id"]
                walk(f"{path}.{product}", {k: v for k, v in item.items() if k != "product_id"})
        elif not isinstance(value, bool):  # a flag (more_products) is no number shown
            found[path] = value

    walk("summary", document)
    return found


def _as_int(text: str) -> int | None:
    digits = re.sub(r"\D", "", text)  # thousands separators of any locale
    return int(digits) if digits else None


def _shown(driver: Chrome) -> tuple[float, dict[str, int | None]]:
    """When the page requested the summary it shows (ms), and each number it shows."""
    requested, shown = driver.execute_script(_SHOWN)
    values: dict[str, int | None] = {}
    for testid, texts in shown.items():
        parsed = {_as_int(t) for t in texts}
        # The same number in several places (a headline and a list) must agree.
        values[testid] = parsed.pop() if len(parsed) == 1 else None
    return requested, values


def _charts_drawn(driver: Chrome) -> dict[str, Any]:
    result: dict[str, Any] = driver.execute_script(
        """
        const plots = [...document.querySelectorAll('.plot')];
        return {
          canvases: document.querySelectorAll('.plot canvas').length,
          points: plots.map((p) => Number(p.dataset.points || 0)),
          customers: document.querySelectorAll('[data-testid^="history.customers."]').length,
          signals: document.querySelectorAll('#signals tbody tr').length,
        };
        """
    )
    return result


# ---- the test ------------------------------------------------------------------------


def test_the_page_shows_the_bases_as_the_api_does(
    stack: Stack, browser: Chrome, tmp_path: Path
) -> None:
    browser.get(f"{stack.projector}/")
    key = browser.find_element(By.ID, "key")
    assert key.is_displayed()

    # A wrong key is refused in words, and not kept.
    key.send_keys("not-a-key")
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    error = _until(
        lambda: browser.find_element(By.ID, "key-error").text,
        bool,
        within=10,
        what="the page says the key was refused",
    )
    assert "refused" in error
    assert browser.execute_script("return localStorage.length") == 0
    # So is a key without the read scope, with its own reason.
    browser.find_element(By.ID, "key").send_keys(DEV_INGEST_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    _until(
        lambda: browser.find_element(By.ID, "key-error").text,
        lambda text: "read scope" in text,
        within=10,
        what="the page says the key lacks the read scope",
    )
    assert browser.execute_script("return localStorage.length") == 0

    browser.find_element(By.ID, "key").send_keys(DEV_READ_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    _until(
        lambda: _charts_drawn(browser),
        lambda c: c["canvases"] == CHARTS and min(c["points"]) >= 3 and c["signals"] > 0,
        within=60,
        what="the charts with history, and the first churn signals",
    )

    # Kept in this browser: a reload opens the dashboard without asking again.
    browser.refresh()
    _until(
        lambda: _charts_drawn(browser),
        lambda c: c["canvases"] == CHARTS,
        within=15,
        what="the dashboard opens again with the remembered key",
    )

    _erasures_are_marked(stack, browser)

    with stack.paused():
        _page_equals_summary(stack, browser)
        _trends_equal_the_api(stack, browser)

    screenshot = tmp_path / "page.png"
    if os.environ.get("BASEWATCH_README_SCREENSHOT"):
        time.sleep(max(0.0, stack.started + README_DEMO_SECONDS - time.monotonic()))
        screenshot = README_SCREENSHOT
    # The whole page in one picture, at the width it was checked at.
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    assert browser.save_screenshot(str(screenshot))
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == WIDTH  # the IHDR width

    # The page broke no rule of its own: no script error, nothing blocked by its CSP.
    # (Refused requests, like the wrong key's 401, are logged as failed loads.)
    problems = [
        entry["message"]
        for entry in browser.get_log("browser")  # type: ignore[no-untyped-call]
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]
    assert problems == []

    browser.find_element(By.ID, "forget").click()
    assert browser.find_element(By.ID, "key").is_displayed()
    assert browser.execute_script("return localStorage.length") == 0


def _page_equals_summary(stack: Stack, browser: Chrome) -> None:
    """Every number on the page equals /v1/summary read around the page's own read.

    The page's summary is requested after ``before`` and shown before ``after`` is read;
    when both reads agree, the page must show exactly them. The sweep still moves
    numbers while the simulation is paused, so a pair that disagrees is read again.
    """
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=stack.projector, headers=READ) as api:
        while True:
            started = time.time() * 1000
            before = api.get("/v1/summary").json()
            shown = _fresh_numbers(browser, started)
            after = api.get("/v1/summary").json()
            if before == after:
                break
            assert time.monotonic() < deadline, "the summary never held still"
    expected = _numbers(after)
    differ = {
        testid: {"page": shown.get(testid), "api": expected.get(testid)}
        for testid in shown.keys() | expected.keys()
        if shown.get(testid) != expected.get(testid)
    }
    assert differ == {}
    assert expected["summary.customer_base.total"] > 0
    assert expected["summary.installed_base.total"] > 0


def _fresh_numbers(browser: Chrome, since_ms: float) -> dict[str, int | None]:
    """The page's numbers from a summary it requested after ``since_ms`` (epoch ms)."""
    browser.find_element(By.ID, "refresh").click()
    _requested, shown = _until(
        lambda: _shown(browser),
        lambda read: read[0] >= since_ms,
        within=15,
        what="the page refreshes",
    )
    return shown


# ---- erasures: the count, and the mark on each erased customer shown ------------------

_ERASURES = """
const marked = (el) => el.querySelector('.tag.erased') !== null;
const listed = [...document.querySelectorAll('#erasures li')];
const rows = [...document.querySelectorAll('#signals tbody tr')]
  .filter((tr) => tr.querySelector('code[title=customer]'));
return [
  Number(document.getElementById('erasures').dataset.requestedAt || 0),
  document.querySelector('[data-testid="erasures.customers"]').textContent,
  listed.map((li) => [li.dataset.customer, marked(li)]),
  rows.map((tr) => [tr.querySelector('code[title=customer]').textContent, marked(tr)]),
];
"""


def _erased(api: httpx.Client) -> set[str]:
    """The customers GET /v1/erasures names, followed with its cursor to the end."""
    names: set[str] = set()
    params: dict[str, str | int] = {"limit": 1000}
    while True:
        page = api.get("/v1/erasures", params=params).json()
        names |= {item["customer_id"] for item in page["items"]}
        if not page["items"]:
            return names
        params = {"limit": 1000, "after": page["next_cursor"]}


def _erasures_are_marked(stack: Stack, browser: Chrome) -> None:
    """Erase a customer (one of a churn signal on the page if there is one): the page
    counts the erased customers as /v1/erasures names them, lists the newest marked
    "erased", and marks every erased customer among its signals; the simulation erases
    some too meanwhile, so the page is compared with two equal reads around its own."""
    with httpx.Client(base_url=stack.projector, headers=READ) as api:
        _, _, _, rows = browser.execute_script(_ERASURES)
        erased = _erased(api)
        candidates = [customer for customer, _ in rows if customer not in erased]
        if not candidates:
            listed = api.get("/v1/customers", params={"limit": 1000}).json()["items"]
            candidates = [c["customer_id"] for c in listed if not c["erased"]]
        victim = candidates[0]
        asked = httpx.post(
            f"{stack.ingest}/v1/customers/{victim}/erase",
            headers={"Authorization": f"Bearer {DEV_ERASE_KEY}"},
        )
        assert asked.status_code == 202, asked.text
        _until(lambda: victim in _erased(api), bool, within=30, what="the erasure is applied")
        deadline = time.monotonic() + 60
        while True:
            started = time.time() * 1000
            before = _erased(api)
            browser.find_element(By.ID, "refresh").click()
            _, count, listed, rows = _until(
                lambda: browser.execute_script(_ERASURES),
                functools.partial(_requested_since, started),
                within=15,
                what="the erasures refresh",
            )
            after = _erased(api)
            if before == after:
                break
            assert time.monotonic() < deadline, "the erasures never held still"
    assert _as_int(count) == len(after) > 0
    assert [victim, True] in listed  # the newest few, each marked
    assert all(customer in after and mark for customer, mark in listed), listed
    assert all(mark == (customer in after) for customer, mark in rows), (rows, after)


# ---- the trends: movements, cohorts, units sold ----------------------------------------

_TRENDS = """
const section = document.getElementById('trends');
const shown = {};
for (const el of section.querySelectorAll('[data-testid]')) {
  if (!el.dataset.testid.startsWith('chart.')) shown[el.dataset.testid] = el.textContent;
}
return [Number(section.dataset.requestedAt || 0), section.dataset.queries || '{}', shown];
"""


def _signed(text: str) -> int | None:
    digits = re.sub(r"[^\d-]", "", text.replace("\u2212", "-"))
    return int(digits) if digits not in ("", "-") else None


def _trend_numbers(answers: dict[str, Any]) -> dict[str, int | None]:
    """Every number the trend views may show, by data-testid, from the API's answers."""
    found: dict[str, int | None] = {}
    for base in ("installations", "customers"):
        got = answers[f"movements.{base}"]
        for kind in got["movements"]:
            found[f"movements.{base}.{kind['kind']}"] = sum(kind["values"])
        found[f"movements.{base}.net"] = sum(got["net"])
        found[f"movements.{base}.size"] = next(
            (v for v in reversed(got["sizes"]) if v is not None), None
        )
    for cohort in answers["cohorts"]["cohorts"]:
        found[f"cohorts.{cohort['start']}.size"] = cohort["size"]
        for k, n in enumerate(cohort["in_use"]):
            found[f"cohorts.{cohort['start']}.{k}"] = n
    for product in answers["sales"]["products"]:
        for k, n in enumerate(product["units"]):
            found[f"sales.{product['product_id']}.{k}"] = n
        found[f"sales.{product['product_id']}.total"] = sum(product["units"])
    return found


def _requested_since(started: float, read: list[Any]) -> bool:
    return bool(read[0] >= started)


def _trends_equal_the_api(stack: Stack, browser: Chrome) -> None:
    """Each number of the movements charts, the cohort table and the units sold equals
    the API's answer to the queries the page made (data-queries), read before the page
    requested its own and after it showed them; the queries hold for a whole step, so a
    pair of reads with the same queries and the same answers brackets the page's."""
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=stack.projector, headers=READ) as api:

        def answers(queries: dict[str, Any]) -> dict[str, Any]:
            return {
                name: api.get(f"/{path}", params=params).json()
                for name, (path, params) in queries.items()
            }

        while True:
            _, queries, _ = browser.execute_script(_TRENDS)
            started = time.time() * 1000
            before = answers(orjson.loads(queries))
            browser.find_element(By.ID, "refresh").click()
            _, queries_after, shown = _until(
                lambda: browser.execute_script(_TRENDS),
                functools.partial(_requested_since, started),
                within=15,
                what="the trends refresh",
            )
            # Only complete steps are shown: the first sales and moves appear once the
            # step they happened in is over (at most a step, 35 s in the demo, later).
            if queries_after == queries and _every_view_shows(shown):
                after = answers(orjson.loads(queries_after))
                if after == before:
                    break
            assert time.monotonic() < deadline, ("the trends never held still", sorted(shown))
    expected = _trend_numbers(after)
    page = {testid: _signed(text) for testid, text in shown.items()}
    differ = {
        t: {"page": page[t], "api": expected.get(t)} for t in page if page[t] != expected.get(t)
    }
    assert differ == {}
    assert page["movements.installations.new"]


def _every_view_shows(shown: dict[str, str]) -> bool:
    """Both bases' moves, an installation cohort and a product's units sold are shown."""
    return all(
        any(t.startswith(prefix) for t in shown)
        for prefix in ("movements.installations.", "movements.customers.", "cohorts.", "sales.")
    ) and _signed(shown.get("movements.installations.new", "")) not in (None, 0)
