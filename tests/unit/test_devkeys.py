"""``basewatch dev`` serves its public dev keys on this machine only, and keeps keys of .env."""

from __future__ import annotations

from pathlib import Path

import pytest

from basewatch_shared.devtools.devkeys import DEV_KEYS, use_dev_keys_on_loopback_only
from tests.support.keys import TEST_KEYS


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own (for its .env), and no key or host in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("BASEWATCH_API_KEYS", "BASEWATCH_HOST"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_the_dev_keys_on_loopback(workdir: Path, host: str) -> None:
    (workdir / ".env").write_text(f"BASEWATCH_HOST={host}\n")
    env: dict[str, str] = {}
    assert use_dev_keys_on_loopback_only(env) is None
    assert env == {"BASEWATCH_API_KEYS": DEV_KEYS}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "basewatch.example"])
def test_the_dev_keys_are_refused_beyond_loopback(
    workdir: Path, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attacking a running stack: a .env with 0.0.0.0 served the dev keys to the
    # network. From .env or from the environment alike.
    (workdir / ".env").write_text(f"BASEWATCH_HOST={host}\n")
    env: dict[str, str] = {}
    refusal = use_dev_keys_on_loopback_only(env)
    assert refusal is not None and f"BASEWATCH_HOST={host}" in refusal
    assert env == {}
    (workdir / ".env").unlink()
    monkeypatch.setenv("BASEWATCH_HOST", host)
    assert use_dev_keys_on_loopback_only(env) is not None


def test_keys_of_dotenv_are_kept_on_any_address(workdir: Path) -> None:
    # Before, dev put the dev keys in the environment, which wins over .env's own keys.
    (workdir / ".env").write_text(f"BASEWATCH_HOST=0.0.0.0\nBASEWATCH_API_KEYS={TEST_KEYS}\n")
    env: dict[str, str] = {}
    assert use_dev_keys_on_loopback_only(env) is None
    assert env == {}
