"""SQL backend specifics (beyond the conformance suite): URLs, migrations,
identifier quoting, hostile values, lossless JSON, ordering, query plans and
the statements an update runs.

Tests parametrized over ``dialect`` run on SQLite (a file in ``tmp_path``)
and on a real PostgreSQL (``postgres`` mark; a private table prefix inside
the session schema from ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from agui_state.backends import create_backend
from agui_state.backends.base import Checkpoint, Write
from agui_state.backends.sql import SQLBackend, prefix_upper_bound
from agui_state.backends.sql.driver import Driver
from agui_state.backends.sql.writes import timestamp_binder
from agui_state.config import StorageConfig
from agui_state.errors import ConfigError, ConflictError, StorageError, ValidationError
from agui_state.testing.hammer import run_together
from agui_state.testing.helpers import make_snapshot, make_version

MakeBackend = Callable[..., SQLBackend]


def _unique_prefix() -> str:
    return f"s{uuid.uuid4().hex[:10]}_"


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
def make_backend(
    dialect: str, base_url: str, request: pytest.FixtureRequest
) -> Iterator[MakeBackend]:
    """Open SQLBackends on this test's storage (same prefix unless overridden)."""
    opened: list[SQLBackend] = []
    defaults: dict[str, Any] = {"table_prefix": _unique_prefix()}
    if dialect == "postgresql":
        defaults["schema"] = request.getfixturevalue("postgres_schema")

    def make(url: str | None = None, **overrides: Any) -> SQLBackend:
        backend = SQLBackend(StorageConfig.from_url(url or base_url, **{**defaults, **overrides}))
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(make_backend: MakeBackend) -> SQLBackend:
    return make_backend()


def scalar(backend: SQLBackend, stmt: Any) -> Any:
    with backend._engine.connect() as conn:
        return conn.execute(stmt).scalar()


