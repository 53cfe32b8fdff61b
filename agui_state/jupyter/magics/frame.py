"""A DataFrame that displays at most ``display_limit`` rows.

``%state`` returns real DataFrames (``df = %state history`` is a DataFrame
in every respect); only their display is bounded by
``%config StateMagic.display_limit``, so a 100,000-version history does not
flood the notebook. Any operation on it returns a plain ``DataFrame``.

Imported only when a command returns a frame (pandas is an optional dependency).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["LimitedFrame", "limited"]


class LimitedFrame(pd.DataFrame):  # type: ignore[misc]  # pandas ships no type stubs here
    """A DataFrame whose reprs show at most :attr:`display_limit` rows."""

    _metadata = ["display_limit"]
    display_limit: int = 20

    @property
    def _constructor(self) -> Any:
        # Results of operations are ordinary frames, unbounded.
        return pd.DataFrame

    def _bounded(self) -> Any:
        n = max(int(self.display_limit), 1)
        return pd.option_context("display.max_rows", n, "display.min_rows", n)

    def __repr__(self) -> str:
        with self._bounded():
            return str(super().__repr__())

    def _repr_html_(self) -> str | None:
        with self._bounded():
            html: str | None = super()._repr_html_()
            return html


def limited(frame: Any, display_limit: int) -> Any:
    """Return ``frame`` (a DataFrame) as a :class:`LimitedFrame`, sharing its data."""
    out = LimitedFrame(frame)
    out.display_limit = display_limit
    return out
