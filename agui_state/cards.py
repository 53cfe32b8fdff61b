"""Compact HTML cards and stable one-line texts for notebook display (stdlib only).

The bottom layer of the Jupyter face: :class:`~agui_state.models.StateVersion`,
:class:`~agui_state.models.StateSnapshot`, the stores and the data layer's
diff result call these from ``_repr_html_`` / ``_repr_pretty_``, so lower
layers never import :mod:`agui_state.jupyter` (nor pandas, nor IPython).

State content is untrusted (it comes from agents and users): every key and
value goes through :func:`html.escape` and is shown as text inside ``<pre>``
or ``<td>``; nothing from a state is ever placed in an attribute, a tag name
or a style. Documents are shown collapsed in plain ``<details>`` elements
(no script, no CSS classes a page could restyle), and capped at
:data:`MAX_DOCUMENT_CHARS` so a huge state cannot freeze a notebook.

Outputs are deterministic: no ids, addresses or clocks of their own (only
the object's data), so notebooks can compare them under nbval.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agui_state.patch.summary import summarize_ops

__all__ = [
    "MAX_DOCUMENT_CHARS",
    "card",
    "document_details",
    "escape",
    "json_text",
    "snapshot_card",
    "snapshot_text",
    "store_card",
    "time_text",
    "version_card",
    "version_text",
]

MAX_DOCUMENT_CHARS = 100_000
"""Characters of JSON shown in one ``<details>`` before it is cut (and says so)."""

_CARD_STYLE = (
    "font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;"
    "border:1px solid #ccc;border-radius:4px;padding:6px 10px;margin:2px 0;"
    "display:inline-block;min-width:24em;max-width:100%"
)
_PRE_STYLE = "margin:4px 0;max-height:24em;overflow:auto;white-space:pre-wrap"


def escape(value: Any) -> str:
    """HTML-escape ``str(value)``, quotes included."""
    return html.escape(str(value), quote=True)


def json_text(value: Any, *, indent: int | None = 2, limit: int | None = None) -> str:
    """Return ``value`` as JSON text (non-ASCII kept), cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters not shown)"
    return text


def time_text(ts: datetime | None) -> str:
    """A timestamp as ISO-8601 UTC with milliseconds (``-`` for None)."""
    if ts is None:
        return "-"
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")


def document_details(doc: Any, summary: str = "document", *, opened: bool = False) -> str:
    """A ``<details>`` element holding ``doc`` as escaped, indented JSON."""
    body = escape(json_text(doc, limit=MAX_DOCUMENT_CHARS))
    return (
        f"<details{' open' if opened else ''}><summary>{escape(summary)}</summary>"
        f'<pre style="{_PRE_STYLE}">{body}</pre></details>'
    )


def card(title: str, fields: Iterable[tuple[str, Any]], body: str = "") -> str:
    """A bordered card: a bold title, a two-column table of fields, then ``body``.

    ``title`` and every field name and value are escaped here; ``body`` is
    HTML the caller built from escaped parts.
    """
    rows = "".join(
        f'<tr><th style="text-align:left;padding:0 8px 0 0;font-weight:normal;color:#666">'
        f'{escape(name)}</th><td style="text-align:left">{escape(value)}</td></tr>'
        for name, value in fields
    )
    return (
        f'<div style="{_CARD_STYLE}"><div><b>{escape(title)}</b></div>'
        f'<table style="border-collapse:collapse;margin:2px 0">{rows}</table>{body}</div>'
    )


def run_of(metadata: Mapping[str, Any]) -> str | None:
    """The run id in a version's metadata: ``run_id``, else the AG-UI event's ``agui.run_id``."""
    run = metadata.get("run_id")
    if isinstance(run, str) and run:
        return run
    agui = metadata.get("agui")
    if isinstance(agui, Mapping):
        run = agui.get("run_id")
        if isinstance(run, str) and run:
            return run
    return None


def version_text(
    state_id: str,
    number: int,
    timestamp: datetime,
    delta: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
) -> str:
    """One stable line describing a version."""
    run = run_of(metadata)
    run_part = f", run={run!r}" if run else ""
    return (
        f"StateVersion(state_id={state_id!r}, number={number}{run_part}, "
        f"time={time_text(timestamp)}, ops={len(delta)}: {summarize_ops(delta)})"
    )


def version_card(
    state_id: str,
    number: int,
    version_id: str,
    parent_id: str | None,
    timestamp: datetime,
    delta: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    checkpoint: Any | None,
) -> str:
    """The card of a version: number, run, time, op summary; delta and metadata collapsed."""
    fields: list[tuple[str, Any]] = [
        ("state", state_id),
        ("version", number),
        ("run", run_of(metadata) or "-"),
        ("time", time_text(timestamp)),
        ("ops", f"{len(delta)}: {summarize_ops(delta)}"),
        ("id", version_id),
        ("parent", parent_id or "-"),
    ]
    body = document_details(list(delta), f"delta ({len(delta)} ops)")
    if metadata:
        body += document_details(dict(metadata), "metadata")
    if checkpoint is not None:
        body += document_details(checkpoint, "checkpoint (full state after this version)")
    return card(f"StateVersion {number}", fields, body)


def snapshot_text(
    state_id: str, snapshot_id: str, version: int, timestamp: datetime, label: str | None
) -> str:
    """One stable line describing a snapshot."""
    return (
        f"StateSnapshot(state_id={state_id!r}, id={snapshot_id!r}, version={version}, "
        f"label={label!r}, time={time_text(timestamp)})"
    )


def snapshot_card(
    state_id: str,
    snapshot_id: str,
    version: int,
    timestamp: datetime,
    state: Any,
    label: str | None,
    metadata: Mapping[str, Any],
) -> str:
    """The card of a snapshot: label, version, time; the state collapsed."""
    fields: list[tuple[str, Any]] = [
        ("state", state_id),
        ("label", label if label is not None else "-"),
        ("version", version),
        ("time", time_text(timestamp)),
        ("id", snapshot_id),
    ]
    body = document_details(state, "state")
    if metadata:
        body += document_details(dict(metadata), "metadata")
    return card(f"StateSnapshot {label or snapshot_id}", fields, body)


def store_card(
    title: str,
    state_id: str,
    version: int,
    state: Any,
    last: Any | None,
    extra: Iterable[tuple[str, Any]] = (),
) -> str:
    """The card of a store: state id, version, the last version's run/time/ops; the state collapsed.

    Args:
        title: The store's type name.
        state_id: Its state id.
        version: Its head version.
        state: Its current document.
        last: Its head :class:`~agui_state.models.StateVersion` (duck-typed:
            ``timestamp``, ``delta``, ``metadata``), or None.
        extra: More fields (e.g. the backend's redacted URL).
    """
    fields: list[tuple[str, Any]] = [("state", state_id), ("version", version)]
    if last is not None:
        fields += [
            ("run", run_of(last.metadata) or "-"),
            ("time", time_text(last.timestamp)),
            ("last ops", f"{len(last.delta)}: {summarize_ops(last.delta)}"),
        ]
    fields += list(extra)
    return card(title, fields, document_details(state, "state"))
