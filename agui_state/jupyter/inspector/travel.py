"""Time travel for the inspector: the document at any version, fast on long histories.

A backend's ``state_at`` replays the versions after the nearest checkpoint
one patch at a time, and each patch path-copies the containers it touches:
on a 5 MB document with a long ``messages`` array, 1000 one-op versions copy
that array 1000 times. Here the deltas of the whole chain are applied as
*one* patch with :func:`agui_state.patch.apply_patch` (operations apply in
order either way), so each container is copied at most once per jump.

The starting point is the checkpoint a version carries every
``checkpoint_interval`` versions (read with ``get_version``), or a document
already computed for a nearer version. Versions at or after the most recent
interval boundary are left to the source's own ``state_at``, which starts
from the latest checkpoint (that keeps an explicit ``set_state`` repair at
the head visible, exactly as the backend shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agui_state import NotFoundError, StateVersion
from agui_state.jupyter.inspector.reader import Reader
from agui_state.patch import apply_patch

__all__ = ["document_at"]

Doc = dict[str, Any]


def document_at(
    reader: Reader,
    state_id: str,
    number: int,
    head: int,
    known: Mapping[int, Doc],
    keep: Callable[[int, Doc], None],
) -> Doc:
    """Return the document at ``number``; ``keep(n, doc)`` receives by-products.

    Args:
        reader: Where to read versions from.
        state_id: The state.
        number: The version wanted (0..head).
        head: The state's head version.
        known: Documents already computed, by version number.
        keep: Called with by-products worth caching: the checkpoint the
            replay started from, and the document at ``number - 1`` (the
            Diff tab's parent comes for free).
    """
    interval = reader.checkpoint_interval
    if interval is None or number == 0 or number >= head - head % interval:
        return reader.state_at(state_id, number)
    start = number - number % interval
    base: Doc | None = None
    nearest = max((n for n in known if start <= n <= number), default=None)
    if nearest is not None:
        start, base = nearest, known[nearest]
        if start == number:
            return base
    elif start > 0:
        try:
            carrier = reader.get_version(state_id, start)
        except NotFoundError:
            carrier = None
        if carrier is None or carrier.checkpoint is None:
            return reader.state_at(state_id, number)
        base = carrier.checkpoint
        keep(start, base)  # the next jump into this interval starts here, unparsed
    else:
        base = reader.state_at(state_id, 0)
    versions = list(reader.iter_versions(state_id, after=start, until=number))
    if not versions or versions[0].number != start + 1 or versions[-1].number != number:
        return reader.state_at(state_id, number)  # pruned or racing: the slow, exact path
    if len(versions) > 1:
        parent = _replay(base, versions[:-1])
        keep(number - 1, parent)
        base = parent
    return _replay(base, versions[-1:])


def _replay(base: Doc, versions: list[StateVersion]) -> Doc:
    ops = [op for version in versions for op in version.delta]
    result: Doc = apply_patch(base, ops)
    return result
