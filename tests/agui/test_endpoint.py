"""The ASGI endpoint and the example FastAPI app, through Starlette's test client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from agui_state.agui import rebuild_state
from agui_state.persistent import PersistentStateStore
from tests.agui._helpers import findings, findings_after, load_example_app, parse_sse


def _body(thread: str, run: str, state: Any = None, steps: int = 2) -> dict[str, Any]:
    body: dict[str, Any] = {
        "threadId": thread,
        "runId": run,
        "messages": [{"id": "m1", "role": "user", "content": "buy milk"}],
        "tools": [],
        "context": [],
        "forwardedProps": {"steps": steps, "delay": 0},
    }
    if state is not None:
        body["state"] = state
    return body


@pytest.fixture
def client(tmp_path: Path) -> Any:
    app = load_example_app().create_app(f"file://{tmp_path}")
    with TestClient(app) as c:
        c.url = f"file://{tmp_path}"  # type: ignore[attr-defined]
        yield c


def test_a_run_streams_the_agents_versions_with_ids(client: Any) -> None:
    response = client.post("/agent", json=_body("t1", "r1", state={}))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = parse_sse(response.text)
    events = [event for _, event in frames]
    assert events[0] == {**events[0], "type": "RUN_STARTED", "threadId": "t1", "runId": "r1"}
    assert events[-1]["type"] == "RUN_FINISHED"
    assert [ident for ident, _ in frames[1:-1]] == list(range(1, len(frames) - 1))
    state = rebuild_state(events)
    with PersistentStateStore(client.url, "t1") as store:
        assert state == store.get_state()
        assert store.get("/todos/1/text") == "buy milk (2/2)"
    assert findings_after({}, events) == []
    # The request's store was closed when its stream ended.
    assert client.app.state.agui.stores.held("t1") is None


def test_resume_with_last_event_id_and_stale_state(client: Any) -> None:
    client.post("/agent", json=_body("t2", "r1", {}))
    resumed = parse_sse(
        client.post(
            "/agent", json=_body("t2", "r2", {}, steps=0), headers={"Last-Event-ID": "3"}
        ).text
    )
    assert resumed[1][0] == 4  # exactly what came after version 3
    stale = [
        e for _, e in parse_sse(client.post("/agent", json=_body("t2", "r3", {"x": 1}, 0)).text)
    ]
    assert [e["type"] for e in stale[:2]] == ["RUN_STARTED", "STATE_SNAPSHOT"]
    with PersistentStateStore(client.url, "t2") as store:
        assert stale[1]["snapshot"] == rebuild_state(stale) == store.get_state()
    assert findings(stale) == []


def test_bad_requests_get_clear_answers(client: Any) -> None:
    response = client.post("/agent", json={"threadId": "t", "messages": []})
    assert response.status_code == 422
    assert response.json()["field"] == "RunAgentInput.runId"
    response = client.post("/agent", json=_body("t", "r"), headers={"Last-Event-ID": "x"})
    assert response.status_code == 422 and response.json()["field"] == "Last-Event-ID"
    assert client.get("/agent").status_code == 405
