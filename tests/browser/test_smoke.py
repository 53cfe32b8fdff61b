"""Smoke test of the harness: an inline anywidget in JupyterLab 4 and Notebook 7.

It renders, and a trait changed from Python afterwards reaches the DOM; the
kernel imports this repository's ``agui_state``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import REPO_ROOT

if TYPE_CHECKING:
    from tests.browser.conftest import OpenNotebookFactory

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_front_end_errors")]


WIDGET_CELL = '''
import anywidget
import traitlets


class Probe(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const out = document.createElement("output");
      out.dataset.testid = "probe-value";
      const show = () => { out.textContent = `value=${model.get("value")}`; };
      model.on("change:value", show);
      show();
      el.appendChild(out);
    }
    export default { render };
    """
    value = traitlets.Int(1).tag(sync=True)


probe = Probe()
probe
'''

CHANGE_CELL = "probe.value = 42"

WHICH_TREE_CELL = "import agui_state\nprint(agui_state.__file__)"


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_anywidget_renders_and_follows_python(open_nb: OpenNotebookFactory, ui: str) -> None:
    from playwright.sync_api import expect

    nb = open_nb([WIDGET_CELL, CHANGE_CELL, WHICH_TREE_CELL], ui=ui)
    value = nb.page.get_by_test_id("probe-value")

    nb.run_next_cell()
    expect(value).to_have_text("value=1")
    nb.screenshot("rendered")

    nb.run_next_cell()
    expect(value).to_have_text("value=42")
    nb.screenshot("changed")

    nb.run_next_cell()
    printed = nb.output(2).inner_text()
    assert str(REPO_ROOT / "agui_state" / "__init__.py") in printed
