"""Several processes hammering one state: the shared worker and its checks.

The parent side (:func:`hammer`) starts one worker process per tag, waits until
each has opened its backend (``ready``), releases them together so that they
race, and returns the versions each one acknowledged. :func:`assert_hammered`
then checks the history: gap-free, no version acknowledged twice, every
acknowledged version stored as acknowledged and its delta applied exactly once.

Worker usage: ``python -m agui_state.testing.hammer SPEC_JSON`` (see :func:`worker`).
A worker opens its backend from a URL, so the backend must be found from its
URL in a fresh process: a built-in one, or one registered by entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from agui_state.backends import StorageBackend, create_backend
from agui_state.config import StorageConfig
from agui_state.errors import ConflictError, StorageError
from agui_state.models import StateVersion
from agui_state.testing.helpers import make_version, numbers

# --------------------------------------------------------------- parent side


def run_together(
    commands: Sequence[Sequence[str]],
    *,
    on_ready: Callable[[], None] | None = None,
    timeout: float = 120,
) -> list[tuple[int, str, str]]:
    """Start ``commands``, wait for each to print ``ready``, release all at once.

    Each process must print ``ready`` and then block on one line of stdin, so
    that the racing part starts at the same moment in every process.

    Args:
        commands: One argv (without the interpreter) per process.
        on_ready: Called once every process is ready, before they are released.
        timeout: Seconds each process gets to finish.

    Returns:
        ``(returncode, stdout after "ready", stderr)`` per process.
    """
    # The workers import what this process imports (the package under test
    # may come from a source tree rather than an installation).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, *argv],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in commands
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "ready", (
                f"worker failed to start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        if on_ready is not None:
            on_ready()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [(proc.returncode, out, err) for proc, (out, err) in zip(procs, outputs, strict=True)]


def hammer(
    open_spec: dict[str, Any],
    sid: str,
    count: int,
    tags: Sequence[str],
    *,
    mode: str = "append",
    retry_storage_errors: bool = False,
    max_attempts: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> list[list[StateVersion]]:
    """Run one worker per tag against ``sid``; return what each acknowledged.

    Args:
        open_spec: How a worker opens its backend: ``{"url": URL}`` with an
            optional ``"overrides"`` dict for ``StorageConfig.from_url``.
        sid: The state every worker writes to (it must exist).
        count: Versions each worker must get acknowledged.
        tags: One worker per tag; the tag goes into its values and metadata.
        mode: ``"append"`` adds ``"TAG-i"`` to ``/log``; ``"increment"`` reads
            ``/count`` and replaces it with count + 1 (a read-modify-write).
        retry_storage_errors: Also retry after a StorageError (connections
            being killed); such a write may or may not have been applied.
        max_attempts: Bound on a worker's save attempts (default 10,000 per
            version), so a wedged backend fails the test instead of hanging it.
        on_ready: Called once every worker has opened its backend.

    Returns:
        The acknowledged versions, one list per tag, in acknowledgement order.
    """
    spec = {
        "open": open_spec,
        "sid": sid,
        "count": count,
        "mode": mode,
        "retry_storage_errors": retry_storage_errors,
        "max_attempts": max_attempts or 10_000 * count,
    }
    module = "agui_state.testing.hammer"
    commands = [["-m", module, json.dumps({**spec, "tag": tag})] for tag in tags]
    acked: list[list[StateVersion]] = []
    for tag, (code, out, err) in zip(tags, run_together(commands, on_ready=on_ready), strict=True):
        assert code == 0, err
        lines = out.splitlines()
        assert lines and lines[-1].startswith("done "), f"worker {tag}: {out!r} {err}"
        mine = [StateVersion.from_dict(json.loads(line)) for line in lines[:-1]]
        assert len(mine) == count, f"worker {tag} acknowledged {len(mine)} of {count}: {err}"
        acked.append(mine)
    return acked


def assert_hammered(
    backend: StorageBackend,
    sid: str,
    acked: Sequence[Sequence[StateVersion]],
    tags: Sequence[str],
    *,
    mode: str = "append",
    unknown_outcomes: bool = False,
) -> None:
    """Gap-free history, no lost update, every acknowledged delta applied once.

    Args:
        backend: A backend on the hammered store.
        sid: The hammered state (it started as ``{"log": []}`` or ``{"count": 0}``).
        acked: What :func:`hammer` returned.
        tags: The workers' tags, in the same order.
        mode: The workers' mode.
        unknown_outcomes: Workers retried after StorageErrors, so versions
            nobody had acknowledged may be stored too; without it the history
            must hold exactly the acknowledged versions.
    """
    by_ack: dict[int, StateVersion] = {}
    for mine in acked:
        for version in mine:
            assert version.number not in by_ack, (
                f"version {version.number} acknowledged to two writers"
            )
            by_ack[version.number] = version
    head = backend.head_version(sid)
    stored = backend.get_versions(sid)
    assert numbers(stored) == list(range(1, head + 1))
    assert len({v.id for v in stored}) == len(stored)
    by_number = {v.number: v for v in stored}
    for number, version in by_ack.items():
        assert by_number[number] == version, f"acknowledged version {number} lost or altered"
    if not unknown_outcomes:
        assert head == len(by_ack)
        by = [v.metadata.get("by") for v in stored]
        for tag, mine in zip(tags, acked, strict=True):
            assert by.count(tag) == len(mine)
    state = backend.get_state(sid)
    if mode == "increment":
        assert state == {"count": head}  # every stored increment applied, none lost
        return
    log = state["log"]
    assert len(log) == len(set(log)) == head  # no delta applied twice, none dropped
    for version in by_ack.values():
        assert version.delta[0]["value"] in log
    if not unknown_outcomes:  # each worker's values landed in its own order
        for tag, mine in zip(tags, acked, strict=True):
            assert [x for x in log if x.startswith(f"{tag}-")] == [
                f"{tag}-{i}" for i in range(len(mine))
            ]


# --------------------------------------------------------------- worker side


def _open(spec: dict[str, Any]) -> StorageBackend:
    overrides = spec.get("overrides") or {}
    if not overrides:
        return create_backend(spec["url"])
    return create_backend(StorageConfig.from_url(spec["url"], **overrides))


def worker(spec: dict[str, Any]) -> int:
    """Open the backend, print ``ready``, wait for a line on stdin, then write.

    Prints each acknowledged version as one JSON line, then ``done CONFLICTS``.
    A value is reused after a ConflictError (nothing was written) but not after
    a StorageError (it may have been), so every stored value stays unique.
    """
    sid, count, tag = spec["sid"], spec["count"], spec["tag"]
    retryable: tuple[type[Exception], ...] = (
        (ConflictError, StorageError) if spec["retry_storage_errors"] else (ConflictError,)
    )
    backend = _open(spec["open"])
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        done = conflicts = unknown = attempts = 0
        while done < count:
            attempts += 1
            if attempts > spec["max_attempts"]:
                print(f"{tag}: gave up after {attempts - 1} attempts", file=sys.stderr)
                return 1
            try:
                head = backend.head_version(sid)
                if spec["mode"] == "increment":
                    value = backend.get_state(sid)["count"]
                    delta = [{"op": "replace", "path": "/count", "value": value + 1}]
                else:
                    value = f"{tag}-{done}" + (f"~{unknown}" if unknown else "")
                    delta = [{"op": "add", "path": "/log/-", "value": value}]
                version = make_version(sid, head + 1, delta, metadata={"by": tag})
                backend.save_version(sid, version)
            except retryable as exc:
                if isinstance(exc, ConflictError):
                    conflicts += 1
                else:
                    unknown += 1
                continue
            print(json.dumps(version.to_dict()), flush=True)
            done += 1
            unknown = 0
        print(f"done {conflicts}", flush=True)
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(worker(json.loads(sys.argv[1])))
