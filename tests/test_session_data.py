"""The recorded AG-UI session of the tutorials (notebooks/data/session.jsonl).

It is produced by ``notebooks/data/make_session.py``; these tests check that the
committed file is what the generator makes for its seed, that it is a valid
AG-UI stream for the independent validator, that it has the shape the
tutorials promise (threads, runs, deltas, snapshots), and that the one broken
run the generator reports is really where the cart total stops matching.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agui_state import StateStore
from agui_state.agui import EventApplier, run_id_of
from tests.agui._helpers import STATE_RULES, validator_cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "notebooks" / "data"
GENERATOR = DATA / "make_session.py"
SESSION = DATA / "session.jsonl"
COMMITTED_SEED = 7


def generate(seed: int, out: Path) -> dict[str, Any]:
    """Run the generator script as a user would; return its sidecar answer."""
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--seed", str(seed), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(out.with_name(out.stem + ".answer.json").read_text())
    return answer


def load(path: Path) -> dict[str, StateStore]:
    """Apply a multi-thread recording to one store per thread (routed by RUN_STARTED)."""
    appliers: dict[str, EventApplier] = {}
    current: EventApplier | None = None
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "RUN_STARTED":
            thread = event["threadId"]
            current = appliers.setdefault(thread, EventApplier(StateStore(thread)))
        assert current is not None, "an event before the first RUN_STARTED"
        current.apply(event)
    return {thread: applier.store for thread, applier in appliers.items()}


def first_mismatch(store: StateStore) -> tuple[int, str | None] | None:
    """The first version whose cart total differs from the sum of its items."""
    for number in range(1, store.version + 1):
        cart = store.state_at(number).get("cart")
        if cart is None:
            continue
        items_sum = sum(item["price"] * item["qty"] for item in cart["items"])
        if abs(items_sum - cart["total"]) > 0.005:
            return number, run_id_of(store.get_version(number))
    return None


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("session") / "session.jsonl"
    return out, generate(COMMITTED_SEED, out)


def test_committed_session_is_what_the_generator_makes(
    regenerated: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = regenerated
    assert out.read_bytes() == SESSION.read_bytes(), (
        "notebooks/data/session.jsonl is stale: "
        f"python notebooks/data/make_session.py --seed {COMMITTED_SEED}"
    )


def test_generator_is_deterministic_per_seed(tmp_path: Path) -> None:
    first = generate(11, tmp_path / "a.jsonl")
    second = generate(11, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first == second
    other = generate(12, tmp_path / "c.jsonl")
    assert (tmp_path / "c.jsonl").read_bytes() != (tmp_path / "a.jsonl").read_bytes()
    assert other["run_id"] != first["run_id"]


def test_session_passes_the_validator() -> None:
    report = validator_cli(SESSION)
    assert report["eventCount"] == len(SESSION.read_text().splitlines())
    assert report["summary"]["errors"] == 0 and report["summary"]["warnings"] == 0
    # No state finding at all: every delta was checked against a known base.
    assert not [d for d in report["diagnostics"] if d["rule"] in STATE_RULES]
    assert report["internalErrors"] == []


def test_generator_writes_server_sent_events_too(tmp_path: Path) -> None:
    """``--out x.sse`` frames the same events with the SDK's encoder, as served over HTTP."""
    out = tmp_path / "session.sse"
    generate(COMMITTED_SEED, out)
    text = out.read_text()
    assert text.startswith("data: {") and text.endswith("\n\n")
    report = validator_cli(out)
    assert report["eventCount"] == len(SESSION.read_text().splitlines())
    assert report["summary"]["errors"] == 0 and report["summary"]["warnings"] == 0


def test_session_has_the_promised_shape() -> None:
    events = [json.loads(line) for line in SESSION.read_text().splitlines()]
    types = Counter(e["type"] for e in events)
    threads = {e["threadId"] for e in events if e["type"] == "RUN_STARTED"}
    runs = [(e["threadId"], e["runId"]) for e in events if e["type"] == "RUN_STARTED"]
    assert 3 <= len(threads) <= 4
    assert len(set(runs)) == len(runs) == types["RUN_FINISHED"]
    per_thread = Counter(thread for thread, _ in runs)
    assert min(per_thread.values()) >= 3
    assert 200 <= types["STATE_DELTA"] <= 600
    assert types["STATE_SNAPSHOT"] == len(runs)
    assert types["TEXT_MESSAGE_START"] > 0
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


@pytest.mark.parametrize("seed", [COMMITTED_SEED, 3])
def test_the_reported_run_is_where_the_total_breaks(seed: int, tmp_path: Path) -> None:
    out = tmp_path / "session.jsonl"
    answer = generate(seed, out)
    stores = load(out)
    broken = {thread: first_mismatch(store) for thread, store in stores.items()}
    assert {t for t, hit in broken.items() if hit is not None} == {answer["thread_id"]}
    hit = broken[answer["thread_id"]]
    assert hit is not None and hit[1] == answer["run_id"]
    # Later versions of that thread never come back into line by accident.
    store = stores[answer["thread_id"]]
    cart = store.get_state()["cart"]
    assert abs(sum(i["price"] * i["qty"] for i in cart["items"]) - cart["total"]) > 0.005
