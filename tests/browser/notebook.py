"""Drive a notebook in a real browser: write it, open it, run its cells, wait, screenshot.

The front end is driven through its own command registry (``window.jupyterapp``,
exposed by the server flags in ``server.py``) rather than through key presses or
menu clicks, which differ between JupyterLab and Notebook 7 and between
versions. Waiting is always on a condition (cell execution counts in the
notebook model, the kernel's status in the front end and in the server's REST
API), never on a fixed sleep.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nbformat
from playwright.sync_api import Locator, Page

from tests.browser.server import JupyterServer

__all__ = ["KERNEL_TIMEOUT", "UI", "CellError", "OpenNotebook", "open_notebook", "write_notebook"]

UI = Literal["lab", "notebook"]

KERNEL_TIMEOUT = 120.0
"""Seconds for a kernel to start or a cell to finish (the first start takes 20-30 s here)."""

# The notebook panel the app shows, whichever front end it is.
_PANEL_JS = """
() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) { return null; }
  const w = app.shell.currentWidget;
  return (w && w.content && w.sessionContext) ? w : null;
}
"""

# One look at the panel: the kernel as the front end sees it, and each code cell's progress.
_STATUS_JS = """
(indices) => {
  const panel = (PANEL)();
  if (!panel) { return {ready: false}; }
  const session = panel.sessionContext.session;
  const kernel = session ? session.kernel : null;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') { return; }
    if (indices !== null && !indices.includes(index)) { return; }
    const errors = [];
    const stderr = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
    cell.node.querySelectorAll(stderr).forEach((n) => errors.push(n.innerText));
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    cells.push({
      index,
      count: cell.model.executionCount,
      running: cell.model.executionState === 'running'
        || (prompt !== null && prompt.innerText.includes('*')),
      errors,
    });
  });
  return {
    ready: true,
    kernel: kernel ? kernel.status : null,
    connection: kernel ? kernel.connectionStatus : null,
    cells,
  };
}
""".replace("PANEL", _PANEL_JS)


# Replace every cell of the notebook model by fresh code cells (no outputs, no counts).
_REPLACE_CELLS_JS = """
(sources) => {
  const panel = (PANEL)();
  const shared = panel.content.model.sharedModel;
  shared.transact(() => {
    shared.deleteCellRange(0, shared.cells.length);
    shared.insertCells(0, sources.map((source) => ({cell_type: 'code', source, metadata: {}})));
  });
  panel.content.activeCellIndex = 0;
}
""".replace("PANEL", _PANEL_JS)


class CellError(AssertionError):
    """A cell the test ran ended with an error output."""


def write_notebook(root: Path, name: str, cells: Sequence[str]) -> str:
    """Write a Python notebook with one code cell per source into the server's root.

    The kernelspec is set, so the front end starts the kernel without asking.

    Returns:
        The notebook's path relative to the server root (what URLs and sessions use).
    """
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path.relative_to(root).as_posix()


@dataclass
class OpenNotebook:
    """A notebook opened in a browser page.

    Attributes:
        page: The Playwright page showing it.
        server: The Jupyter server serving it.
        path: Its path relative to the server root.
        ui: ``"lab"`` (JupyterLab) or ``"notebook"`` (Notebook 7).
        artifacts: Folder for screenshots.
        test_name: Prefix of every screenshot file name.
    """

    page: Page
    server: JupyterServer
    path: str
    ui: UI
    artifacts: Path
    test_name: str
    screenshots: list[Path] = field(default_factory=list)

    def status(self, indices: Sequence[int] | None = None) -> dict[str, Any]:
        """The front end's view of the kernel and of the code cells (all, or ``indices``)."""
        result: dict[str, Any] | None = self.page.evaluate(
            _STATUS_JS, None if indices is None else list(indices)
        )
        return result or {"ready": False}

    def wait_kernel_idle(self, timeout: float = KERNEL_TIMEOUT) -> None:
        """Wait until the kernel is connected and idle, in the front end and in the REST API."""
        self._wait(lambda: self._kernel_idle(self.status([])), timeout, "an idle kernel")

    def run_all(self, timeout: float = KERNEL_TIMEOUT) -> None:
        """Run every cell and wait until all code cells ran and the kernel is idle again.

        Raises:
            CellError: A cell ended with an error (its traceback text is in the message).
        """
        self.wait_kernel_idle(timeout)
        self._command("notebook:run-all-cells")
        self._wait_cells(None, timeout)

    def replace_cells_and_run(
        self, sources: Sequence[str], timeout: float = KERNEL_TIMEOUT
    ) -> None:
        """Make the notebook these code cells (same page, same kernel) and run them all.

        Tests that share one open notebook use it: the page and the kernel are
        reused, the previous test's cells and widgets are gone.
        """
        self.wait_kernel_idle(timeout)
        self.page.evaluate(_REPLACE_CELLS_JS, list(sources))
        self._command("notebook:run-all-cells")
        self._wait_cells(None, timeout)

    def run_next_cell(self, timeout: float = KERNEL_TIMEOUT) -> int:
        """Run the active cell, select the next one, wait for the run; return the cell's index."""
        self.wait_kernel_idle(timeout)
        index: int = self.page.evaluate(f"() => ({_PANEL_JS})().content.activeCellIndex")
        self._command("notebook:run-cell-and-select-next")
        self._wait_cells([index], timeout)
        return index

    def output(self, index: int) -> Locator:
        """A locator for the output area of cell ``index``."""
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")

    def screenshot(self, label: str) -> Path:
        """Save a screenshot of the page as ``<test>--<label>.png`` in the artefacts folder."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")
        path = self.artifacts / f"{self.test_name}--{safe}.png"
        self.page.screenshot(path=str(path))
        self.screenshots.append(path)
        return path

    def screenshot_of(self, locator: Locator, label: str) -> Path:
        """Save a screenshot of one element (scrolled into view) as ``<test>--<label>.png``."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")
        path = self.artifacts / f"{self.test_name}--{safe}.png"
        locator.screenshot(path=str(path))
        self.screenshots.append(path)
        return path

    def _command(self, command: str) -> None:
        # Fire and forget: the promise of "run all" settles only when every cell has
        # run, and a hung cell must end in our timeout with a screenshot, not here.
        self.page.evaluate(
            "(command) => { void window.jupyterapp.commands.execute(command); }", command
        )

    def _kernel_idle(self, status: dict[str, Any]) -> bool:
        if not (
            status.get("ready")
            and status.get("connection") == "connected"
            and status.get("kernel") == "idle"
        ):
            return False
        return self.server.kernel_state(self.path) == "idle"

    def _wait_cells(self, indices: Sequence[int] | None, timeout: float) -> None:
        def done() -> bool:
            status = self.status(indices)
            cells = status.get("cells", [])
            failed = [cell for cell in cells if cell["errors"]]
            if failed:
                first = failed[0]
                raise CellError(
                    f"cell {first['index']} of {self.path} ({self.ui}) failed:\n"
                    + "\n".join(first["errors"])
                )
            finished = bool(cells) and all(
                cell["count"] is not None and not cell["running"] for cell in cells
            )
            return finished and self._kernel_idle(status)

        self._wait(done, timeout, f"cells {indices or 'all'} of {self.path} to run")

    def _wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                self.screenshot(f"timeout-{what}")
                raise TimeoutError(
                    f"{self.ui}: no {what} after {timeout:.0f} s; status {self.status()}; "
                    f"server log {self.server.log_path}"
                )
            self.page.wait_for_timeout(100)


def open_notebook(
    page: Page,
    server: JupyterServer,
    path: str,
    ui: UI,
    *,
    artifacts: Path,
    test_name: str,
    timeout: float = KERNEL_TIMEOUT,
) -> OpenNotebook:
    """Open ``path`` in JupyterLab or Notebook 7 and wait for its kernel to be idle.

    JupyterLab opens in a fresh workspace named after the test, so notebooks of
    earlier tests are not restored next to it.
    """
    if ui == "lab":
        workspace = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)
        url = server.url(f"lab/workspaces/{workspace}/tree/{path}")
    else:
        url = server.url(f"notebooks/{path}")
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_function(f"() => ({_PANEL_JS})() !== null", timeout=timeout * 1000, polling=100)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
    notebook = OpenNotebook(page, server, path, ui, artifacts, test_name)
    notebook.wait_kernel_idle(timeout)
    return notebook
