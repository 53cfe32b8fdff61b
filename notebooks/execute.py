"""Re-execute notebooks in place so their stored outputs are current.

    python notebooks/execute.py notebooks/01_quickstart.ipynb [...]

nbval then compares fresh runs against these stored outputs (volatile ids and
timestamps are masked by notebooks/sanitize.cfg).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_LOG = re.compile(r"^\[IPKernelApp\] (WARNING|INFO|DEBUG)\b.*\n?", re.MULTILINE)


def drop_kernel_log(nb: nbformat.NotebookNode) -> None:
    """Remove the kernel's own start-up log lines that can race into a cell's stderr.

    ipykernel may print "Kernel is running over TCP without encryption" after
    its stderr is already forwarded to the notebook; stored in a cell, nbval
    would then expect it on every run.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                output.text = KERNEL_LOG.sub("", output.text)
                if not output.text:
                    continue
            kept.append(output)
        cell.outputs = kept


def main(paths: list[str]) -> int:
    # As under test (notebooks/conftest.py): 00_start_here makes its demo store in a
    # fresh temporary folder, so the stored outputs match a test run, not a reader's store.
    private = Path(tempfile.mkdtemp(prefix="agui-nbexec-"))
    os.environ.setdefault("AGUI_STATE_DEMO_DIR", str(private / "demo-store"))
    # A private IPython dir whose kernel config silences ipykernel's start-up log
    # lines, which can otherwise race into a cell's stored outputs.
    profile = private / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text('c.IPKernelApp.log_level = "ERROR"\n')
    os.environ["IPYTHONDIR"] = str(private / "ipython")
    try:
        for name in paths:
            path = Path(name)
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb,
                timeout=300,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
            drop_kernel_log(nb)
            nbformat.write(nb, path)
            print(f"executed {path}")
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
