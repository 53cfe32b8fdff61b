"""The official TypeScript client (@ag-ui/client HttpAgent) against the example server.

The judge of our streams is the client people use: it starts the example
FastAPI app (examples/agui_server) on a loopback port, runs HttpAgent from
node (tests/agui/node/run_client.mjs) and checks that the client ends on the
store's state (numbers compared as JavaScript doubles), that no delta was
skipped (the client only warns when one does not apply), and which catch-up
it got: a full replay as deltas, a resume with exactly the missed deltas, a
live run with concurrent writes, and a snapshot for a stale client.

Needs node and ``npm ci`` in tests/agui/node (``.ci/run`` does it). Without
them the tests skip with the reason; under ``CI=true`` they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agui_state.persistent import PersistentStateStore
from tests.agui._helpers import LoopbackServer

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "run_client.mjs"


def _node() -> str:
    node = shutil.which("node")
    reason = None
    if node is None:
        reason = "node is not installed (the @ag-ui/client tests need it)"
    elif not (NODE_DIR / "node_modules" / "@ag-ui" / "client" / "package.json").is_file():
        reason = f"@ag-ui/client is not installed: run `npm ci` in {NODE_DIR}"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    assert node is not None
    return node


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    _node()
    with LoopbackServer(f"file://{tmp_path_factory.mktemp('agui-node')}") as srv:
        yield srv


def _run_client(server: LoopbackServer, thread_id: str, run_id: str, **spec: Any) -> dict[str, Any]:
    payload = {"url": server.endpoint, "threadId": thread_id, "runId": run_id, **spec}
    done = subprocess.run(
        [_node(), str(SCRIPT), json.dumps(payload)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["error"] is None, result["error"]
    # @ag-ui/client skips a delta it cannot apply with only a warning.
    assert result["warnings"] == [], result["warnings"]
    assert result["events"][0]["type"] == "RUN_STARTED"
    assert result["events"][-1]["type"] == "RUN_FINISHED"
    return result


def _as_doubles(value: Any) -> Any:
    """A JSON value as JavaScript holds it: every number a double."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_as_doubles(v) for v in value]
    return {k: _as_doubles(v) for k, v in value.items()}


def _state_events(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in result["events"] if e["type"] in ("STATE_DELTA", "STATE_SNAPSHOT")]


HISTORY_THREAD = "thread-history"


@pytest.fixture(scope="module")
def history(server: LoopbackServer) -> int:
    """A thread written with every kind of operation; returns its head version."""
    with PersistentStateStore(server.url, HISTORY_THREAD) as store:
        store.set("/cart", {"items": [], "total": 0})
        store.apply_patch([{"op": "add", "path": "/cart/items/-", "value": {"sku": "a", "n": 1}}])
        store.apply_patch([{"op": "add", "path": "/cart/items/0", "value": {"sku": "b", "n": 2}}])
        store.set("/cart/total", 0.1 + 0.2)
        store.apply_patch([{"op": "test", "path": "/cart/total", "value": 0.1 + 0.2}])
        store.set("/weird~0keys", None)
        store.apply_patch([{"op": "add", "path": "/a~1b~0c", "value": "slash and tilde"}])
        store.set("/unicode", "ünï🎉 — \u2028")
        snap = store.create_snapshot("before moves")
        store.apply_patch([{"op": "move", "from": "/cart/items/1", "path": "/moved"}])
        store.apply_patch([{"op": "copy", "from": "/moved", "path": "/cart/items/-"}])
        store.apply_patch([{"op": "remove", "path": "/weird~0keys"}])
        store.set("/numbers", {"big": 1e16, "neg": -0.0, "max": 2**53 - 1, "one": 1.0})
        store.set("/numbers/one", 1.0)  # a value set to itself
        store.restore_snapshot(snap)
        store.apply_patch([{"op": "replace", "path": "/cart/total", "value": 42}])
        for i in range(20):
            store.set(f"/log/{i}" if i else "/log", {"i": i} if i else {"0": 0})
        return store.version


def test_full_replay_as_deltas(server: LoopbackServer, history: int) -> None:
    result = _run_client(
        server, HISTORY_THREAD, "replay", initialState={}, forwardedProps={"steps": 0}
    )
    kinds = _state_events(result)
    assert "STATE_SNAPSHOT" not in {e["type"] for e in kinds}
    assert [e["version"] for e in kinds][:history] == list(range(1, history + 1))
    state, version = server.state(HISTORY_THREAD)
    assert kinds[-1]["version"] == version
    assert _as_doubles(result["state"]) == _as_doubles(state)


def test_resume_from_a_middle_version(server: LoopbackServer, history: int) -> None:
    middle = history // 2
    with PersistentStateStore(server.url, HISTORY_THREAD) as store:
        at_middle = store.state_at(middle)
    result = _run_client(
        server,
        HISTORY_THREAD,
        "resume",
        initialState=at_middle,
        headers={"Last-Event-ID": str(middle)},
        forwardedProps={"steps": 1, "delay": 0},
    )
    kinds = _state_events(result)
    assert kinds[0] == {"type": "STATE_DELTA", "version": middle + 1}
    assert "STATE_SNAPSHOT" not in {e["type"] for e in kinds}
    state, _ = server.state(HISTORY_THREAD)
    assert _as_doubles(result["state"]) == _as_doubles(state)


def test_live_run_with_concurrent_writes(server: LoopbackServer) -> None:
    thread_id = "thread-live"
    written: list[int] = []

    def writer() -> None:
        deadline = time.monotonic() + 30
        while (store := server.held(thread_id)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        for i in range(10):
            written.append(store.set(f"/concurrent/w{i}", i * 1.5).number)
            time.sleep(0.01)

    with PersistentStateStore(server.url, thread_id) as store:
        store.set("/concurrent", {})
    thread = threading.Thread(target=writer)
    thread.start()
    result = _run_client(
        server,
        thread_id,
        "live",
        initialState={"concurrent": {}},
        forwardedProps={"steps": 6, "delay": 0.15},
    )
    thread.join()
    kinds = _state_events(result)
    assert kinds[0]["type"] == "STATE_DELTA"  # the client was at version 1 already
    versions = [e["version"] for e in kinds]
    assert versions == list(range(2, versions[-1] + 1))
    assert set(written) <= set(versions)  # the other writer's versions came live
    state, version = server.state(thread_id)
    assert versions[-1] == version
    assert result["state"]["concurrent"] == {f"w{i}": i * 1.5 for i in range(10)}
    assert _as_doubles(result["state"]) == _as_doubles(state)


def test_stale_client_is_resynchronised_by_a_snapshot(server: LoopbackServer, history: int) -> None:
    stale = {"cart": {"items": ["stale"], "total": -1}}
    result = _run_client(
        server, HISTORY_THREAD, "stale", initialState=stale, forwardedProps={"steps": 1, "delay": 0}
    )
    kinds = _state_events(result)
    assert kinds[0]["type"] == "STATE_SNAPSHOT"
    assert all(e["type"] == "STATE_DELTA" for e in kinds[1:])
    state, _ = server.state(HISTORY_THREAD)
    assert _as_doubles(result["state"]) == _as_doubles(state)
