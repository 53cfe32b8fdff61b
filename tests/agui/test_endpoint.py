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


def test_a_store_that_cannot_be_opened_ends_the_run_with_run_error() -> None:
    from agui_state.agui import AGUIEndpoint
    from agui_state.errors import BackendUnavailableError

    def broken(thread_id: str) -> Any:
        raise BackendUnavailableError(f"cannot open {thread_id}: server down")

    from starlette.applications import Starlette

    app = Starlette()
    app.add_route("/agent", AGUIEndpoint(broken), methods=["POST"])
    with TestClient(app) as c:
        events = [e for _, e in parse_sse(c.post("/agent", json=_body("t", "r")).text)]
    assert [e["type"] for e in events] == ["RUN_STARTED", "RUN_ERROR"]
    assert "server down" in events[1]["message"]
    assert events[1]["code"] == "BackendUnavailableError"


def test_a_client_that_leaves_does_not_stop_the_run(tmp_path: Path) -> None:
    import httpx

    from tests.agui._helpers import LoopbackServer

    with LoopbackServer(f"file://{tmp_path}") as server:
        body = _body("t-gone", "r1", state={}, steps=4)
        body["forwardedProps"]["delay"] = 0.1
        with (
            httpx.Client(timeout=30) as http,
            http.stream("POST", server.endpoint, json=body) as response,
        ):
            for line in response.iter_lines():
                if line.startswith("id: 2"):
                    break  # leave mid-run
        state, _ = server.state("t-gone")  # waits until the agent released it
        assert state["status"] == "idle" and state["count"] == 4
        # A reconnect gets exactly what it missed.
        resumed = httpx.post(
            server.endpoint,
            json=_body("t-gone", "r2", steps=0),
            headers={"Last-Event-ID": "2"},
            timeout=30,
        )
        frames = parse_sse(resumed.text)
        assert frames[1][0] == 3
        assert (
            rebuild_state([e for _, e in frames], initial=_state_at(server.url, 2))
            == (server.state("t-gone")[0])
        )


def _state_at(url: str, version: int) -> Any:
    with PersistentStateStore(url, "t-gone") as store:
        return store.state_at(version)


def test_concurrent_requests_on_one_thread_share_its_store(tmp_path: Path) -> None:
    import asyncio

    import httpx

    from tests.agui._helpers import LoopbackServer

    async def both(endpoint: str) -> list[str]:
        async with httpx.AsyncClient(timeout=30) as http:
            bodies = [_body("t-both", f"r{i}", state={}, steps=3) for i in range(2)]
            for body in bodies:
                body["forwardedProps"]["delay"] = 0.05
            answers = await asyncio.gather(*(http.post(endpoint, json=b) for b in bodies))
        return [a.text for a in answers]

    with LoopbackServer(f"file://{tmp_path}") as server:
        texts = asyncio.run(both(server.endpoint))
        state, _ = server.state("t-both")
    assert state["count"] == 6  # both agents' writes, no conflict
    for text in texts:
        events = [e for _, e in parse_sse(text)]
        assert events[-1]["type"] == "RUN_FINISHED"
        assert "RUN_ERROR" not in {e["type"] for e in events}
