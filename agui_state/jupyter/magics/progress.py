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
def progress_bar(
    enabled: bool, notebook: bool, total: int = 0, desc: str = "migrate"
) -> Iterator[Callback | None]:
    """Yield a ``progress(done, total, state_id)`` callback updating a bar, or ``None``.

    Args:
        enabled: ``%config StateMagic.progress``; off yields ``None`` (so does ``total=0``).
        notebook: Use the notebook (widget) bar.
        total: The expected number of versions (the callback may correct it).
        desc: The bar's label.
    """
    if not enabled or total <= 0:
        yield None  # off, or nothing to copy: a bar stuck at 0/0 says nothing
        return
    cls = _tqdm_class(notebook)
    widget = cls.__module__ == "tqdm.notebook"
    bar = cls(total=total, desc=desc, bar_format=BAR_FORMAT, leave=True, **_no_display(widget))
    if widget:
        _show(bar, f"{desc}: {total} versions to copy")
    done_before = [0]

    def update(done: int, new_total: int, state_id: str) -> None:
        del state_id  # the bar's text stays the same from run to run
        if bar.total != new_total:
            bar.total = new_total
            if widget:  # the widget keeps its own maximum
                bar.container.children[1].max = new_total
        bar.update(done - done_before[0])
        done_before[0] = done

    try:
        yield update
    finally:
        bar.close()


def _no_display(widget: bool) -> dict[str, Any]:
    return {"display": False} if widget else {}


class _BarView:
    """The notebook bar with a fixed text form.

    tqdm's widget takes its text form when displayed, at 0%, and that text
    then sits in the saved notebook forever; nbval does not apply later
    display updates. The widget is unchanged; its text form says what it
    counts instead.
    """

    def __init__(self, container: Any, text: str) -> None:
        self._container = container
        self._text = text

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(self._container._repr_mimebundle_(**kwargs))
        bundle["text/plain"] = self._text
        return bundle


def _show(bar: Any, text: str) -> None:
    from IPython.display import display

    display(_BarView(bar.container, text))  # type: ignore[no-untyped-call]
