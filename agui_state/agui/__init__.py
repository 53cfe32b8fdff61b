"""The AG-UI protocol bridge: shared-state events in and out of a store.

In AG-UI a thread's shared state travels as ``STATE_SNAPSHOT`` (the whole
state) and ``STATE_DELTA`` (an RFC 6902 patch) events. This package maps them
onto versions:

* **out** — :func:`version_to_event`, :func:`snapshot_event`, live streams
  :func:`stream_events` / :func:`astream_events`, and :func:`encode_sse`
  (Server-Sent Events through the SDK's ``EventEncoder``);
* **in** — :func:`apply_event` and :class:`EventApplier` write each state
  event as one version, recording run/thread context in its metadata;
* **serve** — :func:`serve_run` answers one AG-UI run request: the
  request's run, a catch-up from what the client has (nothing, the missed
  deltas, or a snapshot), live deltas, resumable SSE ids; JavaScript-safe
  output (:mod:`agui_state.agui.jssafe`) is on by default for streams;
* **endpoint** — :class:`AGUIEndpoint`, a ready ASGI app for Starlette /
  FastAPI (the ``server`` extra) serving runs from thread stores;
* **replay** — :func:`replay_thread` re-emits a stored history as a valid
  event stream, grouped by run; :func:`rebuild_state` folds any event stream
  back into a state.

The state id of a store is the AG-UI thread id. Requires the ``agui`` extra
(``pip install 'agui-state[agui]'``); importing this package without it raises
:class:`~agui_state.errors.ConfigError` with that hint. ``import agui_state``
alone never imports the SDK.
"""

from __future__ import annotations

from agui_state.agui._sdk import INSTALL_HINT
from agui_state.agui.endpoint import AGUIEndpoint, ThreadStores
from agui_state.agui.inbound import METADATA_KEY, EventApplier, apply_event, rebuild_state
from agui_state.agui.jssafe import MAX_SAFE_INTEGER, check_js_safe_event, check_js_safe_value
from agui_state.agui.outbound import (
    VERSION_METADATA_KEY,
    aencode_sse,
    encode_sse,
    event_version,
    run_finished_event,
    run_started_event,
    snapshot_event,
    version_to_event,
)
from agui_state.agui.replay import replay_thread, run_id_of
from agui_state.agui.serve import parse_last_event_id, parse_run_input, serve_run
from agui_state.agui.stream import EventStream, astream_events, stream_events
from agui_state.agui.wire import to_wire

__all__ = [
    "INSTALL_HINT",
    "MAX_SAFE_INTEGER",
    "METADATA_KEY",
    "VERSION_METADATA_KEY",
    "AGUIEndpoint",
    "EventApplier",
    "EventStream",
    "ThreadStores",
    "aencode_sse",
    "apply_event",
    "astream_events",
    "check_js_safe_event",
    "check_js_safe_value",
    "encode_sse",
    "event_version",
    "parse_last_event_id",
    "parse_run_input",
    "rebuild_state",
    "replay_thread",
    "run_finished_event",
    "run_id_of",
    "run_started_event",
    "serve_run",
    "snapshot_event",
    "stream_events",
    "to_wire",
    "version_to_event",
]
