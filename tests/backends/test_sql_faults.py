"""SQL backend under faults: killed connections, lost COMMIT acknowledgements,
concurrent processes, unreachable databases, timeouts.

The invariant checked throughout: every acknowledged write is stored exactly
once, history stays gap-free, and the backend keeps working afterwards.
Faults are injected deterministically where the outcome matters (a kill
inside a transaction or at PostgreSQL's single-statement update, a COMMIT or
a statement whose acknowledgement is lost) and randomly on
top (a killer thread terminating the backend's connections during a stream).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from agui_state.backends.sql import SQLBackend
from agui_state.backends.sql import engine as engine_mod
from agui_state.backends.sql import writes as writes_mod
from agui_state.backends.sql.hot import HotWriter
from agui_state.config import StorageConfig
from agui_state.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ConflictError,
    CorruptDataError,
)
from agui_state.models import StateVersion
from agui_state.testing.hammer import assert_hammered, hammer
from agui_state.testing.helpers import append_with_retry, make_version, numbers

MakeBackend = Callable[..., SQLBackend]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dialect(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def base_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def storage(dialect: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Config overrides isolating this test: a private prefix (and the session schema)."""
    out: dict[str, Any] = {"table_prefix": f"f{uuid.uuid4().hex[:10]}_"}
    if dialect == "postgresql":
        out["schema"] = request.getfixturevalue("postgres_schema")
    return out


@pytest.fixture
def make_backend(base_url: str, storage: dict[str, Any]) -> Iterator[MakeBackend]:
    opened: list[SQLBackend] = []

    def make(url: str | None = None, **overrides: Any) -> SQLBackend:
        config = StorageConfig.from_url(url or base_url, **{**storage, **overrides})
        backend = SQLBackend(config)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def assert_history(backend: SQLBackend, sid: str, acked: list[StateVersion]) -> None:
    """Gap-free history, unique ids, and every acknowledged version stored as acknowledged."""
    head = backend.head_version(sid)
    stored = backend.get_versions(sid)
    assert numbers(stored) == list(range(1, head + 1))
    assert len({v.id for v in stored}) == len(stored)
    by_number = {v.number: v for v in stored}
    for version in acked:
        assert by_number[version.number] == version


def write_stream(backend: SQLBackend, sid: str, count: int) -> tuple[list[StateVersion], int]:
    """One writer appending ``count`` versions; returns (acknowledged, unknown outcomes).

    A single writer never loses a race, so a ConflictError here would mean a
    retried write was applied twice or its lost acknowledgement misread.
    """
    acked: list[StateVersion] = []
    unknown = 0
    for _ in range(count * 20):  # bounded: a wedged backend fails the test, not hangs it
        if len(acked) == count:
            break
        try:
            head = backend.head_version(sid) if backend.exists(sid) else 0
        except BackendUnavailableError:
            continue
        version = make_version(
            sid, head + 1, [{"op": "add", "path": f"/k{head + 1}", "value": head + 1}]
        )
        try:
            backend.save_version(sid, version)
        except BackendUnavailableError:
            unknown += 1  # retries exhausted: stored or not, never twice
            continue
        acked.append(version)
    assert len(acked) == count, f"only {len(acked)} of {count} writes went through"
    return acked, unknown


