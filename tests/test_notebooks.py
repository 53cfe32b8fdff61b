"""Every tutorial notebook runs cleanly through nbclient, the way a reader runs it.

nbval (``--nbval`` in the pytest addopts) compares each notebook's outputs with a
fresh run. It does not fail on everything a reader would call broken: an
IPython ``UsageError`` only prints, and a cell committed with no outputs is
compared against nothing. This second check executes each notebook once with
nbclient (a kernel from the current environment, ``PYTHONPATH`` set to this
repository) and fails on:

* any ``error`` output, or a cell whose execution reply is an error;
* a ``UsageError`` or a traceback printed to a stream;
* a committed cell with empty outputs that produces outputs on a fresh run
  (the notebook was saved without running it, so it reads empty on a code host).

A cell tagged ``raises-exception`` (nbval's and nbclient's convention) must
raise instead. Notebooks that need a server follow the suite's rule (skip
locally with the reason, fail under ``CI=true``).

The debugging tutorial (08) runs here against a session generated with a seed
other than the committed one: it must report the broken run the generator
says it planted, so it finds the run from the data, not from a remembered
answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.conftest import IN_CI
from tests.servers.notebooks import kernel_env, missing_server

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DEBUG_NOTEBOOK = NOTEBOOKS / "08_debug_agent_session.ipynb"
GENERATOR = NOTEBOOKS / "data" / "make_session.py"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
EXPECTED = "raises-exception"


class CurrentEnvKernels(KernelSpecManager):
    """Every kernel name resolves to ipykernel in this interpreter's environment."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (current environment)",
            language="python",
            resource_dir=str(ROOT),
        )


def _skip_or_fail_without_servers(path: Path) -> None:
    reason = missing_server(path)
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def execute(path: Path, env: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """Run a copy of the notebook; return it and the problems found in its cells."""
    nb = nbformat.read(path, as_version=4)
    replies: dict[int, str] = {}

    def on_executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        replies[cell_index] = execute_reply["content"]["status"]

    private = Path(tempfile.mkdtemp(prefix="agui-nbclient-"))
    variables = {**os.environ, **kernel_env(private), **(env or {})}
    variables["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    km = KernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvKernels())
    client = NotebookClient(
        nb,
        km=km,
        timeout=300,
        allow_errors=True,  # collect every problem, not only the first
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_executed=on_executed,
    )
    try:
        with _environ(variables):
            client.execute()
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return nb, _problems(nb, replies)


class _environ:
    """Run the kernel with extra variables (it inherits our environment)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.saved: dict[str, str] = {}

    def __enter__(self) -> None:
        self.saved = dict(os.environ)
        os.environ.update(self.env)

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self.saved)


def _problems(nb: Any, replies: dict[int, str]) -> list[str]:
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        first_line = cell.source.splitlines()[0][:60] if cell.source else ""
        where = f"cell {index} ({first_line!r})"
        streams = [o.text for o in cell.outputs if o.output_type == "stream"]
        errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        # IPython prints a UsageError to stderr instead of an error output.
        usage = [text.strip()[:300] for text in streams if "UsageError" in text]
        tracebacks = [t.strip()[-300:] for t in streams if "Traceback (most recent call last)" in t]
        failed = replies.get(index) == "error" or bool(errors or usage)
        if EXPECTED in cell.metadata.get("tags", []):
            if not failed:
                problems.append(f"{where} is tagged {EXPECTED!r} but did not raise")
            continue
        problems += [f"{where}: {error}" for error in errors]
        problems += [f"{where} printed a UsageError: {text}" for text in usage]
        problems += [f"{where} printed a traceback: {text}" for text in tracebacks]
        if failed and not (errors or usage):
            problems.append(f"{where}: the execution reply was an error")
    return problems


def _empty_where_fresh_has_outputs(committed: Any, fresh: Any) -> list[str]:
    missing = []
    code = [(i, c) for i, c in enumerate(committed.cells) if c.cell_type == "code"]
    fresh_code = [c for c in fresh.cells if c.cell_type == "code"]
    for (index, cell), new in zip(code, fresh_code, strict=True):
        if not cell.outputs and new.outputs:
            missing.append(f"cell {index} is committed without outputs; a fresh run has some")
    return missing


@pytest.mark.parametrize("path", [p for p in ALL if p != DEBUG_NOTEBOOK], ids=lambda p: p.name)
def test_notebook_runs_without_errors(path: Path, tmp_path: Path) -> None:
    _skip_or_fail_without_servers(path)
    fresh, problems = execute(path, {"AGUI_STATE_DEMO_DIR": str(tmp_path / "demo-store")})
    problems += _empty_where_fresh_has_outputs(nbformat.read(path, as_version=4), fresh)
    assert problems == [], f"{path.name}:\n" + "\n".join(problems)


def test_debug_notebook_finds_the_broken_run_of_any_seed(tmp_path: Path) -> None:
    """Notebook 08 on a session it has never seen: it must find the planted run."""
    session = tmp_path / "data" / "session.jsonl"
    session.parent.mkdir()
    seed = 23  # not the committed seed (7): a different thread and run break
    subprocess.run(
        [sys.executable, str(GENERATOR), "--seed", str(seed), "--out", str(session)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    answer = json.loads(session.with_name("session.answer.json").read_text())
    assert answer["run_id"] not in (NOTEBOOKS / "data" / "session.jsonl").read_text()
    work = tmp_path / "work"
    fresh, problems = execute(
        DEBUG_NOTEBOOK, {"AGUI_STATE_SESSION": str(session), "AGUI_STATE_WORKDIR": str(work)}
    )
    problems += _empty_where_fresh_has_outputs(nbformat.read(DEBUG_NOTEBOOK, as_version=4), fresh)
    assert problems == [], "\n".join(problems)
    finding = json.loads((work / "finding.json").read_text())
    assert (finding["thread_id"], finding["run_id"]) == (answer["thread_id"], answer["run_id"])


def test_the_check_catches_what_nbval_lets_through(tmp_path: Path) -> None:
    """A negative control: a printed UsageError, an empty committed cell, a wrong tag."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%no_such_magic"),
        nbformat.v4.new_code_cell("print('hello')"),
        nbformat.v4.new_code_cell("1 + 1", metadata={"tags": [EXPECTED]}),
        nbformat.v4.new_code_cell("raise ValueError('expected')", metadata={"tags": [EXPECTED]}),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    fresh, problems = execute(path)
    assert len(problems) == 2, problems
    assert problems[0].startswith("cell 0 ") and "printed a UsageError" in problems[0]
    assert problems[1].startswith("cell 2 ") and EXPECTED in problems[1]
    empties = _empty_where_fresh_has_outputs(nb, fresh)
    assert "cell 1 is committed without outputs; a fresh run has some" in empties


def test_readme_first_command_opens_start_here() -> None:
    """The README's first command installs the jupyter extra and opens 00_start_here."""
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.+?)\n```", readme, re.S)
    assert first is not None
    command = first.group(1)
    assert "pip install -q -e '.[jupyter]'" in command
    assert command.endswith("jupyter lab notebooks/00_start_here.ipynb")
    assert (NOTEBOOKS / "00_start_here.ipynb").is_file()
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["jupyter"]
    names = {re.split(r"[<>=\[ ]", spec, maxsplit=1)[0] for spec in extra}
    # JupyterLab itself, a kernel, the widget stack and the SDK that 00_start_here uses.
    wanted = {"jupyterlab", "ipykernel", "anywidget", "ipywidgets", "pandas", "ag-ui-protocol"}
    assert wanted <= names
