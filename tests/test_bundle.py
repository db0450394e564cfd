"""The PyInstaller one-folder bundle (packaging/trayapp.spec): built when its sources changed
(tests/kit/bundle.py caches it by their hash), then run as a user would run it."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.bundle import built_bundle
from tests.kit.cli import cli_env
from tests.kit.services import service_toml
from tests.kit.wait import wait_until
from tests.kit.x11 import missing_tools, x_desktop
from trayapp import package_version

# Building takes minutes on a loaded machine (the first test to ask pays it, once per change).
pytestmark = pytest.mark.timeout(1500)


@pytest.fixture(scope="session")
def bundle() -> Path:
    executable, took = built_bundle()
    if took is not None:
        print(f"\nPyInstaller bundle built in {took:.0f} s: {executable.parent}")
    return executable


def run_bundle(bundle: Path, *args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in cli_env(home).items() if k != "PYTHONPATH"}  # nothing from the checkout
    return subprocess.run([str(bundle), *map(str, args)], cwd=home, env=env, capture_output=True, text=True, timeout=60)


def test_the_bundle_answers_status_json(bundle, backend, tmp_path) -> None:
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url()))
    result = run_bundle(bundle, "status", "--json", "--config", config, home=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["overall"] == "up"
    assert [(s["name"], s["state"], s["reason"]) for s in report["services"]] == [("backend", "up", "ok")]
    version = run_bundle(bundle, "--version", home=tmp_path)
    assert version.stdout == f"trayapp {package_version()}\n"


def test_the_bundle_installs_its_desktop_entry_with_icons_from_its_package_data(bundle, tmp_path) -> None:
    result = run_bundle(bundle, "desktop", "install", home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = tmp_path / ".local" / "share"
    entry = (data / "applications" / "trayapp.desktop").read_text()
    assert f"\nExec={bundle}\n" in entry  # the bundle starts itself, no Python needed
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "trayapp.svg").read_bytes() == (
        Path(__file__).resolve().parents[1] / "resources" / "icons" / "app" / "trayapp.svg"
    ).read_bytes()


@pytest.fixture
def desktop() -> Iterator:
    missing = missing_tools()
    if missing:  # not a skip: scripts/test installs them
        pytest.fail(f"missing desktop test tools {missing}; run scripts/test, which installs them")
    with x_desktop() as d:
        yield d


def test_the_bundles_tray_starts_on_the_test_x_screen(bundle, desktop, backend, tmp_path) -> None:
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url(), interval=0.2))
    env = desktop.env({k: v for k, v in cli_env(tmp_path).items() if k != "PYTHONPATH"})
    log = (tmp_path / "bundle.log").open("w")
    proc = subprocess.Popen([str(bundle), "-v", "--config", str(config)], cwd=tmp_path, env=env, stderr=log)
    try:

        def embedded() -> int | None:
            for window in desktop.windows("trayapp"):
                if "panel" in desktop.ancestor_names(window):
                    return window
            return None

        wait_until(lambda: embedded() is not None, timeout=30, what="the bundle's icon in trayer's panel")
        icon = embedded()
        assert icon is not None
        wait_until(lambda: desktop.colour(icon) == "green", timeout=15, what="a green (up) icon from the bundle")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        log.close()
