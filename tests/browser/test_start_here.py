"""README's first command, in a real browser: JupyterLab on ``notebooks/00_start_here.ipynb``.

The ``notebooks/`` folder (with the recorded session the notebook seeds its demo
store from) is copied into the server's root the way it sits in a clone, the
notebook is opened in JupyterLab and run from top to bottom through the server's
kernel: every cell must run without an error, and the inspector it shows must
render on the demo store.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import REPO_ROOT

if TYPE_CHECKING:
    from tests.browser.conftest import OpenNotebookFactory
    from tests.browser.server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_front_end_errors")]

START_HERE = "notebooks/00_start_here.ipynb"


def test_start_here_runs_in_jupyterlab(
    jupyter_server: JupyterServer, open_nb: OpenNotebookFactory
) -> None:
    from playwright.sync_api import expect

    source = REPO_ROOT / "notebooks"
    target = jupyter_server.root / "notebooks"
    # A copy of the folder as a clone has it: the front end autosaves, and the demo
    # store is created next to the notebook.
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns(
            "demo-store", ".demo-building-*", ".ipynb_checkpoints", "__pycache__"
        ),
    )

    nb = open_nb(path=START_HERE)
    nb.run_all()  # raises CellError, with the traceback, if any cell fails

    status = nb.status()
    code_cells = status["cells"]
    assert len(code_cells) >= 5
    assert all(cell["count"] is not None and not cell["errors"] for cell in code_cells)
    assert (target / "demo-store").is_dir()

    widget = nb.page.get_by_test_id("inspector")
    expect(widget).to_be_visible()
    expect(widget.get_by_test_id("source-label")).to_contain_text("demo-store")
    expect(widget.get_by_test_id("log-row").first).to_be_visible()
    expect(widget.get_by_test_id("error-box")).to_be_hidden()
    # The magics' punch line: the total does not match the items.
    expect(
        nb.page.locator(".jp-OutputArea-output").filter(has_text="items add up to")
    ).to_have_count(1)
    nb.screenshot_of(widget, "inspector")
