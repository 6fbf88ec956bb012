"""Browser tests of the console: Playwright driving Debian's chromium against the console
served by uvicorn (a child process, a loopback port) on the data of a real `wpec demo` run.

Why Debian's chromium: Playwright's own browser download cannot work on these machines; the
system browser is launched by path with the flags below. Every page a test visits is checked
with axe-core (vendored, `vendor/axe-*.min.js`, injected as an init script so the console's
CSP does not have to allow it) and photographed at 1280×800 and 390×844 into
`build/console-screenshots/` (not committed) for a reviewer to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.console.conftest import hostile_eml

HERE = Path(__file__).resolve().parent
AXE = next((HERE / "vendor").glob("axe-*.min.js"))
SHOTS = HERE.parents[1] / "build" / "console-screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser test password"
USERS = {"ada": "admin", "otto": "operator", "vera": "viewer"}


@dataclass
class Site:
    url: str
    config: Path
    hostile_message_id: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory):
    from wpec_invoicing.app import received, users
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.demo import run_demo

    work = tmp_path_factory.mktemp("console") / "demo"
    summary = run_demo(work)
    assert summary.ok, summary.problems
    config = work / "wpec.toml"
    with AppContext.load(config) as ctx:
        for name, role in USERS.items():
            users.add_user(ctx, name, role=role, password=PASSWORD)
        outcome = received.import_files(ctx, [("hostile.eml", hostile_eml())])
        hostile = outcome.items[0]["message_id"]
    with serving(config) as url:
        yield Site(url=url, config=config, hostile_message_id=hostile)


@contextmanager
def serving(config: Path):
    """What `wpec serve` serves (API + console) for `config`, in a child process on a free
    loopback port; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "WPEC_CONFIG": str(config)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory",
         "wpec_invoicing.web.console.serve:app_from_env", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, cwd=config.parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/login", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the console did not start")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed (scripts/install-system-deps.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="it-IT",
                                  timezone_id="Europe/Rome", base_url=site.url)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page, name: str) -> None:
    page.goto("/login")
    page.get_by_label("Nome utente").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/")


def check_page(page, name: str) -> None:
    """No serious or critical axe-core violation; screenshots at desktop and phone sizes."""
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, {iframes: false});
        return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
            .map(v => v.id + ": " + v.help + " @ " + v.nodes.map(n => n.target).join(" | "));
    }""")
    assert not violations, f"{name}: {violations}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
