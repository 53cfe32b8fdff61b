"""Failures of the backend under an asynchronous store: retry, report, never drop."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agui_state.backends import create_backend
from agui_state.errors import BackendTimeoutError, StorageError
from agui_state.persistent import PersistentStateStore
from agui_state.persistent.writer import WriteBehindQueue
from agui_state.store import StateStore
from tests.test_persistent_support import FailingBackend, assert_gap_free


def _async(backend: FailingBackend, state_id: str, **kwargs: object) -> PersistentStateStore:
    options: dict[str, object] = {"synchronous": False, "max_retries": 1, "retry_backoff": 0.001}
    options.update(kwargs)
    return PersistentStateStore(backend, state_id, **options)  # type: ignore[arg-type]


def test_retries_then_reports_and_keeps_everything(caplog: pytest.LogCaptureFixture) -> None:
    backend = FailingBackend()
    backend.gate = threading.Event()
    store = _async(backend, "retry")
    reported: list[Exception] = []
    store.set_error_handler(reported.append)
    backend.fail_next = 5  # two full retry cycles fail, the third succeeds
    ids = [store.set("/n", i).id for i in range(20)]
    backend.gate.set()
    store.flush(timeout=30)
    assert [v.id for v in backend.get_versions("retry")] == ids
    assert_gap_free(backend, "retry", 20)
    assert len(reported) == 2
    assert all(isinstance(e, StorageError) for e in reported)
    stats = store.stats()
    assert stats["write_errors"] == 2
    assert "injected failure" in stats["last_error"]
    assert stats["sync_queue_size"] == 0
    assert stats["persisted_version"] == 20
    assert any("kept for retry" in r.getMessage() for r in caplog.records)
    store.close()


def test_flush_without_timeout_raises_the_last_error_and_keeps_versions() -> None:
    backend = FailingBackend()
    store = _async(backend, "down", max_retries=0)
    backend.down = True
    store.set("/a", 1)
    store.set("/a", 2)
    with pytest.raises(StorageError, match="backend down"):
        store.flush()
    assert [v.number for v in store.pending_versions()] == [1, 2]
    assert store.get("/a") == 2  # memory is ahead of storage, nothing lost
    backend.down = False
    store.flush(timeout=30)
    assert backend.get_state("down") == {"a": 2}
    assert_gap_free(backend, "down", 2)
    store.close()


def test_flush_timeout_on_a_slow_backend_is_a_timeout_error() -> None:
    backend = FailingBackend()
    backend.gate = threading.Event()
    store = _async(backend, "slow")
    store.set("/a", 1)
    with pytest.raises(BackendTimeoutError, match="not yet durable"):
        store.flush(timeout=0.05)
    backend.gate.set()
    store.flush(timeout=30)
    store.close()
    assert backend.get_state("slow") == {"a": 1}


def test_close_while_backend_down_raises_and_reports_undelivered() -> None:
    backend = FailingBackend()
    store = _async(backend, "lost?")
    store.set("/a", 1)
    store.flush()
    backend.down = True
    for i in range(3):
        store.set("/b", i)
    with pytest.raises(StorageError, match="3 version"):
        store.close(timeout=0.2)
    pending = store.pending_versions()
    assert [v.number for v in pending] == [2, 3, 4]
    assert store.closed
    store.close()  # idempotent, does not raise again
    # The undelivered versions are intact: they can be saved by hand.
    backend.down = False
    for version in pending:
        backend.save_version("lost?", version)
    assert backend.get_state("lost?") == {"a": 1, "b": 2}


def test_error_handler_that_raises_does_not_kill_the_writer() -> None:
    backend = FailingBackend()
    store = _async(backend, "handler", max_retries=0)

    def broken(exc: Exception) -> None:
        raise RuntimeError("handler bug")

    store.set_error_handler(broken)
    backend.fail_next = 1
    store.set("/a", 1)
    store.flush(timeout=30)
    assert backend.get_state("handler") == {"a": 1}
    assert store.stats()["writer_alive"]
    store.close()


def test_lost_acknowledgement_is_not_written_twice() -> None:
    """A commit that succeeded but reported failure is recognised on retry."""

    class AckLost(FailingBackend):
        lose_next = 1

        def write_batch(self, writes):  # type: ignore[no-untyped-def]
            super().write_batch(writes)
            if self.lose_next:
                self.lose_next -= 1
                raise StorageError("connection reset after commit")

    backend = AckLost()
    store = _async(backend, "ack")
    store.set("/a", 1)
    store.flush(timeout=30)
    store.set("/a", 2)
    store.flush(timeout=30)
    assert_gap_free(backend, "ack", 2)
    sync = PersistentStateStore(backend, "ack2")
    backend.lose_next = 1
    sync.set("/x", 1)  # the backend has it: the write stands
    assert sync.version == 1 and backend.get_state("ack2") == {"x": 1}
    store.close()


def test_writer_logs_through_the_given_logger(caplog: pytest.LogCaptureFixture) -> None:
    backend = FailingBackend()
    logger = logging.getLogger("my.app.persistence")
    queue = WriteBehindQueue(backend, "log", max_retries=0, retry_backoff=0.001, logger=logger)
    version = StateStore("log").set("/a", 1)
    backend.fail_next = 1
    queue.put(version)
    queue.flush(timeout=30)
    queue.close()
    assert backend.get_state("log") == {"a": 1}
    assert any(
        r.name == "my.app.persistence" and r.levelno == logging.ERROR for r in caplog.records
    )


def test_close_wakes_a_writer_blocked_on_a_full_queue() -> None:
    backend = FailingBackend()
    store = _async(backend, "stuck", queue_size=1)
    backend.down = True
    store.set("/a", 1)
    failures: list[Exception] = []

    def blocked() -> None:
        try:
            store.set("/a", 2)
        except StorageError as exc:
            failures.append(exc)

    writer = threading.Thread(target=blocked)
    writer.start()
    with pytest.raises(StorageError, match="1 version"):
        store.close(timeout=0.2)
    writer.join(10)
    assert not writer.is_alive()
    assert failures and "closed" in str(failures[0])
    assert store.get("/a") == 1  # the rejected write changed nothing
    assert [v.number for v in store.pending_versions()] == [1]


def test_forgotten_store_is_drained_when_collected() -> None:
    backend = FailingBackend()
    store = _async(backend, "forgotten")
    for i in range(40):
        store.set("/i", i)
    del store
    gc.collect()
    assert backend.get_state("forgotten") == {"i": 39}
    assert_gap_free(backend, "forgotten", 40)


def test_unclosed_store_is_drained_at_interpreter_exit(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'data'}?fsync=false"
    code = (
        "from agui_state.persistent import PersistentStateStore\n"
        f"s = PersistentStateStore({url!r}, 'exit', synchronous=False)\n"
        "for i in range(200):\n"
        "    s.set('/i', i)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with create_backend(url) as backend:
        assert_gap_free(backend, "exit", 200)


def test_flush_with_timeout_while_down_raises_the_storage_error() -> None:
    backend = FailingBackend()
    store = _async(backend, "down-timeout")
    backend.down = True
    store.set("/a", 1)
    with pytest.raises(StorageError, match="backend down") as info:
        store.flush(timeout=0.2)
    assert not isinstance(info.value, BackendTimeoutError)
    backend.down = False
    store.close()
    assert backend.get_state("down-timeout") == {"a": 1}
