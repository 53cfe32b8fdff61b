"""Generate the recorded AG-UI session the tutorials explore.

    python notebooks/data/make_session.py --seed 7 --out notebooks/data/session.jsonl

It simulates an AG-UI server running a shopping-assistant agent for several
customers (one thread each). Every run of the agent is served the way an
agui-state powered server does it: ``RUN_STARTED``, a ``STATE_SNAPSHOT`` that
brings the client up to date, the run's text messages and one ``STATE_DELTA``
per state change (each change is written to a ``StateStore`` first and turned
into its event by :func:`agui_state.agui.version_to_event`), ``RUN_FINISHED``.
Runs of different threads follow each other in one log, in time order, as a
server would record them.

A well-behaved agent changes ``/cart/items`` and ``/cart/total`` in the same
delta, so the total always equals the sum of ``price * qty``. In exactly one
run (which one depends on the seed) the agent has a bug: it changes the cart
without updating the total, and because the agent keeps the total
incrementally afterwards, the mismatch persists. Finding that run from the
data is the job of ``08_debug_agent_session.ipynb``.

The answer (thread, run) is written to a sidecar file, ``<out>.answer.json``,
for the tests only; the notebooks never read it.

Timestamps come from a simulated clock starting at a fixed instant, and ids
from the seeded generator, so a seed always gives byte-identical output.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from ag_ui.core import TextMessageContentEvent, TextMessageEndEvent, TextMessageStartEvent

from agui_state import StateStore
from agui_state.agui import (
    encode_sse,
    run_finished_event,
    run_started_event,
    snapshot_event,
    to_wire,
    version_to_event,
)

START_MS = 1_781_082_000_000
"""2026-06-10T09:00:00Z: the simulated clock's first tick (epoch ms)."""

CATALOG: list[tuple[str, str, int]] = [
    ("tea-sencha", "Sencha green tea 100 g", 650),
    ("tea-earl", "Earl Grey 250 g", 890),
    ("mug-blue", "Blue stoneware mug", 1450),
    ("kettle-gs", "Gooseneck kettle", 5900),
    ("honey-acacia", "Acacia honey 400 g", 735),
    ("biscuit-oat", "Oat biscuits", 315),
    ("teapot-cast", "Cast iron teapot", 4290),
    ("infuser", "Stainless infuser", 499),
    ("matcha", "Ceremonial matcha 30 g", 2250),
    ("cups-set", "Set of 4 tea cups", 2680),
    ("scale", "Coffee & tea scale", 3199),
    ("gift-card", "Gift card", 2500),
]
"""(sku, name, price in cents) of what the shop sells."""

CUSTOMERS = ["ana", "bruno", "chen", "dara"]

QUERIES = ["green tea", "a gift for my mother", "teapot", "something sweet", "matcha kit"]


def euros(cents: int) -> float:
    """Cents as the two-decimal amount the agent stores."""
    return round(cents / 100, 2)