class Captured:
    """SQL statements a backend sent, with their parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.autocommit: list[bool] = []  # per statement: sent in autocommit (PostgreSQL)

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.statements.append((statement, params))
        self.autocommit.append(bool(getattr(conn.connection.dbapi_connection, "autocommit", 0)))

    def dml(self) -> list[str]:
        return [s for s, _ in self.statements if re.match(r"\s*(INSERT|UPDATE|DELETE|WITH)", s)]


def capture(backend: SQLBackend, call: Callable[[], Any]) -> Captured:
    captured = Captured()
    event.listen(backend._engine, "before_cursor_execute", captured)
    try:
        call()
    finally:
        event.remove(backend._engine, "before_cursor_execute", captured)
    return captured


# ------------------------------------------------------------------ URLs
@pytest.mark.parametrize(
    "url", ["postgresql://u:pw@h/db", "postgres://u:pw@h/db", "postgresql+psycopg://u:pw@h/db"]
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    # No I/O at construction: the engine connects on first use.
    backend = SQLBackend(StorageConfig.from_url(url))
    try:
        assert backend._engine.dialect.driver == "psycopg"
        assert backend.backend_type == "postgresql"
        assert "pw" not in repr(backend)
    finally:
        backend.close()


def test_sqlite_backend_type_and_registry(tmp_path: Path) -> None:
    backend = create_backend(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert isinstance(backend, SQLBackend)
        assert backend.backend_type == "sqlite"
    finally:
        backend.close()


def test_non_sql_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        SQLBackend(StorageConfig(type="sqlite", connection_url="mysql://u:secret@h/db"))
    assert exc.value.field == "connection_url"
    assert "secret" not in str(exc.value)


@pytest.mark.parametrize(
    ("prefix", "upper"),
    [("ab", "ac"), ("a\U0010ffff", "b"), ("\U0010ffff", None), ("\ud7ff", "\ue000"), ("", None)],
)
def test_prefix_upper_bound(prefix: str, upper: str | None) -> None:
    assert prefix_upper_bound(prefix) == upper


# ------------------------------------------------------------ migrations
def test_migrations_recorded_and_idempotent(make_backend: MakeBackend) -> None:
    first = make_backend(auto_setup=False)
    first.setup()
    first.setup()
    second = make_backend()  # same prefix: auto setup finds everything applied
    second.set_state("doc", {"a": 1})
    mig = first._tables.migrations
    with first._engine.connect() as conn:
        rows = conn.execute(sa.select(mig.c.version, mig.c.description).order_by(mig.c.version))
        described = dict(rows.all())
    assert sorted(described) == [1, 2, 3]
    assert "states" in described[1] and "origin" in described[2]
    assert "checkpoint" in described[3]
    assert first.get_state("doc") == {"a": 1}
    assert first.stats()["schema_version"] == 3


def test_newer_database_schema_is_refused(make_backend: MakeBackend) -> None:
    backend = make_backend()
    backend.setup()
    mig = backend._tables.migrations
    with backend._engine.begin() as conn:
        conn.execute(
            sa.insert(mig).values(version=99, description="future", applied_at=sa.func.now())
        )
    with pytest.raises(StorageError, match="newer than this build"):
        make_backend().setup()


def test_no_auto_setup_reports_missing_tables(make_backend: MakeBackend) -> None:
    backend = make_backend(auto_setup=False)
    with pytest.raises(StorageError, match=r"setup\(\)"):
        backend.set_state("doc", {})
    backend.setup()
    backend.set_state("doc", {"ok": True})
    assert backend.get_state("doc") == {"ok": True}


_SETUP_WORKER = """
import sys
from agui_state.backends.sql import SQLBackend
from agui_state.config import StorageConfig
url, prefix, schema = sys.argv[1:4]
extra = {"schema": schema} if schema else {}
backend = SQLBackend(StorageConfig.from_url(url, table_prefix=prefix, auto_setup=False, **extra))
print("ready", flush=True)
sys.stdin.readline()
backend.setup()
backend.set_state(prefix, {"by": prefix})
backend.close()
print("done", flush=True)
"""


@pytest.mark.slow
def test_two_processes_set_up_at_once(
    dialect: str, base_url: str, request: pytest.FixtureRequest, make_backend: MakeBackend
) -> None:
    prefix = _unique_prefix()
    # PostgreSQL: a fresh schema too, so CREATE SCHEMA itself races.
    schema = f"agui_setup_{uuid.uuid4().hex[:8]}" if dialect == "postgresql" else ""
    try:
        results = run_together([["-c", _SETUP_WORKER, base_url, prefix, schema]] * 2, timeout=60)
        for code, out, err in results:
            assert code == 0, err
            assert out.strip() == "done"
        check = make_backend(
            table_prefix=prefix, auto_setup=False, **({"schema": schema} if schema else {})
        )
        mig = check._tables.migrations
        with check._engine.connect() as conn:
            assert sorted(conn.execute(sa.select(mig.c.version)).scalars().all()) == [1, 2, 3]
        assert check.get_state(prefix) == {"by": prefix}
    finally:
        if schema:
            with make_backend()._engine.begin() as conn:
                conn.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))


# ----------------------------------------------------- quoting and values
def _roundtrip_everything(backend: SQLBackend, sid: str) -> None:
    v1 = make_version(sid, 1, [{"op": "add", "path": "/a", "value": sid}], metadata={"sid": sid})
    backend.save_version(sid, v1)
    snap = make_snapshot(sid, 1, {"a": sid}, label=sid, snapshot_id=sid)
    backend.save_snapshot(sid, snap)
    assert backend.get_state(sid) == {"a": sid}
    assert backend.get_version(sid, v1.id) == v1
    assert backend.get_snapshot(sid, sid) == snap
    assert sid in backend.list_states(prefix=sid[:3], limit=1000)


def test_mixed_case_prefix_and_schema_are_quoted(dialect: str, make_backend: MakeBackend) -> None:
    schema = f"Select_{uuid.uuid4().hex[:6]}" if dialect == "postgresql" else None
    backend = make_backend(table_prefix="Select_", schema=schema)
    try:
        _roundtrip_everything(backend, "doc")
        names = sa.inspect(backend._engine).get_table_names(schema=schema)
        assert {
            "Select_states",
            "Select_versions",
            "Select_snapshots",
            "Select_schema_migrations",
        } <= set(names)
        assert backend.stats()["versions"] == 1
    finally:
        if dialect == "postgresql":
            with backend._engine.begin() as conn:
                conn.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))


@pytest.mark.postgres
def test_reserved_word_schema_is_quoted(postgres_url: str) -> None:
    prefix = _unique_prefix()
    backend = SQLBackend(StorageConfig.from_url(postgres_url, schema="order", table_prefix=prefix))
    try:
        _roundtrip_everything(backend, "doc")
        assert backend.stats()["schema"] == "order"
    finally:
        with backend._engine.begin() as conn:
            backend._tables.metadata.drop_all(conn)
        # Other runs may share "order": drop it only when it is empty.
        with contextlib.suppress(sa.exc.DBAPIError), backend._engine.begin() as conn:
            conn.execute(sa.schema.DropSchema("order"))
        backend.close()


HOSTILE_IDS = [
    "'; DROP TABLE states; --",
    '"; DROP SCHEMA public CASCADE; --',
    "Robert'); DELETE FROM versions;--",
    "%_\\%",
    "ünï'cødé\"😀",
    "x" * 1024,
    "$1 :name ? %s %(x)s",
]


@pytest.mark.parametrize("sid", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_hostile_state_ids(backend: SQLBackend, sid: str) -> None:
    _roundtrip_everything(backend, sid)
    backend.save_version("other", make_version("other", 1))
    assert backend.list_states(limit=10) == sorted([sid, "other"])
    backend.delete_state(sid)
    assert backend.list_states() == ["other"]


def test_like_wildcards_in_prefix_are_literal(backend: SQLBackend) -> None:
    for sid in ["a%b", "a%bc", "axb", "a_b", "aab", "a\\b"]:
        backend.set_state(sid, {})
    assert backend.list_states(prefix="a%") == ["a%b", "a%bc"]
    assert backend.list_states(prefix="a_") == ["a_b"]
    assert backend.list_states(prefix="a\\") == ["a\\b"]


def test_hostile_metadata_and_values(backend: SQLBackend) -> None:
    nasty = {
        "sql": "'); DROP TABLE versions; --",
        "quotes": "\"'`",
        "long": "é😀" * 50_000,
        "nul": "a\x00b",
        "nul\x00key": 1,
        "surrogate": "\ud800 lone",
        "nested": {"deep": [[["'"]]]},
    }
    v = make_version("doc", 1, [{"op": "add", "path": "/v", "value": nasty}], metadata=nasty)
    backend.save_version("doc", v)
    assert backend.get_version("doc", 1) == v
    assert backend.get_state("doc") == {"v": nasty}
    snap = make_snapshot("doc", 1, {"v": nasty}, label="\x00 label '", metadata=nasty)
    backend.save_snapshot("doc", snap)
    assert backend.get_snapshot("doc", snap.id) == snap


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("version.id", lambda: make_version("doc", 1, version_id="a\x00b")),
        ("version.parent_id", lambda: make_version("doc", 1, parent_id="p\x00")),
        ("snapshot.id", lambda: make_snapshot("doc", 0, snapshot_id="s\x00")),
        ("version.id", lambda: make_version("doc", 1, version_id="\udc80")),
    ],
)
def test_unstorable_ids_are_validation_errors(
    backend: SQLBackend, field: str, make: Callable[[], Any]
) -> None:
    # NUL is kept in JSON values (escaped as \u0000) but PostgreSQL text cannot
    # hold it: ids with NUL (or a lone surrogate) are refused on both dialects.
    backend.set_state("doc", {})
    item = make()
    with pytest.raises(ValidationError) as exc:
        if field.startswith("snapshot"):
            backend.save_snapshot("doc", item)
        else:
            backend.save_version("doc", item)
    assert exc.value.field == field
    assert backend.head_version("doc") == 0
    assert backend.list_snapshots("doc") == []


def test_lone_surrogate_state_id_is_a_validation_error(backend: SQLBackend) -> None:
    with pytest.raises(ValidationError) as exc:
        backend.set_state("bad\ud800", {})
    assert exc.value.field == "state_id"
    assert backend.list_states(prefix="bad\ud800") == []
    backend.set_state("bad\ue000", {})
    assert backend.list_states(after="bad\ud800") == ["bad\ue000"]
    assert backend.list_states(after="bad\x00") == ["bad\ue000"]


def test_json_round_trip_is_exact(backend: SQLBackend) -> None:
    # jsonb would turn 1e16 into an int and reorder keys; json/text keeps both.
    doc = {"z": 1, "a": 1.0, "m": 1e16, "big": 2**70, "tiny": 1e-7, "neg": -0.0, "b": [1.5e300, 0]}
    v = make_version(
        "doc", 1, [{"op": "add", "path": "/d", "value": doc}], checkpoint={"d": doc}, metadata=doc
    )
    backend.save_version("doc", v)
    for got in (backend.get_state("doc")["d"], backend.get_version("doc", 1).metadata):
        assert json.dumps(got) == json.dumps(doc)
        assert [type(x) for x in got.values()] == [type(x) for x in doc.values()]


def test_non_json_values_are_rejected_before_writing(backend: SQLBackend) -> None:
    with pytest.raises(ValidationError) as exc:
        backend.save_version("doc", make_version("doc", 1, metadata={"x": float("nan")}))
    assert exc.value.field == "version.metadata"
    with pytest.raises(ValidationError) as exc:
        backend.set_state("doc", {"s": {1, 2}})
    assert exc.value.field == "state"
    assert not backend.exists("doc")


def test_ids_sort_in_code_point_order(backend: SQLBackend) -> None:
    ids = [
        "a",
        "B",
        "é",
        "😀",
        "\uffff",
        "z",
        "aa",
        "a b",
        "A",
        "_",
        "~",
        "\u00e9t\u00e9",
        "e\u0301",
    ]
    for sid in ids:
        backend.set_state(sid, {})
    assert backend.list_states(limit=100) == sorted(ids)
    paged: list[str] = []
    after: str | None = None
    while page := backend.list_states(limit=3, after=after):
        paged.extend(page)
        after = page[-1]
    assert paged == sorted(ids)


# ------------------------------------------------------------- statements
def _head_update_and_insert(
    dialect: str, captured: Captured, opens: bool = False
) -> tuple[str, str]:
    """The head update and the versions INSERT of one update, checking the statement shape.

    PostgreSQL: one statement sent in autocommit (one round trip, no BEGIN or
    COMMIT), the INSERT selecting from the conditional UPDATE. SQLite: an
    UPDATE then an INSERT (in one transaction); when the version carries a
    checkpoint (it may open an absent state), the head moves in an upsert.
    """
    dml = captured.dml()
    if dialect == "postgresql":
        assert len(captured.statements) == 1 and len(dml) == 1, captured.statements
        assert captured.autocommit == [True]
        assert dml[0].startswith("WITH moved AS (UPDATE ")
        update, insert = dml[0].split(") INSERT INTO ", 1)
        assert "versions" not in update and "INSERT" not in update
        assert "versions" in insert.split("(")[0] and "FROM moved" in insert
        return update[len("WITH moved AS (") :], "INSERT INTO " + insert
    assert len(dml) == 2, dml
    if opens:
        assert dml[0].startswith("INSERT") and "ON CONFLICT" in dml[0]
        assert dml[0].split("ON CONFLICT")[1].startswith(" (state_id) DO UPDATE SET ")
        head_move = dml[0].split("ON CONFLICT")[1].replace(" (state_id) DO ", "", 1)
    else:
        assert dml[0].startswith("UPDATE")
        head_move = dml[0]
    assert "versions" not in head_move.split("WHERE")[0]
    assert dml[1].startswith("INSERT") and "versions" in dml[1]
    return head_move, dml[1]


def test_update_is_one_insert_and_one_head_update(backend: SQLBackend, dialect: str) -> None:
    backend.save_version(
        "doc", make_version("doc", 1, [{"op": "add", "path": "/big", "value": "x" * 10_000}])
    )
    plain = capture(backend, lambda: backend.save_version("doc", make_version("doc", 2, [])))
    update, _insert = _head_update_and_insert(dialect, plain)
    assert "checkpoint" not in update.split("WHERE")[0]  # the state is not rewritten
    with_cp = capture(
        backend,
        lambda: backend.save_version("doc", make_version("doc", 3, [], checkpoint={"big": "y"})),
    )
    update, _insert = _head_update_and_insert(dialect, with_cp, opens=True)
    assert "checkpoint" in update.split("WHERE")[0]
    assert backend.get_state("doc") == {"big": "y"}
    assert [v.number for v in backend.get_versions("doc")] == [1, 2, 3]


@pytest.mark.parametrize("dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_postgres_update_is_one_statement_on_the_driver(
    backend: SQLBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unobserved (no listener), the update runs on the driver in autocommit,
    # one statement; version 1 (which creates the states row) is a transaction.
    import psycopg

    sent: list[tuple[str, bool]] = []
    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append((str(query), self.connection.autocommit))
        return original(self, query, *args, **kwargs)

    backend.setup()
    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    backend.save_version("doc", make_version("doc", 1))
    assert [q.split()[0] for q, _ in sent] == ["INSERT", "INSERT"]
    assert [autocommit for _, autocommit in sent] == [False, False]
    sent.clear()
    backend.save_version("doc", make_version("doc", 2, [{"op": "add", "path": "/a", "value": 2}]))
    assert len(sent) == 1 and sent[0][0].startswith("WITH moved AS (UPDATE ") and sent[0][1]
    sent.clear()
    with backend.begin_transaction() as tx:  # a run of several versions: one statement too
        for n in (3, 4, 5):
            tx.save_version(
                "doc", make_version("doc", n, [{"op": "add", "path": "/a", "value": n}])
            )
    assert len(sent) == 1 and sent[0][1]
    sent.clear()
    with pytest.raises(ConflictError):  # nothing written: the head is re-read, no more
        backend.save_version("doc", make_version("doc", 5))
    assert [q.split()[0] for q, _ in sent] == ["WITH", "SELECT"]
    assert backend.head_version("doc") == 5
    assert backend.get_state("doc") == {"a": 5}
    # The pooled connection went back in transaction mode: a set_state commits normally.
    backend.set_state("other", {"x": 1})
    assert backend.get_state("other") == {"x": 1}


def test_checkpoint_version_opens_an_absent_state_at_any_number(backend: SQLBackend) -> None:
    # On PostgreSQL the single statement finds no states row and the write
    # falls back to the transaction that creates it.
    version = make_version("late", 7, [], checkpoint={"n": 7})
    backend.save_version("late", version)
    assert backend.head_version("late") == 7
    assert backend.get_state("late") == {"n": 7}
    assert backend.get_versions("late") == [version]
    with pytest.raises(ConflictError):  # not at head + 1, although it carries a checkpoint
        backend.save_version("late", make_version("late", 9, [], checkpoint={"n": 9}))
    assert backend.head_version("late") == 7


def test_batch_of_many_versions_is_one_head_update(backend: SQLBackend) -> None:
    versions = [
        make_version("doc", n, [{"op": "add", "path": f"/k{n}", "value": n}]) for n in range(1, 201)
    ]

    backend.setup()

    def commit() -> None:
        with backend.begin_transaction() as tx:
            for v in versions:
                tx.save_version("doc", v)

    dml = capture(backend, commit).dml()
    assert len(dml) == 2, dml
    assert backend.head_version("doc") == 200
    assert backend.get_state("doc") == {f"k{n}": n for n in range(1, 201)}
    more = [
        make_version("doc", n, [{"op": "add", "path": f"/k{n}", "value": n}])
        for n in range(201, 401)
    ]

    def commit_more() -> None:
        with backend.begin_transaction() as tx:
            for v in more:
                tx.save_version("doc", v)

    # An existing state: one statement on PostgreSQL, an UPDATE and an INSERT on SQLite.
    dml = capture(backend, commit_more).dml()
    assert len(dml) == (1 if backend.backend_type == "postgresql" else 2), dml
    assert backend.head_version("doc") == 400
    assert backend.get_versions("doc", after=200) == more


def _hot_path_scenario(backend: SQLBackend, sid: str) -> list[str]:
    """Updates through the version-run statements: opens, moves, checkpoints, conflicts.

    Returns the conflict messages, so two runs can be compared.
    """
    conflicts: list[str] = []
    v1 = make_version(sid, 1, [{"op": "add", "path": "/n", "value": 1}], metadata={"k": "é"})
    backend.save_version(sid, v1)  # opens the state (INSERT ... ON CONFLICT)
    v2 = make_version(sid, 2, [{"op": "replace", "path": "/n", "value": 2}], parent_id=v1.id)
    backend.save_version(sid, v2)  # moves the head (UPDATE)
    v3 = make_version(
        sid, 3, [{"op": "add", "path": "/m", "value": 3}], checkpoint={"n": 2, "m": 3}
    )
    backend.save_version(sid, v3)  # moves head and checkpoint
    assert backend.head_version(sid) == 3
    for stale in (
        make_version(sid, 3),  # already stored
        make_version(sid, 5),  # gap
        make_version(sid, 4, version_id=v2.id),  # id already stored: the INSERT fails
    ):
        with pytest.raises(ConflictError) as err:
            backend.save_version(sid, stale)
        conflicts.append(str(err.value))
        assert backend.head_version(sid) == 3  # nothing of the failed write stayed
    batch = [make_version(sid, n, [{"op": "replace", "path": "/n", "value": n}]) for n in (4, 5, 6)]
    with backend.begin_transaction() as tx:
        for version in batch:
            tx.save_version(sid, version)
    assert backend.get_versions(sid) == [v1, v2, v3, *batch]
    assert backend.get_state(sid) == {"n": 6, "m": 3}
    return conflicts


@pytest.mark.parametrize("observed", [False, True], ids=["driver", "listener"])
def test_version_writes_with_and_without_listeners(
    backend: SQLBackend, monkeypatch: pytest.MonkeyPatch, observed: bool
) -> None:
    # Unobserved, version writes run on the driver cursor (Driver.transaction);
    # with a cursor listener, through SQLAlchemy so the listener sees them.
    # On PostgreSQL, updates of an existing state are one statement in
    # autocommit (Driver.autocommit), unobserved; version 1 is a transaction.
    direct: list[int] = []
    hot: list[int] = []
    original, original_hot = Driver.transaction, Driver.autocommit

    def counting(self: Driver, *args: Any) -> Any:
        direct.append(1)
        return original(self, *args)

    def counting_hot(self: Driver, *args: Any) -> Any:
        hot.append(1)
        return original_hot(self, *args)

    monkeypatch.setattr(Driver, "transaction", counting)
    monkeypatch.setattr(Driver, "autocommit", counting_hot)
    seen = Captured()
    if observed:
        event.listen(backend._engine, "before_cursor_execute", seen)
    try:
        conflicts = _hot_path_scenario(backend, "doc")
    finally:
        if observed:
            event.remove(backend._engine, "before_cursor_execute", seen)
    assert bool(direct) is not observed
    assert bool(hot) is (not observed and backend.backend_type == "postgresql")
    assert bool(seen.dml()) is observed
    assert "already stored" in conflicts[0] and "gap" in conflicts[1]
    assert "already stored" in conflicts[2]


def test_version_writes_with_quoted_identifiers(dialect: str, make_backend: MakeBackend) -> None:
    # The pre-rendered statements quote like SQLAlchemy: mixed case, a reserved word.
    schema = f"Order_{uuid.uuid4().hex[:6]}" if dialect == "postgresql" else None
    backend = make_backend(table_prefix="Update_", schema=schema)
    try:
        _hot_path_scenario(backend, 'it\'s "quoted" %s ?')
        assert backend.stats()["versions"] == 6
    finally:
        if dialect == "postgresql":
            with backend._engine.begin() as conn:
                conn.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))


def test_version_timestamps_are_bound_as_sqlalchemy_binds_them(backend: SQLBackend) -> None:
    # Version writes convert timestamps themselves (timestamp_binder); the
    # stored values must be exactly those of SQLAlchemy's bind processor.
    stamps = [
        datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),  # no microseconds
        datetime(2024, 5, 6, 9, 8, 9, 123, tzinfo=timezone(timedelta(hours=2))),
        datetime(1970, 1, 1, 0, 0, 0, 999_999),  # naive: taken as UTC
    ]
    for n, ts in enumerate(stamps, 1):
        backend.save_version("doc", make_version("doc", n, timestamp=ts))
    expected = [ts if ts.tzinfo else ts.replace(tzinfo=UTC) for ts in stamps]
    got = [v.timestamp for v in backend.get_versions("doc")]
    assert got == expected
    assert all(ts.tzinfo is UTC for ts in got)
    v = backend._tables.versions
    dialect = backend._engine.dialect
    processor = v.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
    binder = timestamp_binder(dialect, v.c.ts.type)
    with backend._engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.type_coerce(v.c.ts, sa.String) if dialect.name == "sqlite" else v.c.ts)
            .where(v.c.state_id == "doc")
            .order_by(v.c.number)
        ).scalars()
        assert list(stored) == [processor(ts) for ts in stamps] == [binder(ts) for ts in stamps]


def test_delete_state_cascades(backend: SQLBackend) -> None:
    for sid in ("gone", "kept"):
        backend.save_version(sid, make_version(sid, 1))
        backend.save_snapshot(sid, make_snapshot(sid, 1))
    backend.delete_state("gone")
    t = backend._tables
    for table in (t.states, t.versions, t.snapshots):
        count = sa.select(sa.func.count()).select_from(table)
        assert scalar(backend, count.where(table.c.state_id == "gone")) == 0
        assert scalar(backend, count.where(table.c.state_id == "kept")) == 1


def test_stats_ping_and_close(backend: SQLBackend) -> None:
    backend.save_version("doc", make_version("doc", 1))
    backend.save_snapshot("doc", make_snapshot("doc", 1))
    backend.ping()
    stats = backend.stats()
    assert stats["backend_type"] == stats["dialect"] == backend._engine.dialect.name
    assert (stats["states"], stats["versions"], stats["snapshots"]) == (1, 1, 1)
    assert stats["table_prefix"] == backend.config.table_prefix
    if stats["dialect"] == "postgresql":
        assert stats["schema"] == backend.config.schema
        assert set(stats["pool"]) >= {"size", "checked_in", "checked_out", "overflow"}
        assert stats["pool"]["size"] == backend.config.max_connections
    backend.close()
    backend.close()
    with pytest.raises(StorageError, match="closed"):
        backend.ping()


@pytest.mark.postgres
def test_password_never_shown(postgres_url: str, postgres_schema: str) -> None:
    # The local server trusts connections, so a made-up password still logs in.
    secret = "s3cr3t-pw"
    url = postgres_url.replace("://postgres@", f"://postgres:{secret}@")
    backend = SQLBackend(
        StorageConfig.from_url(url, schema=postgres_schema, table_prefix=_unique_prefix())
    )
    try:
        backend.set_state("doc", {})
        for shown in (repr(backend), repr(backend.stats()), repr(backend.config)):
            assert secret not in shown
        assert "***" in backend.stats()["url"]
    finally:
        backend.close()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_sqlite_uses_wal(make_backend: MakeBackend) -> None:
    backend = make_backend()
    backend.set_state("doc", {})
    assert scalar(backend, sa.text("PRAGMA journal_mode")) == "wal"
    assert scalar(backend, sa.text("PRAGMA foreign_keys")) == 1


# ------------------------------------------------------------ query plans
def _plans(backend: SQLBackend, calls: list[Callable[[], Any]]) -> list[tuple[str, str]]:
    """Run ``calls``, then EXPLAIN every SELECT they sent."""
    out: list[tuple[str, str]] = []
    for call in calls:
        for statement, params in capture(backend, call).statements:
            if not statement.lstrip().startswith("SELECT") or "set_config" in statement:
                continue
            with backend._engine.connect() as conn:
                if backend.backend_type == "postgresql":
                    rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
                    plan = "\n".join(r[0] for r in rows)
                else:
                    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
                    plan = "\n".join(str(r[-1]) for r in rows)
            out.append((statement, plan))
    return out


def _read_calls(backend: SQLBackend) -> list[Callable[[], Any]]:
    return [
        lambda: backend.get_version_history("big", limit=50, before=50_000),
        lambda: backend.get_version_history("big", limit=50),
        lambda: backend.get_version("big", 777),
        lambda: backend.get_version("big", "id-777"),
        lambda: backend.get_versions("big", after=99_990),
        lambda: backend.get_state("big"),
        lambda: backend.list_states(limit=10, after="st-010000"),
        lambda: backend.list_states(prefix="st-01", limit=10, after="st-010500"),
        lambda: backend.list_snapshots("big"),
        lambda: backend.head_version("big"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_postgres_reads_are_index_scans(make_backend: MakeBackend) -> None:
    backend = make_backend()
    backend.setup()
    t = backend._tables
    with backend._engine.begin() as conn:
        q = conn.dialect.identifier_preparer.format_table
        conn.exec_driver_sql(
            f"INSERT INTO {q(t.states)} "
            "(state_id, head, checkpoint_version, checkpoint, created_at, updated_at) "
            "SELECT 'st-' || lpad(g::text, 6, '0'), 0, 0, '{}'::json, now(), now() "
            "FROM generate_series(1, 20000) g "
            "UNION ALL SELECT 'big', 100000, 100000, '{}'::json, now(), now()"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {q(t.versions)} (state_id, number, id, parent_id, ts, delta, metadata) "
            "SELECT 'big', g, 'id-' || g, NULL, now(), '[]'::json, '{}'::json "
            "FROM generate_series(1, 100000) g"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {q(t.snapshots)} (state_id, id, version, ts, label, metadata, state) "
            "SELECT 'st-' || lpad(g::text, 6, '0'), 's', 0, now(), NULL, '{}'::json, '{}'::json "
            "FROM generate_series(1, 20000) g"
        )
        for table in (t.states, t.versions, t.snapshots):
            conn.exec_driver_sql(f"ANALYZE {q(table)}")
    assert len(backend.get_version_history("big", limit=50, before=50_000)) == 50
    plans = _plans(backend, _read_calls(backend))
    assert len(plans) >= len(_read_calls(backend))
    if os.environ.get("AGUI_STATE_SHOW_PLANS"):
        for statement, plan in plans:
            print(f"{statement}\n{plan}\n")
    for statement, plan in plans:
        assert "Seq Scan" not in plan, f"{statement}\n{plan}"
        assert "Index" in plan, f"{statement}\n{plan}"


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_sqlite_reads_are_index_searches(make_backend: MakeBackend) -> None:
    backend = make_backend()
    backend.setup()
    t = backend._tables
    with backend._engine.begin() as conn:
        states = [
            {"state_id": f"st-{i:06d}", "head": 0, "checkpoint_version": 0, "checkpoint": {}}
            for i in range(1, 2001)
        ]
        states.append(
            {"state_id": "big", "head": 5000, "checkpoint_version": 5000, "checkpoint": {}}
        )
        now = sa.func.current_timestamp()
        conn.execute(sa.insert(t.states).values(created_at=now, updated_at=now), states)
        conn.execute(
            sa.insert(t.versions).values(ts=now),
            [
                {
                    "state_id": "big",
                    "number": n,
                    "id": f"id-{n}",
                    "parent_id": None,
                    "delta": [],
                    "metadata": {},
                }
                for n in range(1, 5001)
            ],
        )
    plans = _plans(backend, _read_calls(backend))
    ours = (t.states.name, t.versions.name, t.snapshots.name)
    for statement, plan in plans:
        for line in plan.splitlines():
            assert not any(re.match(rf"SCAN {name}\b", line) for name in ours), (
                f"{statement}\n{plan}"
            )


# ----------------------------------------------- checkpoints stored once
def _states_checkpoint(backend: SQLBackend, state_id: str) -> tuple[int, Any]:
    """The states row's raw (checkpoint_version, checkpoint) columns."""
    st = backend._tables.states
    with backend._engine.connect() as conn:
        row = conn.execute(
            sa.select(st.c.checkpoint_version, st.c.checkpoint).where(st.c.state_id == state_id)
        ).one()
    return int(row[0]), row[1]


