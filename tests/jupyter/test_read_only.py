"""Every data-layer function only reads, and closes a backend it opened from a URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agui_state.jupyter import (
    blame,
    changes_frame,
    diff,
    history_frame,
    snapshots_frame,
    state_frame,
    states_frame,
    stats_frame,
)
from agui_state.jupyter import source as source_mod
from agui_state.testing import BackendFactory
from tests.jupyter._seed import T1, Seeded, fingerprint

CALLS: dict[str, Callable[[Any, Seeded], Any]] = {
    "states_frame": lambda src, s: states_frame(src),
    "history_frame": lambda src, s: history_frame(src, path="/cart"),
    "changes_frame": lambda src, s: changes_frame(src, "/cart/total"),
    "blame": lambda src, s: blame(src, T1, version=9),
    "diff": lambda src, s: diff(src, T1, s.snapshot_id, 11).to_frame(),
    "snapshots_frame": lambda src, s: snapshots_frame(src),
    "state_frame": lambda src, s: state_frame(src, T1, version=5),
    "stats_frame": lambda src, s: stats_frame(src),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_reads_leave_the_backend_unchanged(seeded: Seeded, name: str) -> None:
    before = fingerprint(seeded.backend)
    result = CALLS[name](seeded.backend, seeded)
    assert len(result) > 0
    assert fingerprint(seeded.backend) == before


def test_url_sources_are_closed_by_every_function(
    seeded: Seeded, backend_factory: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not backend_factory.cross_process:
        pytest.skip("memory:// opens a new, empty memory backend")
    opened: list[Any] = []
    real = source_mod.create_backend

    def spy(url: str) -> Any:
        backend = real(url)
        opened.append(backend)
        return backend

    monkeypatch.setattr(source_mod, "create_backend", spy)
    before = fingerprint(seeded.backend)
    for name, call in CALLS.items():
        count = len(opened)
        assert len(call(backend_factory.url, seeded)) > 0, name
        assert len(opened) == count + 1, name
        assert opened[-1]._closed, f"{name} left its backend open"
    assert fingerprint(seeded.backend) == before