# ------------------------------------------------------ killed connections
class Killer:
    """Terminates PostgreSQL backends from a separate connection."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(psycopg_url(url), autocommit=True)
        self.kills = 0

    def kill_pid(self, pid: int) -> None:
        # The timeout makes the call wait until the backend has exited.
        row = self.conn.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()
        self.kills += bool(row and row[0])

    def kill_app(self, app: str) -> int:
        rows = self.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [app],
        ).fetchall()
        killed = sum(1 for r in rows if r[0])
        self.kills += killed
        return killed

    def close(self) -> None:
        self.conn.close()


def _pid(conn: Any) -> int:
    pid: int = conn.connection.dbapi_connection.info.backend_pid
    return pid


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("where", ["at-statement", "mid-transaction", "at-commit"])
def test_connection_killed_inside_a_write_is_retried(
    make_backend: MakeBackend, base_url: str, where: str
) -> None:
    # at-statement: an update is one autocommitted statement (WITH ... UPDATE
    # ... INSERT), killed before it runs. mid-transaction / at-commit: a write
    # timeout other than the read timeout keeps updates in a transaction
    # (BEGIN, set_config, UPDATE, INSERT, COMMIT), killed inside it.
    if where == "at-statement":
        backend = make_backend(max_retries=3)
    else:
        backend = make_backend(max_retries=3, write_timeout=4.0)
    backend.save_version("doc", make_version("doc", 1))
    killer = Killer(base_url)
    calls = {"n": 0}
    statements: list[str] = []

    def before_insert(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "INSERT INTO" in statement and "versions" in statement:
            statements.append(statement)
            calls["n"] += 1
            if calls["n"] % 2 == 1:  # every other write: first attempt dies, retry passes
                killer.kill_pid(_pid(conn))

    def before_commit(conn: Any) -> None:
        calls["n"] += 1
        if calls["n"] % 2 == 1:
            killer.kill_pid(_pid(conn))

    if where == "at-commit":
        event.listen(backend._engine, "commit", before_commit)
    else:
        event.listen(backend._engine, "before_cursor_execute", before_insert)
    try:
        acked, unknown = write_stream(backend, "doc", 10)
    finally:
        killer.close()
    if where != "at-commit":  # the path the writes took
        single = [s.startswith("WITH") for s in statements]
        assert single and all(single) is (where == "at-statement"), statements
        assert any(single) is (where == "at-statement"), statements
    assert killer.kills >= 5
    assert unknown == 0
    assert_history(backend, "doc", acked)
    assert backend.head_version("doc") == 11


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.slow
def test_connections_killed_during_a_stream_of_writes(
    make_backend: MakeBackend, base_url: str
) -> None:
    app = f"agui-kill-{uuid.uuid4().hex[:8]}"
    backend = make_backend(f"{base_url}?application_name={app}", max_retries=6, max_connections=3)
    backend.setup()
    killer = Killer(base_url)
    done = threading.Event()

    def kill_loop() -> None:
        while not done.is_set():
            killer.kill_app(app)
            # Often enough to hit statements and commits, rarely enough that
            # writes (connect + transaction, a few ms) get through in between.
            done.wait(random.uniform(0.005, 0.04))

    thread = threading.Thread(target=kill_loop, daemon=True)
    thread.start()
    try:
        acked, _unknown = write_stream(backend, "doc", 150)
    finally:
        done.set()
        thread.join()
        killer.close()
    assert killer.kills > 0
    assert_history(backend, "doc", acked)
    # Not wedged: the pool recovers and a normal write and read work.
    head = backend.head_version("doc")
    backend.save_version("doc", make_version("doc", head + 1))
    assert backend.get_state("doc")[f"k{head}"] == head


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_idle_connections_killed_are_replaced_silently(
    make_backend: MakeBackend, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = f"agui-idle-{uuid.uuid4().hex[:8]}"
    backend = make_backend(f"{base_url}?application_name={app}")
    backend.save_version("doc", make_version("doc", 1))
    killer = Killer(base_url)
    try:
        assert killer.kill_app(app) >= 1
    finally:
        killer.close()
    with caplog.at_level(logging.WARNING, logger="agui_state.backends.sql"):
        assert backend.head_version("doc") == 1  # pool_pre_ping replaced the dead connection
        backend.save_version("doc", make_version("doc", 2))
    assert not [r for r in caplog.records if "retry" in r.getMessage()]


def _kill_app_and_wait(url: str, app: str) -> int:
    """Terminate the app's server processes and wait until they are gone."""
    killer = Killer(url)
    try:
        rows = killer.conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE application_name = %s",
            [app],
        ).fetchall()
    finally:
        killer.close()
    return sum(1 for r in rows if r[0])


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("idle_for", ["briefly", "long"])
def test_idle_connection_killed_before_its_checkout_check_notices(
    make_backend: MakeBackend,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    idle_for: str,
) -> None:
    # The server's termination notice has not reached the socket yet when the
    # connection is checked out. Idle briefly: it is trusted, its first
    # statement fails, and the backend replaces it and goes again quietly.
    # Idle long (past PING_IDLE_AFTER): checkout pings it and the pool replaces it.
    monkeypatch.setattr(engine_mod, "_socket_readable", lambda _conn: False)
    if idle_for == "long":
        monkeypatch.setattr(engine_mod, "PING_IDLE_AFTER", 0.0)
    app = f"agui-late-{uuid.uuid4().hex[:8]}"
    backend = make_backend(f"{base_url}?application_name={app}", max_retries=0)
    backend.save_version("doc", make_version("doc", 1))
    assert _kill_app_and_wait(base_url, app) >= 1
    with caplog.at_level(logging.DEBUG, logger="agui_state.backends.sql"):
        assert backend.head_version("doc") == 1  # max_retries=0: not an ordinary retry
        assert _kill_app_and_wait(base_url, app) >= 1
        backend.save_version("doc", make_version("doc", 2))  # the write path, too
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    quiet = [r for r in caplog.records if "found dead" in r.getMessage()]
    assert len(quiet) == (2 if idle_for == "briefly" else 0)
    assert backend.head_version("doc") == 2


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("path", ["transaction", "statement"])
def test_connection_killed_inside_a_driver_write_is_retried(
    make_backend: MakeBackend,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    # No listener: version writes run on the driver cursor.
    # transaction: a different write timeout keeps updates in a transaction
    # that starts with a statement (set_config), so the connection has
    # answered before it is killed: an ordinary retry.
    # statement: an update is one autocommitted statement, the first on its
    # pooled connection: the dead connection is replaced and the write goes
    # again (quietly, or as an ordinary retry if it had answered before).
    if path == "transaction":
        backend = make_backend(max_retries=2, write_timeout=4.0)
        target: Any = writes_mod.BatchWriter
        name = "_apply_run"
    else:
        backend = make_backend(max_retries=2)
        target, name = HotWriter, "apply"
    backend.save_version("doc", make_version("doc", 1))
    killer = Killer(base_url)
    original = getattr(target, name)
    calls = {"n": 0}

    def kill_then_apply(self: Any, ex: Any, run: Any, now: Any) -> Any:
        calls["n"] += 1
        if calls["n"] % 2 == 1:  # every other attempt dies before moving the head
            killer.kill_pid(ex._fairy.dbapi_connection.info.backend_pid)
        return original(self, ex, run, now)

    monkeypatch.setattr(target, name, kill_then_apply)
    try:
        with caplog.at_level(logging.DEBUG, logger="agui_state.backends.sql"):
            acked, unknown = write_stream(backend, "doc", 5)
    finally:
        killer.close()
    assert killer.kills == 5
    assert calls["n"] == 10  # each write: the killed attempt and one retry
    assert unknown == 0
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    quiet = [r for r in caplog.records if "found dead" in r.getMessage()]
    if path == "transaction":
        assert len(retries) == 5 and not quiet
    else:
        assert len(retries) + len(quiet) == 5
    assert_history(backend, "doc", acked)
    assert backend.head_version("doc") == 6


# ------------------------------------------------- lost acknowledgements
def _fail_commits(backend: SQLBackend, dialect: str, when: str, times: int) -> dict[str, int]:
    """Make the next ``times`` COMMITs raise a disconnect error, before or after committing."""
    engine_dialect = backend._engine.dialect
    original = engine_dialect.do_commit
    state = {"left": times, "committed": 0}

    def error() -> Exception:
        if dialect == "postgresql":
            import psycopg

            return psycopg.OperationalError("server closed the connection unexpectedly")
        return sqlite3.OperationalError("disk I/O error")

    def do_commit(dbapi_connection: Any) -> None:
        if state["left"] <= 0:
            original(dbapi_connection)
            return
        state["left"] -= 1
        if when == "after":
            original(dbapi_connection)
            state["committed"] += 1
        raise error()

    engine_dialect.do_commit = do_commit  # type: ignore[method-assign]
    return state


def _fail_statements(
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    times: int,
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Make the next ``times`` single-statement updates (PostgreSQL) lose their reply.

    The driver raises a disconnect error, before sending the statement
    ("before": it did not take effect) or after it ran and committed
    ("after": the reply was lost). ``meanwhile`` runs after the failure, as
    another writer would before the retry.
    """
    import psycopg

    original = psycopg.Cursor.execute
    state = {"left": times, "committed": 0}

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if state["left"] <= 0 or not str(query).startswith("WITH moved AS (UPDATE "):
            return original(self, query, *args, **kwargs)
        state["left"] -= 1
        if when == "after":
            original(self, query, *args, **kwargs)
            assert self.rowcount > 0  # it took effect: only the reply is lost
            state["committed"] += 1
        if meanwhile is not None:
            meanwhile()
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return state


def _fail_next_commit_then(
    backend: SQLBackend, dialect: str, meanwhile: Callable[[], None]
) -> dict[str, int]:
    """Make the next COMMIT fail before committing, then run ``meanwhile`` (another writer).

    The failed transaction is rolled back first, releasing SQLite's write
    lock, so ``meanwhile`` can write before the backend retries.
    """
    original = backend._engine.dialect.do_commit
    state = _fail_commits(backend, dialect, "before", times=1)
    failing = backend._engine.dialect.do_commit

    def commit_fails_then(dbapi_connection: Any) -> None:
        backend._engine.dialect.do_commit = original  # type: ignore[method-assign]
        try:
            failing(dbapi_connection)
        finally:
            dbapi_connection.rollback()
            meanwhile()

    backend._engine.dialect.do_commit = commit_fails_then  # type: ignore[method-assign]
    return state


@pytest.mark.parametrize("when", ["before", "after"])
def test_lost_commit_acknowledgement_is_not_a_duplicate_or_conflict(
    make_backend: MakeBackend, dialect: str, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make_backend(max_retries=2)
    backend.save_version("a", make_version("a", 1))
    # An update: on PostgreSQL one autocommitted statement (its reply is the
    # acknowledgement), on SQLite a transaction (the COMMIT's reply).
    if dialect == "postgresql":
        state = _fail_statements(monkeypatch, when, times=1)
    else:
        state = _fail_commits(backend, dialect, when, times=1)
    v2 = make_version("a", 2, [{"op": "add", "path": "/x", "value": 2}])
    backend.save_version("a", v2)  # acknowledged despite the lost reply
    assert state["left"] == 0
    assert state["committed"] == (1 if when == "after" else 0)
    assert_history(backend, "a", [v2])
    assert backend.head_version("a") == 2
    if dialect == "postgresql":  # and a run of several versions, written in one statement
        state = _fail_statements(monkeypatch, when, times=1)
        run = [make_version("a", n, [{"op": "add", "path": f"/r{n}", "value": n}]) for n in (3, 4)]
        with backend.begin_transaction() as tx:
            for version in run:
                tx.save_version("a", version)
        assert state["left"] == 0
        assert state["committed"] == (1 if when == "after" else 0)
        assert_history(backend, "a", [v2, *run])
        assert backend.head_version("a") == 4
        v2 = run[-1]  # the latest acknowledged version below

    # A batch over two states: all or none, never half, never twice.
    state = _fail_commits(backend, dialect, when, times=1)
    va, vb = make_version("a", v2.number + 1), make_version("b", 1)
    with backend.begin_transaction() as tx:
        tx.save_version("a", va)
        tx.save_version("b", vb)
    assert state["left"] == 0
    assert_history(backend, "a", [v2, va])
    assert_history(backend, "b", [vb])

    # delete_state whose acknowledgement is lost still reports success.
    _fail_commits(backend, dialect, when, times=1)
    backend.delete_state("b")
    assert not backend.exists("b")


def test_conflict_after_retry_is_still_a_conflict(
    make_backend: MakeBackend, dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write failed before taking effect (the COMMIT on SQLite; the
    # single statement on PostgreSQL), and meanwhile someone else took the
    # version number: the retry must report the lost race.
    backend = make_backend(max_retries=1)
    other = make_backend()
    backend.save_version("a", make_version("a", 1))
    rival = make_version("a", 2)
    if dialect == "postgresql":
        state = _fail_statements(
            monkeypatch, "before", times=1, meanwhile=lambda: other.save_version("a", rival)
        )
        with pytest.raises(ConflictError):
            backend.save_version("a", make_version("a", 2))
        assert state["left"] == 0
        assert_history(backend, "a", [rival])
        return
    _fail_next_commit_then(backend, dialect, lambda: other.save_version("a", rival))
    with pytest.raises(ConflictError):
        backend.save_version("a", make_version("a", 2))
    assert_history(backend, "a", [rival])


def test_retried_longer_batch_is_not_acknowledged_by_its_stored_prefix(
    make_backend: MakeBackend, dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an asynchronous store's writer does after a lost acknowledgement:
    # versions 2..3 were committed but the writer never heard so, and it
    # retries them with the versions queued since, as one batch 2..5. That
    # batch's first attempt fails before taking effect; its retry finds the
    # head moved and version 2 stored with our id. Only 2..3 are stored, so
    # the batch must be reported as a conflict (the writer then settles the
    # stored prefix and writes the rest), never acknowledged whole.
    backend = make_backend(max_retries=1)
    backend.save_version("a", make_version("a", 1))
    batch = [
        make_version("a", n, [{"op": "add", "path": f"/v{n}", "value": n}]) for n in range(2, 6)
    ]
    other = make_backend()  # the earlier attempt, on another connection

    def earlier_attempt_lands() -> None:
        with other.begin_transaction() as tx:
            for version in batch[:2]:
                tx.save_version("a", version)

    if dialect == "postgresql":
        state = _fail_statements(monkeypatch, "before", 1, meanwhile=earlier_attempt_lands)
    else:
        state = _fail_next_commit_then(backend, dialect, earlier_attempt_lands)
    with pytest.raises(ConflictError), backend.begin_transaction() as tx:
        for version in batch:
            tx.save_version("a", version)
    assert state["left"] == 0
    assert backend.head_version("a") == 3
    assert_history(backend, "a", batch[:2])
    # The rest goes in on top of the stored prefix, as the writer then does.
    with backend.begin_transaction() as tx:
        for version in batch[2:]:
            tx.save_version("a", version)
    assert_history(backend, "a", batch)


# ------------------------------------------------------------ processes
@pytest.mark.slow
def test_two_processes_hammer_one_state(
    make_backend: MakeBackend, base_url: str, storage: dict[str, Any]
) -> None:
    per_process = 40
    tags = ["p0", "p1"]
    backend = make_backend()
    backend.set_state("hot", {"log": []})
    acked = hammer({"url": base_url, "overrides": storage}, "hot", per_process, tags)
    assert backend.head_version("hot") == 2 * per_process
    assert_hammered(backend, "hot", acked, tags)


# ------------------------------------------------------------ threads
@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize("where", ["file", "memory"])
def test_sqlite_threads_share_one_database(make_backend: MakeBackend, where: str) -> None:
    backend = make_backend("sqlite://") if where == "memory" else make_backend()
    backend.set_state("doc", {"log": []})
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(20):
                append_with_retry(backend, "doc", f"t{t}-{i}")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert backend.head_version("doc") == 80
    assert numbers(backend.get_versions("doc")) == list(range(1, 81))
    assert sorted(backend.get_state("doc")["log"]) == sorted(
        f"t{t}-{i}" for t in range(4) for i in range(20)
    )


# ------------------------------------------------- unreachable / timeouts
@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_unreachable_server_is_unavailable_with_redacted_url(
    make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-secret"
    backend = make_backend(
        f"postgresql://postgres:{secret}@127.0.0.1:1/test", max_retries=2, connect_timeout=2
    )
    with (
        caplog.at_level(logging.WARNING, logger="agui_state.backends.sql"),
        pytest.raises(BackendUnavailableError) as exc,
    ):
        backend.ping()
    message = str(exc.value)
    assert secret not in message
    assert "postgres:***@127.0.0.1:1/test" in message
    assert "ping" in message
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert all(secret not in r for r in retries)
    with pytest.raises(BackendUnavailableError):
        backend.save_version("doc", make_version("doc", 1))


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_wrong_database_name_fails_fast(
    make_backend: MakeBackend, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres_url.replace("://postgres@", "://postgres:pw-xyz@").rsplit("/", 1)[0]
    backend = make_backend(f"{url}/agui_no_such_database_{uuid.uuid4().hex[:6]}", max_retries=3)
    with (
        caplog.at_level(logging.WARNING, logger="agui_state.backends.sql"),
        pytest.raises(BackendUnavailableError, match="does not exist") as exc,
    ):
        backend.exists("doc")
    assert "pw-xyz" not in str(exc.value)
    assert not [r for r in caplog.records if "retry" in r.getMessage()]  # not transient


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_sqlite_file_that_cannot_be_opened(make_backend: MakeBackend) -> None:
    backend = make_backend("sqlite:////proc/agui-state-nowhere/state.db", max_retries=0)
    with pytest.raises(BackendUnavailableError, match="unable to open"):
        backend.set_state("doc", {})


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_statement_timeout_is_a_timeout_error(make_backend: MakeBackend) -> None:
    backend = make_backend(write_timeout=0.3)
    backend.save_version("doc", make_version("doc", 1))
    states = backend._tables.states
    locker = make_backend()._engine.connect()
    try:
        # Another session holds the state's row lock: the head update must wait.
        locker.execute(sa.select(states.c.head).where(states.c.state_id == "doc").with_for_update())
        with pytest.raises(BackendTimeoutError) as exc:
            backend.save_version("doc", make_version("doc", 2))
        assert "0.3" in str(exc.value)
        assert backend.get_state("doc") == {}  # reads are not blocked by the row lock
    finally:
        locker.rollback()
        locker.close()
    backend.save_version("doc", make_version("doc", 2))
    assert backend.head_version("doc") == 2


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_sqlite_busy_database_is_a_timeout_error(make_backend: MakeBackend, tmp_path: Path) -> None:
    backend = make_backend(write_timeout=0.2)
    backend.save_version("doc", make_version("doc", 1))
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        with pytest.raises(BackendTimeoutError):
            backend.save_version("doc", make_version("doc", 2))
        assert backend.head_version("doc") == 1  # WAL: readers go on
    finally:
        other.execute("ROLLBACK")
        other.close()
    backend.save_version("doc", make_version("doc", 2))
    assert backend.head_version("doc") == 2


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_undecodable_stored_json_is_corrupt_data(make_backend: MakeBackend) -> None:
    # PostgreSQL json validates its input; a SQLite file can be edited by anyone.
    backend = make_backend()
    backend.save_version("doc", make_version("doc", 1, [{"op": "add", "path": "/a", "value": 1}]))
    versions = backend._tables.versions
    with backend._engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {versions.name} SET delta = '[{{not json'")
    for call in (lambda: backend.get_state("doc"), lambda: backend.get_version("doc", 1)):
        with pytest.raises(CorruptDataError):
            call()