def _history(backend: SQLBackend, state_id: str, head: int, every: int = 3) -> list[Any]:
    """Versions 1..head setting /n; every ``every``-th carries a checkpoint."""
    versions = []
    for n in range(1, head + 1):
        cp = {"n": n, "big": "x" * 50} if n % every == 0 else None
        delta: list[Any] = [{"op": "add", "path": "/n", "value": n}]
        if n == 1:
            delta.append({"op": "add", "path": "/big", "value": "x" * 50})
        version = make_version(state_id, n, delta, checkpoint=cp)
        backend.save_version(state_id, version)
        versions.append(version)
    return versions


def test_version_checkpoint_is_stored_once(backend: SQLBackend) -> None:
    backend.set_state("doc", {"big": "x" * 50})
    _history(backend, "doc", 7)
    # Version 6 carries the latest checkpoint: the states row only refers to it.
    assert _states_checkpoint(backend, "doc") == (6, None)
    assert backend.read_checkpoint("doc") == Checkpoint(6, {"n": 6, "big": "x" * 50})
    assert backend.get_state("doc") == {"n": 7, "big": "x" * 50}
    for n in range(8):
        expected = {"big": "x" * 50} if n == 0 else {"n": n, "big": "x" * 50}
        assert backend.state_at("doc", n) == expected
    # A batch of several versions (the transaction path on both dialects).
    backend.write_batch(
        [
            Write.of_version(
                "doc",
                make_version(
                    "doc",
                    8,
                    [{"op": "replace", "path": "/n", "value": 8}],
                    checkpoint={"n": 8, "big": "x" * 50},
                ),
            ),
            Write.of_version(
                "doc", make_version("doc", 9, [{"op": "replace", "path": "/n", "value": 9}])
            ),
        ]
    )
    assert _states_checkpoint(backend, "doc") == (8, None)
    assert backend.get_state("doc") == {"n": 9, "big": "x" * 50}
    # A version with a checkpoint opening an absent state (imported pruned history).
    backend.save_version("late", make_version("late", 5, [], checkpoint={"n": 5}))
    assert _states_checkpoint(backend, "late") == (5, None)
    assert backend.get_state("late") == {"n": 5}
    assert backend.state_at("late", 5) == {"n": 5}


