"""The dashboard in a real browser: JupyterLab headless on 127.0.0.1, Debian's Chromium driven by Playwright.

Runs the dashboard notebook up to the cell that closes the dashboard, clicks Book, and waits until the seat
map shows more sold seats and the counters one more reservation. Then runs the closing cell and the rest, and
stops the server. A screenshot is left in artifacts/browser/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from labkit.cluster.local import LocalCluster
from labkit.cluster.processes import ephemeral_port_range, port_is_free
from labkit.cluster.state import ClusterState
from labkit.polling import wait_until

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parent.parent
CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "browser"
NOTEBOOK = "05_dashboard.ipynb"
TIMEOUT_MS = 120_000

# the cells above the one that closes the dashboard, then that one and the rest
RUN_ABOVE = """async (index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-all-above');
}"""
RUN_REST = """async (index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-all-below');
}"""
KERNEL_READY = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
}"""
# the code cells before `upTo` (every code cell when it is null) have run, and the kernel is idle again
CELLS_DONE = """(upTo) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = upTo === null ? panel.content.widgets : panel.content.widgets.slice(0, upTo);
  const code = cells.filter(c => c.model.type === 'code');
  return panel.sessionContext.session.kernel.status === 'idle' && code.every(c => c.model.executionCount !== null);
}"""
ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code')
  .flatMap(c => c.model.outputs.toJSON())
  .filter(o => o.output_type === 'error')
  .map(o => o.ename + ': ' + o.evalue)"""
COUNTS = """() => {
  const cell = (name) => {
    const row = document.querySelector('.labkit-counters .labkit-counter-' + name);
    return row ? Number(row.querySelectorAll('td')[1].textContent) : -1;
  };
  return {sold: document.querySelectorAll('.labkit-seat-map .labkit-seat-sold').length,
          sent: cell('sent'), reserved: cell('reserved'), failed: cell('failed')};
}"""


# the partition panel: one cell per partition, each with its text (partition, lag, owner, seats left)
PANEL = (
    """() => Array.from(document.querySelectorAll('.labkit-partitions .labkit-partition')).map(td => td.innerText)"""
)


JUPYTER_PORTS = range(18888, 18988)  # below the ephemeral range: a probe of the closed port cannot connect to itself


def _free_port() -> int:
    for port in JUPYTER_PORTS:
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {JUPYTER_PORTS.start}-{JUPYTER_PORTS.stop - 1} for JupyterLab")


def test_jupyterlab_ports_lie_below_the_ephemeral_range() -> None:
    """CI once failed when the probe of JupyterLab's port, not yet listening, connected to itself and echoed."""
    assert JUPYTER_PORTS.stop <= ephemeral_port_range().start


@dataclass(frozen=True)
class ServedNotebook:
    url: str
    closing_cell: int  # the index of the cell that closes the dashboard (the cells after it show progress)


