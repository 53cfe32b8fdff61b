"""The conformance suite (:mod:`agui_state.testing`) on every backend of the package.

Each check runs once per backend kind (``conftest.py`` parametrizes
``backend_target``), with identical expectations: those of the contract in
:mod:`agui_state.backends.base` and, where the contract leaves a detail open,
of the reference :mod:`agui_state.backends.memory`. This module runs the very
kit a third-party backend runs::

    pytest tests/backends/test_conformance.py -k memory
    pytest tests/backends/test_conformance.py -k "file and not fsync"
"""

from agui_state.testing.suite import *  # noqa: F403
