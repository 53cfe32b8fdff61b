"""A runnable AG-UI server whose agent writes to an agui-state store and streams the state.

Run it (from the repository root)::

    pip install 'agui-state[server]'
    python examples/agui_server/app.py --url file://./agui-demo --port 8000

then POST a ``RunAgentInput`` to ``http://127.0.0.1:8000/agent`` with any AG-UI
client (``@ag-ui/client``'s ``HttpAgent``, CopilotKit...). Each run adds the
last user message to the thread's ``/todos`` list in a few steps; every
step is one version in the store, streamed live as a ``STATE_DELTA``.
Reconnect with ``Last-Event-ID`` (or ``?from_version=N``) to resume, or send
your current state: you get only what you miss, or a snapshot if your state
is not one the store had.

Any backend URL works (``sqlite:///demo.db``, ``postgresql+psycopg://...``,
``redis://...``): every thread store opened from it shares one backend and
connection pool, and asynchronous stores share one writer thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from fastapi import FastAPI

from agui_state.agui import AGUIEndpoint

DEFAULT_URL = os.environ.get("AGUI_STATE_URL", "file://./agui-demo")


def _last_user_text(run_input: Any) -> str:
    for message in reversed(run_input.messages or []):
        if getattr(message, "role", None) == "user" and isinstance(
            getattr(message, "content", None), str
        ):
            return str(message.content)
    return "something to do"


async def todo_agent(store: Any, run_input: Any) -> None:
    """A toy agent: add the last user message as todo items, one version per step.

    ``forwardedProps`` may set ``steps`` (how many items) and ``delay``
    (seconds between steps), so clients and tests can shape a run.
    """
    props = run_input.forwarded_props if isinstance(run_input.forwarded_props, dict) else {}
    steps = int(props.get("steps", 3))
    delay = float(props.get("delay", 0.05))
    text = _last_user_text(run_input)
    # The run id in the metadata lets replay_thread regroup history by run.
    meta = {"agui": {"run_id": run_input.run_id, "thread_id": run_input.thread_id}}
    if not isinstance(store.get_state().get("todos"), list):
        store.set("/todos", [], metadata=meta)
    store.set("/status", "working", metadata=meta)
    for i in range(steps):
        await asyncio.sleep(delay)  # "thinking"
        item = {"text": f"{text} ({i + 1}/{steps})", "done": False}
        store.apply_patch([{"op": "add", "path": "/todos/-", "value": item}], metadata=meta)
        store.set("/count", len(store.get_state()["todos"]), metadata=meta)
    store.set("/status", "idle", metadata=meta)


def create_app(url: str = DEFAULT_URL, **store_options: Any) -> FastAPI:
    """Return the FastAPI app serving AG-UI runs on ``POST /agent``.

    Args:
        url: Backend URL of the thread stores.
        **store_options: For the stores (default: asynchronous, so agent
            writes never wait for storage inside the event loop).
    """
    store_options.setdefault("synchronous", False)
    endpoint = AGUIEndpoint(url, agent=todo_agent, **store_options)
    app = FastAPI(title="agui-state example server")
    app.state.agui = endpoint
    app.add_route("/agent", endpoint, methods=["POST"])

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Run the example server with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="backend URL of the thread stores")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(create_app(args.url), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
