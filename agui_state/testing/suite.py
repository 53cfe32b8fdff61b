"""Every conformance check and its fixtures, for one star import in a test module.

Usage (see :mod:`agui_state.testing`)::

    from agui_state.testing.suite import *  # noqa: F403

    @pytest.fixture
    def backend_target(tmp_path):
        return f"mystore://{tmp_path}/data"
"""

from __future__ import annotations

from typing import Any

from agui_state.testing import origin, states, summaries, versions, writes
from agui_state.testing.fixtures import backend, backend_factory

CHECK_MODULES = (origin, states, summaries, versions, writes)
"""The modules holding the checks, grouped by topic."""

_checks: dict[str, Any] = {
    name: obj
    for module in CHECK_MODULES
    for name, obj in vars(module).items()
    if name.startswith("test_") and callable(obj)
}
# Re-exported under their own names, so pytest collects them in the module
# that star-imports this one; a new check in a topic module needs no list here.
globals().update(_checks)

__all__ = ["backend", "backend_factory", *sorted(_checks)]