def test_explicit_checkpoint_wins_over_version_checkpoint(backend: SQLBackend) -> None:
    _history(backend, "doc", 6)  # version 6 carries a checkpoint
    backend.set_state("doc", {"repaired": True})  # explicit, at head 6
    assert _states_checkpoint(backend, "doc") == (6, {"repaired": True})
    assert backend.get_state("doc") == {"repaired": True}
    backend.save_version("doc", make_version("doc", 7, [{"op": "add", "path": "/x", "value": 1}]))
    assert backend.get_state("doc") == {"repaired": True, "x": 1}
    # A later version checkpoint takes over again, stored once.
    backend.save_version("doc", make_version("doc", 8, [], checkpoint={"repaired": True, "x": 1}))
    assert _states_checkpoint(backend, "doc") == (8, None)
    assert backend.get_state("doc") == {"repaired": True, "x": 1}


@pytest.mark.parametrize("keep", [0, 1, 2, 4])
def test_prune_keeps_the_referenced_checkpoint(backend: SQLBackend, keep: int) -> None:
    _history(backend, "doc", 9)  # version 9 carries the latest checkpoint
    assert _states_checkpoint(backend, "doc") == (9, None)
    backend.prune_history("doc", keep)
    assert backend.get_state("doc") == {"n": 9, "big": "x" * 50}
    assert backend.state_at("doc", 9) == {"n": 9, "big": "x" * 50}
    version, checkpoint = _states_checkpoint(backend, "doc")
    assert version == 9
    if keep == 0:  # the referenced row is gone: its checkpoint was copied first
        assert checkpoint == {"n": 9, "big": "x" * 50}
    backend.save_version("doc", make_version("doc", 10, [{"op": "remove", "path": "/big"}]))
    assert backend.get_state("doc") == {"n": 9}


