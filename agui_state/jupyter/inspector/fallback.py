"""The inspector's static text and HTML: what a notebook shows without a live widget.

Saved notebooks keep these outputs next to the widget view: nbval compares
them (so they are stable: no addresses, no ids) and renderers without a
kernel (nbconvert, GitHub) show them. Every state-derived string is escaped.
"""

from __future__ import annotations

import html
from typing import Any

from agui_state import StateError
from agui_state.jupyter.inspector.session import Inspection
from agui_state.jupyter.inspector.values import preview

__all__ = ["static_html", "text_repr"]


def text_repr(m: Inspection | None) -> str:
    """One stable line: source kind, state, selected version and head."""
    if m is None:
        return "StateInspector(unopened)"
    return (
        f"StateInspector(source={m.reader.kind!r}, state_id={m.state_id!r}, "
        f"version={m.version}, head={m.head})"
    )


def static_html(m: Inspection, log_lines: list[dict[str, Any]]) -> str:
    """An escaped summary: the source, the selected version, recent log lines, the document."""
    esc = html.escape
    parts = [
        '<div class="agui-inspector-static">',
        f"<p><strong>State inspector</strong> on {esc(m.reader.kind)}: {esc(m.reader.label)}</p>",
    ]
    if m.state_id is None:
        parts.append("<p>No state selected.</p></div>")
        return "".join(parts)
    parts.append(f"<p>state <code>{esc(m.state_id)}</code>, version {m.version} of {m.head}</p>")
    if log_lines:
        parts.append("<table><tr><th>version</th><th>time</th><th>run</th><th>change</th></tr>")
        for line in log_lines[:10]:
            cells = (line["number"], line["time"], line["run_id"], line["summary"])
            parts.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    try:
        doc = preview(m.document(m.version), 1500)
    except StateError:
        doc = "(document not readable)"
    parts.append(f"<details><summary>document</summary><pre>{esc(doc)}</pre></details>")
    parts.append("</div>")
    return "".join(parts)
