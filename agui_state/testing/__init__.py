"""The backend conformance kit: the suite every storage backend must pass.

A storage backend (ours or a third party's) is conformant when the whole
suite passes on it. It checks the contract of
:class:`agui_state.backends.StorageBackend`: atomic batches and optimistic
concurrency (threads, instances and processes racing), gap-free numbering,
lossless round trips, time travel from checkpoints and the origin, snapshots,
paging, pruning, state-id rules and error types. Requires pytest (the
``testing`` or ``dev`` extra: ``pip install 'agui-state[testing]'``).

Run it from your backend's tests with one star import and one fixture,
``backend_target``: the URL of a fresh, empty storage for one test::

    # tests/test_conformance.py
    import pytest

    from agui_state.testing.suite import *  # noqa: F403  (the checks and their fixtures)


    @pytest.fixture
    def backend_target(tmp_path):
        return f"mystore://{tmp_path}/data"

The URL is opened with :func:`agui_state.backends.create_backend`, so your
backend must be registered: by entry point (group ``agui_state.backends``,
found in every process, which the multi-process check needs) or with
:func:`agui_state.backends.register_backend` in your ``conftest.py``. Return a
:class:`BackendTarget` with ``shared_instances=False`` instead of a URL when
two instances opened from the URL do not share their data (storage inside
the object, as ``memory://``). ``examples/custom_backend`` is a complete
example.

Contents: :mod:`~agui_state.testing.suite` (everything to star-import),
:mod:`~agui_state.testing.fixtures` (``backend``, ``backend_factory``,
:class:`BackendTarget`), :mod:`~agui_state.testing.helpers` (builders of
versions and histories with known states), :mod:`~agui_state.testing.hammer`
(several processes racing on one state), and the checks by topic:
``states``, ``versions``, ``writes``, ``origin``, ``summaries``.
"""

from __future__ import annotations

import pytest

# Rewrite the checks' asserts (when pytest runs), so a failure shows the
# compared values; this must happen before they are imported.
pytest.register_assert_rewrite(
    "agui_state.testing.fixtures",
    "agui_state.testing.hammer",
    "agui_state.testing.helpers",
    "agui_state.testing.origin",
    "agui_state.testing.states",
    "agui_state.testing.summaries",
    "agui_state.testing.versions",
    "agui_state.testing.writes",
)

from agui_state.testing.fixtures import (  # noqa: E402
    BackendFactory,
    BackendTarget,
    durability_check,
    is_durability_check,
)
from agui_state.testing.helpers import (  # noqa: E402
    append_with_retry,
    expected_state,
    make_snapshot,
    make_version,
    standard_chain,
    standard_delta,
)

__all__ = [
    "BackendFactory",
    "BackendTarget",
    "append_with_retry",
    "durability_check",
    "expected_state",
    "is_durability_check",
    "make_snapshot",
    "make_version",
    "standard_chain",
    "standard_delta",
]
