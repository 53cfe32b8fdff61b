"""Helpers shared by the AG-UI server-side tests."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ag_ui_validate.pytest_plugin import validate_agui

from agui_state.agui import to_wire

STATE_RULES = {"AGUI301", "AGUI302", "AGUI303", "AGUI304", "AGUI305"}
VALIDATOR = Path(sys.executable).with_name("ag-ui-validate")


def findings(events: list[Any]) -> list[str]:
    """ag-ui-validate findings that matter: errors, warnings and any state rule."""
    wire = [e if isinstance(e, dict) else to_wire(e) for e in events]
    report = validate_agui(wire, features=["shared-state"])
    assert report.internal_errors == []
    return [
        f"{d.rule} {d.severity} event {d.event_index}: {d.message}"
        for d in report.diagnostics
        if d.severity in ("error", "warning") or d.rule in STATE_RULES
    ]


def validator_cli(path: Path) -> dict[str, Any]:
    """The JSON report of the ag-ui-validate command line on a JSONL or SSE file (it must run)."""
    result = subprocess.run(
        [str(VALIDATOR), str(path), "--json", "--features", "shared-state"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def types(events: list[Any]) -> list[str]:
    return [e.type.value for e in events]


def version_of(event: Any) -> int:
    number: int = event.metadata["agui_state"]["version"]
    return number


def collect(agen: AsyncIterator[Any]) -> list[Any]:
    async def run() -> list[Any]:
        return [e async for e in agen]

    return asyncio.run(run())


def run_input(state: Any = None, thread: str = "thread-1", run: str = "run-1") -> dict[str, Any]:
    """A RunAgentInput wire dict as @ag-ui/client sends it."""
    body: dict[str, Any] = {"threadId": thread, "runId": run, "messages": [], "tools": []}
    if state is not None:
        body["state"] = state
    return body


def findings_after(base: Any, events: list[Any]) -> list[str]:
    """Findings of a catch-up stream for a client known to hold ``base``.

    A run that sends deltas only (the client already has their base) cannot
    be checked alone: the validator would not know the base (AGUI301) and
    sees no snapshot (AGUI305). It is checked with the client's base inserted
    as a snapshot after ``RUN_STARTED``, which is what the client holds.
    """
    from agui_state.agui._sdk import StateSnapshotEvent

    snapshot = StateSnapshotEvent(snapshot=base)
    return findings([events[0], snapshot, *events[1:]])


def load_example_app() -> Any:
    """Import examples/agui_server/app.py (not a package) and return the module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "agui_server" / "app.py"
    spec = importlib.util.spec_from_file_location("agui_server_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_sse(text: str) -> list[tuple[int | None, dict[str, Any]]]:
    """Split an SSE body into (id, event wire dict) pairs."""
    import json

    out: list[tuple[int | None, dict[str, Any]]] = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        ident = fields.get("id")
        out.append((None if ident is None else int(ident), json.loads(fields["data"])))
    return out


class LoopbackServer:
    """The example app served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, url: str) -> None:
        import uvicorn

        self.url = url
        self.app = load_example_app().create_app(url)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/agent"

    def held(self, thread_id: str) -> Any:
        return self.app.state.agui.stores.held(thread_id)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def state(self, thread_id: str) -> Any:
        """The store's state once no request holds the thread (all flushed)."""
        deadline = time.monotonic() + 10
        while self.held(thread_id) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        from agui_state.persistent import PersistentStateStore

        with PersistentStateStore(self.url, thread_id) as store:
            return store.get_state(), store.version
