"""Re-execute notebooks in place so their stored outputs are current.

    python notebooks/execute.py notebooks/01_quickstart.ipynb [...]

nbval then compares fresh runs against these stored outputs (volatile ids and
timestamps are masked by notebooks/sanitize.cfg).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(paths: list[str]) -> int:
    for name in paths:
        path = Path(name)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
        nbformat.write(nb, path)
        print(f"executed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
