"""A writer process for the conformance suite's multi-process test.

Usage: ``python -m tests.backends._conformance_worker URL STATE_ID COUNT TAG``

Opens the backend at URL, prints ``ready``, waits for one line on stdin (so
that every worker starts writing at the same moment), then appends COUNT
versions to STATE_ID, each adding ``"TAG-i"`` to ``/log``, retrying on
ConflictError. Prints ``done CONFLICTS`` and exits 0.
"""

from __future__ import annotations

import sys

from agui_state.backends import create_backend
from tests.backends._conformance_helpers import append_with_retry


def main(argv: list[str]) -> int:
    """Run one writer; return the exit status."""
    url, state_id, count_text, tag = argv
    backend = create_backend(url)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        conflicts = 0
        for i in range(int(count_text)):
            conflicts += append_with_retry(backend, state_id, f"{tag}-{i}")
        print(f"done {conflicts}", flush=True)
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
