"""The conformance suite: every storage backend, identical expectations.

Each test runs once per backend kind (see ``conftest.py``). Expectations come
from the contract in :mod:`agui_state.backends.base` and, where the contract
leaves a detail open, from the reference :mod:`agui_state.backends.memory`.
A backend is conformant when this whole module passes on it.

The checks live in ``_conformance_*.py`` modules (grouped by topic, each
small) and are collected here, so the suite keeps one entry point::

    pytest tests/backends/test_conformance.py -k memory
    pytest tests/backends/test_conformance.py -k "file and not fsync"

Helpers that build versions and histories: ``_conformance_helpers.py``; the
multi-process writer and its checks (shared with the backend fault tests):
``_hammer.py``; fixtures: ``conftest.py``.
"""

from tests.backends._conformance_origin import *  # noqa: F403
from tests.backends._conformance_states import *  # noqa: F403
from tests.backends._conformance_summaries import *  # noqa: F403
from tests.backends._conformance_versions import *  # noqa: F403
from tests.backends._conformance_writes import *  # noqa: F403
