"""Checks: ``summarize_states`` (bulk summaries for listings) equals the one-by-one reads."""

from __future__ import annotations

from agui_state.backends import StorageBackend
from agui_state.backends.summary import document_bytes, summarize_each
from agui_state.testing.helpers import (
    expected_state,
    make_snapshot,
    save_all,
    standard_chain,
)

__all__ = ["test_summarize_states_matches_single_reads"]


def test_summarize_states_matches_single_reads(backend: StorageBackend) -> None:
    # a: 7 versions, checkpoints at 3 and 6 (a tail after the latest one), a snapshot;
    # b: pruned to its newest 2; c: created by set_state, no versions.
    chain = standard_chain("a", 1, 7, checkpoint_every=3)
    save_all(backend, chain)
    backend.save_snapshot("a", make_snapshot("a", 7, expected_state(7)))
    save_all(backend, standard_chain("b", 1, 5))
    backend.prune_history("b", 2)
    backend.set_state("c", {"k": "v"})
    got = backend.summarize_states(["absent", "a", "b", "c"])
    assert [s.state_id for s in got] == ["a", "b", "c"]
    assert got == summarize_each(backend, ["a", "b", "c"])
    a, b, c = got
    assert (a.head, a.versions, a.snapshots) == (7, 7, 1)
    assert (a.created, a.updated) == (chain[0].timestamp, chain[-1].timestamp)
    assert a.size_bytes == document_bytes(expected_state(7))
    assert (b.head, b.versions, b.size_bytes) == (5, 2, document_bytes(expected_state(5)))
    assert (c.head, c.versions, c.created, c.updated) == (0, 0, None, None)
    assert c.size_bytes == len('{"k":"v"}')
    assert backend.summarize_states([]) == []
