"""The progress bar of ``%state migrate``: tqdm's notebook bar in Jupyter, text elsewhere.

The bar shows no elapsed time or rate: only the counts, so a notebook that
stores its output (and nbval comparing it) sees the same text on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from agui_state.errors import ConfigError

__all__ = ["BAR_FORMAT", "progress_bar"]

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} versions"

Callback = Callable[[int, int, str], None]


def _tqdm_class(notebook: bool) -> Any:
    try:
        if notebook:
            try:
                import ipywidgets  # noqa: F401  -- the notebook bar is an ipywidget
                from tqdm.notebook import tqdm as notebook_tqdm

                return notebook_tqdm
            except ImportError:
                pass  # no ipywidgets: a text bar still works
        from tqdm.std import tqdm as text_tqdm

        return text_tqdm
    except ImportError as exc:
        raise ConfigError(
            "progress", "the progress bar needs tqdm: pip install 'agui-state[jupyter]'"
        ) from exc


@contextmanager
def progress_bar(enabled: bool, notebook: bool, desc: str = "migrate") -> Iterator[Callback | None]:
    """Yield a ``progress(done, total, state_id)`` callback updating a bar, or ``None``.

    Args:
        enabled: ``%config StateMagic.progress``; off yields ``None``.
        notebook: Use the notebook (widget) bar.
        desc: The bar's label.
    """
    if not enabled:
        yield None
        return
    cls = _tqdm_class(notebook)
    bar = cls(total=0, desc=desc, bar_format=BAR_FORMAT, leave=True)
    last = [0]

    def update(done: int, total: int, state_id: str) -> None:
        del state_id  # the bar's text stays the same from run to run
        if bar.total != total:
            bar.total = total
            if hasattr(bar, "container"):  # the notebook bar keeps its own maximum
                bar.container.children[1].max = total
        bar.update(done - last[0])
        last[0] = done

    try:
        yield update
    finally:
        bar.close()