class Recorder:
    """Collects the wire events of the session on a simulated clock."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.now = START_MS
        self.events: list[dict[str, Any]] = []
        self._messages = 0

    def tick(self, low: int = 150, high: int = 2500) -> int:
        self.now += self.rng.randint(low, high)
        return self.now

    def emit(self, event: Any) -> None:
        wire = to_wire(event)
        # Events built from a store carry its (wall-clock) commit time; a
        # recording must be reproducible, so every event gets the simulated clock.
        wire["timestamp"] = self.tick()
        self.events.append(wire)

    def say(self, text: str) -> None:
        self._messages += 1
        message_id = f"msg-{self._messages:04d}"
        self.emit(TextMessageStartEvent(message_id=message_id, role="assistant"))
        words = text.split(" ")
        cut = max(1, len(words) // 2)
        for part in (" ".join(words[:cut]), " " + " ".join(words[cut:])):
            if part.strip():
                self.emit(TextMessageContentEvent(message_id=message_id, delta=part))
        self.emit(TextMessageEndEvent(message_id=message_id))


class Thread:
    """One customer's conversation: its store, its runs and the agent's logic."""

    def __init__(self, customer: str, rec: Recorder, rng: random.Random) -> None:
        self.customer = customer
        self.thread_id = f"thread-{customer}"
        self.store = StateStore(self.thread_id)
        self.rec = rec
        self.rng = rng
        self.run_id = ""
        self.total_cents = 0  # the agent's own running total (it never re-sums)
        self.store.apply_patch(
            [
                {"op": "add", "path": "/customer", "value": {"name": customer.title()}},
                {"op": "add", "path": "/cart", "value": {"items": [], "total": 0.0}},
                {"op": "add", "path": "/agent", "value": {"status": "idle", "step": 0}},
                {"op": "add", "path": "/search", "value": {"query": None, "results": []}},
            ]
        )

    # -- the wire ---------------------------------------------------------
    def change(self, ops: list[dict[str, Any]]) -> None:
        version = self.store.apply_patch(ops, metadata={"run_id": self.run_id})
        self.rec.emit(version_to_event(version))

    def status(self, status: str) -> None:
        step = self.store.get("/agent/step") + 1
        self.change(
            [
                {"op": "replace", "path": "/agent/status", "value": status},
                {"op": "replace", "path": "/agent/step", "value": step},
            ]
        )

    def run(self, run_id: str, steps: list[str], broken: bool) -> None:
        self.run_id = run_id
        self.rec.emit(run_started_event(self.thread_id, run_id))
        self.rec.emit(snapshot_event(self.store))
        self.status("thinking")
        bug_at = self.rng.randrange(len(steps)) if broken else -1
        for index, step in enumerate(steps):
            getattr(self, f"step_{step}")(index == bug_at)
        self.status("idle")
        self.rec.emit(run_finished_event(self.thread_id, run_id))

    # -- what the agent does ---------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.store.get("/cart/items")
        return items

    def set_total(self, change_cents: int) -> dict[str, Any]:
        self.total_cents += change_cents
        return {"op": "replace", "path": "/cart/total", "value": euros(self.total_cents)}

    def step_search(self, bug: bool) -> None:
        query = self.rng.choice(QUERIES)
        self.status("searching")
        self.change([{"op": "replace", "path": "/search/query", "value": query}])
        picks = self.rng.sample(CATALOG, self.rng.randint(2, 4))
        for sku, name, cents in picks:
            self.change(
                [
                    {
                        "op": "add",
                        "path": "/search/results/-",
                        "value": {"sku": sku, "name": name, "price": euros(cents)},
                    }
                ]
            )
        self.rec.say(f"I found {len(picks)} products for {query!r}.")
        self.step_add(bug)

    def step_add(self, bug: bool) -> None:
        self.status("updating cart")
        results = self.store.get("/search/results") or [
            {"sku": s, "name": n, "price": euros(c)} for s, n, c in self.rng.sample(CATALOG, 3)
        ]
        product = self.rng.choice(results)
        cents = round(product["price"] * 100)
        qty = self.rng.randint(1, 3)
        have = [i for i, item in enumerate(self.items()) if item["sku"] == product["sku"]]
        if have:
            index = have[0]
            ops = [
                {
                    "op": "replace",
                    "path": f"/cart/items/{index}/qty",
                    "value": self.items()[index]["qty"] + qty,
                }
            ]
        else:
            item = {"sku": product["sku"], "name": product["name"], "price": product["price"]}
            ops = [{"op": "add", "path": "/cart/items/-", "value": {**item, "qty": qty}}]
        if not bug:
            ops.append(self.set_total(cents * qty))
        self.change(ops)
        self.change([{"op": "replace", "path": "/search/results", "value": []}])
        self.rec.say(f"Added {qty} x {product['name']} to your cart.")

    def step_quantity(self, bug: bool) -> None:
        if not self.items():
            self.step_add(bug)
            return
        self.status("updating cart")
        index = self.rng.randrange(len(self.items()))
        item = self.items()[index]
        # Always a real change: a no-op would hide the bug it may carry.
        qty = item["qty"] + self.rng.choice([1, 2] if item["qty"] == 1 else [-1, 1, 2])
        ops: list[dict[str, Any]] = [
            {"op": "replace", "path": f"/cart/items/{index}/qty", "value": qty}
        ]
        if not bug:
            ops.append(self.set_total(round(item["price"] * 100) * (qty - item["qty"])))
        self.change(ops)
        self.rec.say(f"You now have {qty} x {item['name']}.")

    def step_remove(self, bug: bool) -> None:
        if len(self.items()) < 2:
            self.step_add(bug)
            return
        self.status("updating cart")
        index = self.rng.randrange(len(self.items()))
        item = self.items()[index]
        ops: list[dict[str, Any]] = [{"op": "remove", "path": f"/cart/items/{index}"}]
        if not bug:
            ops.append(self.set_total(-round(item["price"] * 100) * item["qty"]))
        self.change(ops)
        self.rec.say(f"Removed {item['name']}.")

    def step_shipping(self, bug: bool) -> None:
        self.status("checking delivery")
        method = self.rng.choice(["standard", "express", "pickup"])
        days = {"standard": 3, "express": 1, "pickup": 0}[method]
        path = "/shipping"
        op = "replace" if self.store.get_state().get("shipping") is not None else "add"
        self.change([{"op": op, "path": path, "value": {"method": method, "days": days}}])
        self.rec.say(f"Delivery: {method}.")
        if bug:
            self.step_quantity(True)


STEPS = ["search", "add", "quantity", "remove", "shipping"]


def generate(seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Simulate the session; return its wire events and the answer (the broken run)."""
    rng = random.Random(seed)
    rec = Recorder(rng)
    threads = [Thread(name, rec, rng) for name in CUSTOMERS]
    plans: dict[str, list[list[str]]] = {}
    for thread in threads:
        runs = rng.randint(4, 6)
        plan = [["search", "search"]]  # every conversation starts by finding things
        for _ in range(runs - 1):
            plan.append([rng.choice(STEPS) for _ in range(rng.randint(2, 4))])
        plans[thread.thread_id] = plan
    # The broken run: never a thread's first run (there is a good state before
    # it to go back to) nor its last (later runs build on the wrong total).
    victim = rng.choice(threads)
    broken_index = rng.randrange(1, len(plans[victim.thread_id]) - 1)
    next_run = {t.thread_id: 0 for t in threads}
    answer: dict[str, Any] = {"seed": seed, "thread_id": victim.thread_id}
    while True:
        waiting = [t for t in threads if next_run[t.thread_id] < len(plans[t.thread_id])]
        if not waiting:
            break
        thread = rng.choice(waiting)
        index = next_run[thread.thread_id]
        next_run[thread.thread_id] += 1
        run_id = f"run-{rng.getrandbits(32):08x}"
        broken = thread is victim and index == broken_index
        if broken:
            answer["run_id"] = run_id
            answer["run_index"] = index
        rec.now += rng.randint(30_000, 600_000)  # customers take their time
        thread.run(run_id, plans[thread.thread_id][index], broken)
    return rec.events, answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("session.jsonl"),
        help="output file (.jsonl: one wire event per line; .sse: Server-Sent Events frames)",
    )
    args = parser.parse_args(argv)
    events, answer = generate(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".sse":
        text = "".join(encode_sse(events))
    else:
        text = "".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n" for e in events)
    args.out.write_text(text, encoding="utf-8")
    sidecar = args.out.with_name(args.out.stem + ".answer.json")
    sidecar.write_text(json.dumps(answer, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    deltas = sum(e["type"] == "STATE_DELTA" for e in events)
    runs = sum(e["type"] == "RUN_STARTED" for e in events)
    print(f"wrote {args.out}: {len(events)} events, {runs} runs, {deltas} state deltas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
