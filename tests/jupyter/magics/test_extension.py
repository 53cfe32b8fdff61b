"""``%load_ext agui_state``: registration, options, unload, and failing cells in a real kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.error import UsageError
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.jupyter.magics.conftest import Shell


def test_import_agui_state_stays_light() -> None:
    code = (
        "import sys, agui_state; "
        "assert callable(agui_state.load_ipython_extension); "
        "assert callable(agui_state.unload_ipython_extension); "
        "heavy = [m for m in ('IPython', 'traitlets', 'pandas', 'tqdm') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_load_ext_imports_no_pandas_or_widgets() -> None:
    code = (
        "import sys; from IPython.core.interactiveshell import InteractiveShell; "
        "InteractiveShell.instance().run_line_magic('load_ext', 'agui_state'); "
        "assert 'state' in InteractiveShell.instance().magics_manager.magics['line']; "
        "heavy = [m for m in ('pandas', 'tqdm', 'anywidget', 'ipywidgets') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_config_lists_the_options(ip: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run("%config StateMagic")
    out = capsys.readouterr().out
    for option in ("default_url", "display_limit", "autodisplay", "progress"):
        assert f"StateMagic.{option}" in out
    ip.run("%config StateMagic.display_limit = 7")
    assert ip.magic.display_limit == 7
    ip.run("%config StateMagic.display_limit = 'many'")  # traitlets refuses it (logged)
    assert ip.magic.display_limit == 7


def test_load_twice_keeps_one_instance_and_unload_closes(_shell: Any, file_url: str) -> None:
    shell = Shell(_shell)
    shell.run("%load_ext agui_state")
    magic = shell.magic
    shell.run("%reload_ext agui_state")  # unload + load: a fresh magic, connections closed
    assert shell.magic is not magic
    fresh = shell.magic
    shell.run(f"%state connect {file_url}")
    shell.run("%load_ext agui_state")  # already loaded: nothing happens
    assert shell.magic is fresh and len(fresh.connections) == 1
    matchers = list(_shell.Completer.custom_matchers)
    shell.run("%unload_ext agui_state")
    assert len(fresh.connections) == 0
    assert "StateMagic" not in _shell.magics_manager.registry
    assert fresh not in _shell.configurables
    assert fresh.matcher not in _shell.Completer.custom_matchers
    assert len(_shell.Completer.custom_matchers) == len(matchers) - 1
    with pytest.raises(UsageError, match="state"):
        shell.run("%state connections")


def _notebook(*sources: str) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    return nb


@pytest.mark.slow
def test_failing_cells_fail_a_notebook_runner(tmp_path: Path) -> None:
    """A library error shows one line, a usage error its usage; both stop nbclient."""
    url = f"file://{tmp_path / 'data'}"
    nb = _notebook(
        f"%load_ext agui_state\n%state connect {url} --state t1\n%state set /a 1",
        "%state get /missing",
        "%state get --bogus",
        "%state get /a",
    )
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        with pytest.raises(CellExecutionError) as info:
            client.execute_cell(nb.cells[1], 1)
        assert info.value.ename == "MagicStateError"
        (error,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
        assert error.traceback == [  # one line, no frames
            "%state get: InvalidPathError: invalid path '/missing': member 'missing' not found"
            " in the object at the document root"
        ]
        with pytest.raises(CellExecutionError) as info:
            client.execute_cell(nb.cells[2], 2)
        assert info.value.ename == "UsageError"
        shown = "".join(o.get("text", "") for o in nb.cells[2].outputs)
        assert "usage: %state get" in shown
        client.execute_cell(nb.cells[3], 3)  # the kernel and the connection live on
        assert nb.cells[3].outputs[0]["data"]["text/plain"] == "1"