def test_direct_delete_before_reference_materializes(backend: SQLBackend) -> None:
    _history(backend, "doc", 6)
    backend.delete_versions_before("doc", 7)  # deletes the referenced version 6
    assert _states_checkpoint(backend, "doc") == (6, {"n": 6, "big": "x" * 50})
    assert backend.get_state("doc") == {"n": 6, "big": "x" * 50}


def test_replace_referenced_version_keeps_the_checkpoint(backend: SQLBackend) -> None:
    versions = _history(backend, "doc", 6)
    # Rewrite version 6 without its checkpoint: the latest checkpoint stays.
    replaced = dataclasses.replace(versions[5], checkpoint=None)
    backend.replace_version("doc", replaced)
    assert backend.get_versions("doc", after=5)[0].checkpoint is None
    assert _states_checkpoint(backend, "doc") == (6, {"n": 6, "big": "x" * 50})
    assert backend.get_state("doc") == {"n": 6, "big": "x" * 50}
    # Rewriting a version the states row does not refer to changes nothing there.
    backend.replace_version("doc", versions[2])
    assert _states_checkpoint(backend, "doc") == (6, {"n": 6, "big": "x" * 50})


def test_delete_state_with_referenced_checkpoint(backend: SQLBackend) -> None:
    _history(backend, "doc", 3)
    backend.delete_state("doc")
    assert backend.list_states() == []
    _history(backend, "doc", 3)  # recreated from scratch: nothing stale is referenced
    assert _states_checkpoint(backend, "doc") == (3, None)
    assert backend.get_state("doc") == {"n": 3, "big": "x" * 50}
