"""The version log: pages of one-line version summaries, newest first, filtered.

Filters (path prefix, run id, hidden noisy paths) are applied while walking
the history backwards a page at a time; a page stops after :data:`LOG_PAGE`
matching lines or :data:`SCAN_LIMIT` versions read, whichever comes first,
so a rare filter over 100k versions never blocks the kernel. The page says
where to continue (``next_before``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agui_state import StateVersion
from agui_state.jupyter.ops import summarize_ops, touched_paths

__all__ = ["LOG_PAGE", "SCAN_LIMIT", "LogFilter", "log_line", "log_page", "run_id_of"]

LOG_PAGE = 50
"""Lines per log page."""

SCAN_LIMIT = 5000
"""Most versions read to fill one filtered page."""


def run_id_of(version: StateVersion) -> str | None:
    """Return the run id recorded in a version's metadata (AG-UI or plain), if any."""
    meta = version.metadata
    info = meta.get("agui")
    if isinstance(info, dict) and isinstance(info.get("run_id"), str):
        return str(info["run_id"])
    for key in ("run_id", "runId"):
        if isinstance(meta.get(key), str):
            return str(meta[key])
    return None


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it, token-wise (``/a`` is not under ``/ab``)."""
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/") or prefix == ""


@dataclass(frozen=True)
class LogFilter:
    """Which versions the log shows.

    Attributes:
        path: Only versions touching this pointer or below it ("" = all).
        run_id: Only versions of this run ("" = all).
        hidden: Noisy path prefixes: a version touching nothing else is hidden.
    """

    path: str = ""
    run_id: str = ""
    hidden: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.path or self.run_id or self.hidden)

    def accepts(self, version: StateVersion) -> bool:
        """Return whether ``version`` passes every filter."""
        paths = touched_paths(version.delta)
        if self.path and not any(_under(p, self.path) or _under(self.path, p) for p in paths):
            return False
        if self.run_id and self.run_id not in (run_id_of(version) or ""):
            return False
        hidden = [h for h in self.hidden if h]
        return not (hidden and paths and all(any(_under(p, h) for h in hidden) for p in paths))


def log_line(version: StateVersion) -> dict[str, Any]:
    """Return the one-line view of a version sent to the browser."""
    return {
        "number": version.number,
        "time": version.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
        "run_id": run_id_of(version) or "",
        "summary": summarize_ops(version.delta),
        "ops": len(version.delta),
    }


def log_page(
    versions: Iterable[StateVersion], flt: LogFilter, page: int = LOG_PAGE
) -> tuple[list[dict[str, Any]], int | None, int]:
    """Take one page of matching lines from ``versions`` (newest first).

    Returns:
        The lines, the ``before`` cursor of the next (older) page or None at
        the start of the history, and how many versions were read.
    """
    lines: list[dict[str, Any]] = []
    scanned = 0
    last: int | None = None
    for version in versions:
        scanned += 1
        last = version.number
        if flt.accepts(version):
            lines.append(log_line(version))
            if len(lines) >= page:
                break
        if scanned >= SCAN_LIMIT:
            break
    else:
        return lines, None, scanned
    return lines, (last if last is not None and last > 1 else None), scanned
