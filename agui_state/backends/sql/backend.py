"""SQL backend: PostgreSQL (psycopg 3) and SQLite through SQLAlchemy Core.

::

    backend = SQLBackend(StorageConfig.from_url("postgresql://app:pw@db/app?schema=agui"))
    backend = SQLBackend(StorageConfig.from_url("sqlite:///state.db"))
    backend = SQLBackend(StorageConfig.from_url("sqlite://"))   # in memory

The backend is split by concern: ``schema`` (tables, migrations),
``codec`` (JSON text, row decoding), ``writes`` (one write batch in
one transaction), ``hot`` (an update in one statement on PostgreSQL),
``driver`` (pre-rendered hot statements on the driver
cursor), ``queries`` (read statements), ``engine`` (URLs, pools,
connection checks, timeouts, SQLite hooks), ``errors`` (driver error
mapping, retry delays), ``retry`` (running transactions and
statements with retries; why retried writes are safe) and
``checkpoints`` (rewriting checkpoints and versions for prune). This
class ties them together: each public call is one short transaction
(writes; on PostgreSQL an update of an existing state is one autocommitted
statement) or one autocommit statement (most reads), retried on transient
connection failures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agui_state.backends.base import (
    Checkpoint,
    StorageBackend,
    Write,
    check_history_args,
    validate_state_id,
)
from agui_state.backends.sql import writes as writes_mod
from agui_state.backends.sql.checkpoints import (
    materialize_checkpoint,
    update_checkpoint,
    update_version,
)
from agui_state.backends.sql.codec import decode_snapshot, decode_version
from agui_state.backends.sql.driver import Driver, Executor
from agui_state.backends.sql.engine import make_engine, pool_stats
from agui_state.backends.sql.hot import HotWriter, hot_run
from agui_state.backends.sql.queries import (
    checkpoint_column,
    counts_query,
    list_states_query,
    prefix_upper_bound,
    replay_state_rows,
    state_query,
    storable,
    version_select,
)
from agui_state.backends.sql.retry import TransactionRunner
from agui_state.backends.sql.schema import MIGRATIONS, build_tables, run_migrations
from agui_state.backends.sql.summary import read_summaries
from agui_state.backends.summary import StateSummary
from agui_state.config import StorageConfig
from agui_state.errors import ConflictError, CorruptDataError, NotFoundError, short_repr
from agui_state.models import State, StateSnapshot, StateVersion

__all__ = ["SQLBackend", "prefix_upper_bound"]

log = logging.getLogger(__name__)

_SETUP_TIMEOUT = 60.0
"""Seconds a migration transaction may take (statement timeout) at least."""


class SQLBackend(TransactionRunner, StorageBackend):
    """A backend storing states in PostgreSQL or SQLite.

    ``backend_type`` is ``"postgresql"`` or ``"sqlite"`` according to the URL.
    Tables are created / migrated by :meth:`setup`, which runs automatically
    on first use when ``config.auto_setup`` is true.

    Args:
        config: A ``sqlite`` or ``postgresql`` configuration.

    Raises:
        ConfigError: The URL is not a SQL URL or the driver is missing.
    """

    backend_type = "sql"

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config)
        self._engine, memory = make_engine(config)
        dialect = self._engine.dialect.name
        self.backend_type = dialect  # type: ignore[misc]  # per instance: "postgresql" or "sqlite"
        self._pg = dialect == "postgresql"
        self._tables = build_tables(config.schema if self._pg else None, config.table_prefix)
        # psycopg begins a transaction by itself; SQLite must take the write lock up front.
        self._driver = Driver(self._engine, None if self._pg else "BEGIN IMMEDIATE")
        self._batch = writes_mod.BatchWriter(
            self._tables, self._engine.dialect, self._driver.marker
        )
        # PostgreSQL writes a version run of an existing state in one
        # autocommitted statement (see sql/hot.py); SQLite commits once either way.
        self._hot: HotWriter | None = (
            HotWriter(
                self._tables,
                self._engine.dialect,
                self._driver.marker,
                self._batch.sql.ts,
                self._batch.sql.read_head,
            )
            if self._pg
            else None
        )
        self._lock_key = f"agui-state:{self._tables.metadata.schema or ''}:{config.table_prefix}"
        self._secret = self._engine.url.password
        self._redacted = config.redacted_url
        # Reads: autocommit, one statement each (no BEGIN/COMMIT round trips).
        # On SQLite nothing emits BEGIN for them: the same (see sql/engine.py).
        self._read_engine: Engine = (
            self._engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._pg
            else self._engine
        )
        # The in-memory SQLite database is one shared connection: serialize it.
        self._conn_lock: threading.RLock | None = threading.RLock() if memory else None
        self._setup_lock = threading.Lock()
        self._schema_version: int | None = None
        # Write transactions lower or raise the session's statement_timeout
        # (read_timeout) only when the two differ: one more round trip.
        self._write_timeout_sql: tuple[str, tuple[str]] | None = None
        if self._pg and config.write_timeout != config.read_timeout:
            ms = str(max(1, round(config.write_timeout * 1000)))
            sql = f"SELECT set_config('statement_timeout', {self._driver.marker}, true)"
            self._write_timeout_sql = (sql, (ms,))
            # A single autocommitted statement would run under read_timeout.
            self._hot = None

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        """Create the schema (PostgreSQL) and tables, applying pending migrations.

        Idempotent and safe when several processes call it at once. Runs
        automatically on first use when ``config.auto_setup`` is true.

        Raises:
            BackendUnavailableError: The database cannot be reached.
            StorageError: The database schema is newer than this build.
        """
        with self._setup_lock:
            self._run_setup()

    def _run_setup(self) -> None:
        def migrate(conn: Connection) -> int:
            if self._pg:
                # DDL on a big table, or waiting for another process's
                # migration, may take longer than a normal write.
                ms = str(round(max(_SETUP_TIMEOUT, self.config.write_timeout) * 1000))
                conn.execute(sa.select(sa.func.set_config("statement_timeout", ms, True)))
            return run_migrations(conn, self._tables, self._lock_key)

        self._schema_version = self._write("setup", migrate, setup=False)

    def _ensure_setup(self) -> None:
        if self._schema_version is None:
            with self._setup_lock:
                self._first_setup()

    def _first_setup(self) -> None:
        if self._schema_version is not None:  # another thread got the lock first
            return
        if self.config.auto_setup:
            self._run_setup()
        else:
            # Trust the operator; a missing table is reported on first query.
            self._schema_version = max(m.version for m in MIGRATIONS)

    # ---------------------------------------------------------------- writes
    def write_batch(self, writes: Sequence[Write]) -> None:
        if not writes:
            self._check_open()
            return
        steps = writes_mod.prepare(writes)
        attempts = 0

        def op() -> str:
            return f"write_batch(state {_q(writes[0].state_id)}, {len(writes)} writes)"

        def apply(conn: Connection) -> None:
            nonlocal attempts
            attempts += 1
            self._batch.apply(conn, steps, datetime.now(UTC))

        def apply_runs(ex: Executor) -> None:
            nonlocal attempts
            attempts += 1
            self._batch.apply_runs(ex, steps, datetime.now(UTC))

        hot = self._hot
        run = hot_run(steps) if hot is not None else None

        def apply_hot(ex: Executor) -> bool:
            nonlocal attempts
            assert hot is not None and run is not None
            attempts += 1
            return hot.apply(ex, run, datetime.now(UTC))

        try:
            if run is not None and self._write_autocommit(op, apply_hot):
                # The hot path on PostgreSQL: one statement, one round trip.
                # (False: the state is absent and the run opens it: below.)
                return
            if all(isinstance(step, writes_mod.VersionRun) for step in steps):
                # The hot path: every update of a store is one version run.
                self._write_direct(op, apply_runs)
            else:
                self._write(op, apply)
        except ConflictError:
            # After a retry, a conflict may be our own earlier attempt whose
            # COMMIT succeeded but whose acknowledgement was lost.
            if attempts > 1 and self._batch_stored(steps):
                log.info("%s: earlier attempt had committed; acknowledged", op())
                return
            raise

    def _batch_stored(self, steps: Sequence[writes_mod.Step]) -> bool:
        """Whether every version run of the batch is stored with its ids.

        The first *and* last version of each run are checked: a writer that
        lost the acknowledgement of ``5..12`` retries with a longer batch
        ``5..20``; version 5 is then stored with our id, yet 13..20 are not,
        and acknowledging the batch from its first version would lose them.
        """
        runs = [step for step in steps if isinstance(step, writes_mod.VersionRun)]
        if not runs:
            return False
        for run in runs:
            for number, version_id in ((run.first, run.first_id), (run.last, run.rows[-1][2])):
                found = self.read_version(run.state_id, number, None)
                if found is None or found.id != version_id:
                    return False
        return True

    def delete_state(self, state_id: str) -> None:
        validate_state_id(state_id)
        t = self._tables

        attempts = 0

        def delete(conn: Connection) -> int:
            nonlocal attempts
            attempts += 1
            for table in (t.versions, t.snapshots):
                conn.execute(sa.delete(table).where(table.c.state_id == state_id))
            return int(
                conn.execute(sa.delete(t.states).where(t.states.c.state_id == state_id)).rowcount
            )

        deleted = self._write(f"delete_state({_q(state_id)})", delete)
        # After a retry, 0 rows may mean our own lost-ack attempt deleted it.
        if deleted == 0 and attempts == 1:
            raise NotFoundError("state", state_id)

    def delete_versions_before(self, state_id: str, number: int) -> int:
        v = self._tables.versions
        stmt = sa.delete(v).where(v.c.state_id == state_id, v.c.number < number)

        def delete(conn: Connection) -> int:
            # A latest checkpoint that refers to a row about to go (prune
            # keeping nothing leaves it at the head) is copied into the
            # states row first, in the same transaction.
            self._materialize_checkpoint(conn, state_id, number, before=True)
            return int(conn.execute(stmt).rowcount)

        return self._write(f"prune({_q(state_id)})", delete)

    def _materialize_checkpoint(
        self, conn: Connection, state_id: str, number: int, *, before: bool
    ) -> None:
        materialize_checkpoint(conn, self._tables, state_id, number, before=before)

    def replace_version(self, state_id: str, version: StateVersion) -> None:
        self._write(
            f"replace_version({_q(state_id)}, {version.number})",
            lambda c: self._update_version(c, version),
        )

    def _update_version(self, conn: Connection, version: StateVersion) -> None:
        update_version(conn, self._tables, version)

    def store_checkpoint(self, state_id: str, checkpoint: Checkpoint) -> None:
        self._write(
            f"store_checkpoint({_q(state_id)})",
            lambda c: self._update_checkpoint(c, state_id, checkpoint),
        )

    def _update_checkpoint(
        self, conn: Connection, state_id: str, cp: Checkpoint, only_newer: bool = False
    ) -> None:
        update_checkpoint(conn, self._tables, state_id, cp, only_newer)

    def write_checkpoint_for_prune(
        self, state_id: str, number: int, version: StateVersion | None
    ) -> None:
        # One transaction for "rewrite the oldest kept version with its
        # checkpoint" and "move the latest checkpoint forward", so a crash
        # between them cannot leave a checkpoint pointing into pruned history.
        if version is not None:
            assert version.checkpoint is not None
            state = version.checkpoint
        else:
            current = self.read_checkpoint(state_id)
            if current is None or current.version >= number:
                return
            # state_at, not get_state: the head may move on concurrently.
            state = self.state_at(state_id, number)

        def rewrite(conn: Connection) -> None:
            if version is not None:
                self._update_version(conn, version)
            self._update_checkpoint(conn, state_id, Checkpoint(number, state), only_newer=True)

        self._write(f"prune_checkpoint({_q(state_id)}, {number})", rewrite)

    # ----------------------------------------------------------------- reads
    def read_head(self, state_id: str) -> int | None:
        st = self._tables.states
        stmt = sa.select(st.c.head).where(st.c.state_id == state_id)
        head = self._read(f"head({_q(state_id)})", lambda c: c.execute(stmt).scalar_one_or_none())
        return None if head is None else int(head)

    def read_checkpoint(self, state_id: str) -> Checkpoint | None:
        st = self._tables.states
        stmt = sa.select(st.c.checkpoint_version, checkpoint_column(self._tables)).where(
            st.c.state_id == state_id
        )
        row = self._read(f"checkpoint({_q(state_id)})", lambda c: c.execute(stmt).first())
        if row is None:
            return None
        if not isinstance(row[1], dict):
            raise CorruptDataError(
                f"state {_q(state_id)}",
                "checkpoint is not a JSON object",
                backend=self.backend_type,
            )
        return Checkpoint(int(row[0]), row[1])

    def read_origin(self, state_id: str) -> State:
        st = self._tables.states
        stmt = sa.select(st.c.origin).where(st.c.state_id == state_id)
        origin = self._read(
            f"origin({_q(state_id)})", lambda c: c.execute(stmt).scalar_one_or_none()
        )
        if origin is None:  # NULL: a state created by a version (or before schema 2)
            return {}
        if not isinstance(origin, dict):
            raise CorruptDataError(
                f"state {_q(state_id)}", "origin is not a JSON object", backend=self.backend_type
            )
        return origin

    def get_state(self, state_id: str) -> State:
        """Return the current state: checkpoint + tail deltas, in one statement.

        One ``UNION ALL`` query reads the checkpoint and the versions after it,
        so the two come from the same database snapshot.

        Raises:
            NotFoundError: The state does not exist.
            CorruptDataError: Stored data cannot be read back.
        """
        validate_state_id(state_id)
        stmt = state_query(self._tables, state_id)
        rows = self._read(f"get_state({_q(state_id)})", lambda c: c.execute(stmt).all())
        state = replay_state_rows(state_id, rows, self.backend_type)
        if state is None:
            raise NotFoundError("state", state_id)
        return state

    def _versions(self, op: str, stmt: sa.Select[Any], state_id: str) -> list[StateVersion]:
        rows = self._read(op, lambda c: c.execute(stmt).mappings().all())
        return [decode_version(row, state_id) for row in rows]

    def read_version(
        self, state_id: str, number: int | None, version_id: str | None
    ) -> StateVersion | None:
        v = self._tables.versions
        if number is not None:
            cond = v.c.number == number
        else:
            if version_id is None or not storable(version_id):
                return None
            cond = v.c.id == version_id
        found = self._versions(
            f"get_version({_q(state_id)}, {number if number is not None else _q(version_id)})",
            version_select(self._tables).where(v.c.state_id == state_id, cond),
            state_id,
        )
        return found[0] if found else None

    def get_versions(
        self, state_id: str, after: int = 0, limit: int | None = None
    ) -> list[StateVersion]:
        validate_state_id(state_id)
        if limit is not None and limit <= 0:
            return []
        v = self._tables.versions
        stmt = (
            version_select(self._tables)
            .where(v.c.state_id == state_id, v.c.number > after)
            .order_by(v.c.number)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._versions(f"get_versions({_q(state_id)}, after={after})", stmt, state_id)

    def get_version_history(
        self, state_id: str, limit: int = 50, before: int | None = None
    ) -> list[StateVersion]:
        validate_state_id(state_id)
        check_history_args(limit, before)
        found: list[StateVersion] = []
        if limit > 0:
            v = self._tables.versions
            stmt = version_select(self._tables).where(v.c.state_id == state_id)
            if before is not None:
                stmt = stmt.where(v.c.number < before)
            stmt = stmt.order_by(v.c.number.desc()).limit(limit)
            found = self._versions(
                f"get_version_history({_q(state_id)}, before={before})", stmt, state_id
            )
        if not found and self.read_head(state_id) is None:
            raise NotFoundError("state", state_id)
        return found

    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        validate_state_id(state_id)
        s = self._tables.snapshots
        if not isinstance(snapshot_id, str) or not storable(snapshot_id):
            raise NotFoundError("snapshot", state_id, snapshot_id)
        stmt = sa.select(s).where(s.c.state_id == state_id, s.c.id == snapshot_id)
        row = self._read(
            f"get_snapshot({_q(state_id)}, {_q(snapshot_id)})",
            lambda c: c.execute(stmt).mappings().first(),
        )
        if row is None:
            raise NotFoundError("snapshot", state_id, snapshot_id)
        return decode_snapshot(row, state_id)

    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        validate_state_id(state_id)
        s = self._tables.snapshots
        stmt = sa.select(s).where(s.c.state_id == state_id).order_by(s.c.version, s.c.ts, s.c.id)
        rows = self._read(
            f"list_snapshots({_q(state_id)})", lambda c: c.execute(stmt).mappings().all()
        )
        return [decode_snapshot(row, state_id) for row in rows]

    def list_states(
        self, prefix: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[str]:
        if limit <= 0:
            self._check_open()
            return []
        stmt = list_states_query(self._tables, prefix, limit, after)
        if stmt is None:
            self._check_open()
            return []
        return list(
            self._read(
                f"list_states(prefix={_q(prefix)})", lambda c: c.execute(stmt).scalars().all()
            )
        )

    # ---------------------------------------------------------- housekeeping
    def summarize_states(self, state_ids: Sequence[str]) -> list[StateSummary]:
        """Summarize a page of states in two statements (see :mod:`.summary`)."""
        ids = [validate_state_id(sid) for sid in state_ids]
        tables, kind = self._tables, self.backend_type
        return self._read(
            f"summarize_states({len(ids)} states)",
            lambda conn: read_summaries(conn, tables, ids, kind),
        )

    def ping(self) -> None:
        self._check_open()
        self._retrying("ping", self._ping_once, self.config.read_timeout)

    def _ping_once(self) -> None:
        with self._read_engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1))).scalar_one()

    def stats(self) -> dict[str, Any]:
        t = self._tables
        out: dict[str, Any] = {
            "backend_type": self.backend_type,
            "dialect": self._engine.dialect.name,
            "driver": self._engine.dialect.driver,
            "url": self._redacted,
            "schema": t.metadata.schema,
            "table_prefix": self.config.table_prefix,
            "schema_version": self._schema_version,
            "closed": self._closed,
            "pool": self._pool_stats(),
        }
        if self._closed:
            return out
        counts = counts_query(self._tables)
        row = self._read("stats", lambda c: c.execute(counts).one())
        out.update(states=int(row[0]), versions=int(row[1]), snapshots=int(row[2]))
        return out

    def _pool_stats(self) -> dict[str, Any]:
        return pool_stats(self._engine)

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._engine.dispose()

    def __repr__(self) -> str:
        return (
            f"SQLBackend(type={self.backend_type!r}, url={self._redacted!r}, "
            f"schema={self._tables.metadata.schema!r}, table_prefix={self.config.table_prefix!r})"
        )


def _q(value: Any) -> str:
    # Bounded repr for operation names: ids may be up to 1024 characters.
    return short_repr(value, 60)