@pytest.fixture
def jupyter(
    tmp_path: Path, cluster: ClusterState, cluster_home: Path, module_event_id: int
) -> Iterator[ServedNotebook]:
    """JupyterLab on 127.0.0.1 serving a copy of the dashboard notebook (fresh event, small burst)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: `apt-get install chromium` (.ci/run does) or set LABKIT_CHROMIUM"
        )
    notebook = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    injected = f"# injected by the test\nEVENT_ID = {module_event_id}\nDEMO_BURST = 20"
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(injected))  # as papermill injects parameters
    nbformat.write(notebook, tmp_path / NOTEBOOK)
    closing = next(i for i, c in enumerate(notebook.cells) if "board.close()" in c.source)
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')  # no news pop-up
    env = {
        **os.environ,
        "LABKIT_HOME": str(cluster_home),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
    }
    log = (tmp_path / "jupyter.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={tmp_path}",
            "--LabApp.expose_app_in_browser=True",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/api/status?token={token}"), 60, "JupyterLab to answer")
        yield ServedNotebook(f"{url}/lab/tree/{NOTEBOOK}?token={token}", closing)
    finally:
        server.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
        local = LocalCluster(cluster_home)
        local.resume_brokers(local.paused_brokers())  # a test that failed between Pause and Resume left one paused
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "jupyter.log", ARTIFACTS / "jupyter.log")
        wait_until(lambda: port_is_free(port), 10, f"JupyterLab's port {port} to be released")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_clicking_book_changes_the_seat_map_and_counters(jupyter: ServedNotebook) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(jupyter.url)
            page.wait_for_function(KERNEL_READY, timeout=TIMEOUT_MS)
            closing = jupyter.closing_cell
            page.evaluate(RUN_ABOVE, closing)
            page.wait_for_function(CELLS_DONE, arg=closing, timeout=TIMEOUT_MS)
            assert page.evaluate(ERRORS) == []
            dashboard = page.locator(".labkit-dashboard")
            dashboard.scroll_into_view_if_needed()
            page.wait_for_function(f"() => ({COUNTS})().sent >= 20", timeout=TIMEOUT_MS)  # the notebook's burst
            before = page.evaluate(COUNTS)

            page.locator(".labkit-book").click()
            page.wait_for_function(
                f"() => {{ const now = ({COUNTS})(); return now.sent === {before['sent'] + 1} && "
                f"now.reserved === {before['reserved'] + 1} && now.sold >= {before['sold'] + 2}; }}",
                timeout=TIMEOUT_MS,
            )
            after = page.evaluate(COUNTS)
            assert after["sold"] >= before["sold"] + 2  # the default quantity is 2

            # the partition panel: every partition of the default venue, owned by the notebook's two consumers
            page.wait_for_function(f"() => ({PANEL})().length === 100 && ({PANEL})()[0].includes('#')")
            panel_before = page.evaluate(PANEL)
            page.locator(".labkit-burst").click()  # a burst into the selected subsection (A-1: partition 0)
            page.wait_for_function(
                f"() => ({PANEL})()[0] !== {panel_before[0]!r}", timeout=TIMEOUT_MS
            )  # its lag and seats left move
            dashboard.screenshot(path=str(ARTIFACTS / "dashboard.png"))
            page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"))
            page.wait_for_function(
                f"() => ({COUNTS})().sent === ({COUNTS})().reserved + ({COUNTS})().failed", timeout=TIMEOUT_MS
            )  # the burst is answered before the dashboard closes

            # the control room: pause broker 1, then Resume; the cluster panel shows it paused, then up again. (A
            # timed pause is undone by a timer, tested in test_chaos; here a 3-s one could end unseen.) If the test
            # fails in between, the fixture resumes the broker.
            page.locator(".lm-TabBar-tab", has_text="Control room").click()
            page.wait_for_selector(".labkit-cluster .labkit-broker-1[data-state='up']", timeout=TIMEOUT_MS)
            page.locator(".labkit-fault-pause").click()
            page.wait_for_selector(".labkit-cluster .labkit-broker-1[data-state='paused']", timeout=TIMEOUT_MS)
            page.screenshot(path=str(ARTIFACTS / "control-room.png"))
            page.locator(".labkit-fault-resume").click()
            page.wait_for_selector(".labkit-cluster .labkit-broker-1[data-state='up']", timeout=TIMEOUT_MS)
            faults = " ".join(page.locator(".labkit-faults").inner_text().split())  # HTML collapses the padding
            assert "pause broker 1: SIGSTOP" in faults and "resume broker 1: SIGCONT" in faults, faults
            page.locator(".labkit-inspect").click()  # the last records of reserve-seats[0], decoded
            page.wait_for_selector(".labkit-inspector .labkit-record", timeout=TIMEOUT_MS)
            assert "ReserveSeats" in page.locator(".labkit-inspector").inner_text()

            page.evaluate(RUN_REST, closing)
            page.wait_for_function(CELLS_DONE, arg=None, timeout=TIMEOUT_MS)
            assert page.evaluate(ERRORS) == []
            assert "dashboard refresher running: False" in page.locator(".jp-Cell").nth(closing).inner_text()
        finally:
            browser.close()
