"""How ``%state`` shows results: returned, or displayed at once; frames bounded.

Commands produce a result object (a DataFrame, a Python value, a diff...)
or only a message. :class:`Renderer` applies the magic's options:

* ``display_limit`` bounds the rows a returned frame shows (the frame itself
  keeps every row);
* ``autodisplay`` off (default): the result is returned, so it can be
  assigned (``df = %state history``) and IPython shows it when it ends the
  cell; on: the result is displayed as soon as the command runs (so several
  ``%state`` lines of one cell all show) and ``None`` is returned.

Messages (``connected``, ``version 3 written``) are printed, and never hold
a password. Previews (``--dry-run``, ``restore`` without ``--yes``) are
:class:`Preview` objects: escaped HTML and a stable text repr.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agui_state.errors import InvalidPathError
from agui_state.models import Operation

__all__ = ["Preview", "Renderer", "is_frame"]


def is_frame(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame (without importing pandas)."""
    return any(
        c.__name__ == "DataFrame" and c.__module__.startswith("pandas") for c in type(value).__mro__
    )


@dataclass
class Renderer:
    """Applies the display options of a magic instance.

    Attributes:
        display_limit: Returns the current row limit (a traitlet of the magic).
        autodisplay: Returns whether to display at once instead of returning.
    """

    display_limit: Callable[[], int]
    autodisplay: Callable[[], bool]

    def result(self, value: Any) -> Any:
        """Return (or display) a command's result."""
        if is_frame(value):
            from agui_state.jupyter.magics.frame import limited

            value = limited(value, self.display_limit())
        if not self.autodisplay():
            return value
        from IPython.display import display

        display(value)  # type: ignore[no-untyped-call]
        return None

    @staticmethod
    def message(text: str) -> None:
        """Print a one-line message."""
        print(text)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Preview:
    """What a write would change, shown instead of writing it.

    Attributes:
        title: What is previewed (``"patch (dry run)"``, ``"restore snapshot S"``).
        ops: The RFC 6902 operations from the current state to the result.
        old: The current document.
        new: The document the write would produce.
        note: A closing line (``nothing was written``).
    """

    title: str
    ops: list[Operation]
    old: dict[str, Any] = field(repr=False)
    new: dict[str, Any] = field(repr=False)
    note: str = "nothing was written"

    def _rows(self) -> list[tuple[str, str, str, str]]:
        from agui_state.patch import resolve

        rows = []
        for op in self.ops:
            path = str(op.get("path", ""))
            try:
                old = _short(resolve(self.old, path))
            except InvalidPathError:  # nothing there before the op: an add
                old = ""
            new = _short(op["value"]) if "value" in op else ""
            rows.append((str(op.get("op", "")), path, old, new))
        return rows

    def to_frame(self) -> Any:
        """The changes as a DataFrame with columns op, path, old, new."""
        import pandas as pd

        return pd.DataFrame(self._rows(), columns=["op", "path", "old", "new"])

    def __repr__(self) -> str:
        lines = [f"{self.title}: {len(self.ops)} change(s)"]
        for op, path, old, new in self._rows():
            lines.append(f"  {op} {path}: {old or '-'} -> {new or '-'}")
        lines.append(self.note)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        cells = "".join(
            f"<tr><td>{esc(op)}</td><td><code>{esc(path)}</code></td>"
            f"<td><code>{esc(old)}</code></td><td><code>{esc(new)}</code></td></tr>"
            for op, path, old, new in self._rows()
        )
        return (
            f"<div><b>{esc(self.title)}</b>: {len(self.ops)} change(s)"
            "<table><thead><tr><th>op</th><th>path</th><th>old</th><th>new</th></tr></thead>"
            f"<tbody>{cells}</tbody></table><i>{esc(self.note)}</i></div>"
        )
