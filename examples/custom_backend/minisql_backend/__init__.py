"""A small third-party agui-state backend: one SQLite file through the standard ``sqlite3``.

An example of extending agui-state with a custom backend (no SQLAlchemy, no
server). It implements the public contract of
:class:`agui_state.backends.StorageBackend`, registers itself by entry point
(``pyproject.toml``: group ``agui_state.backends``, name ``minisql``), parses
its own URL options into :class:`MiniSQLOptions`, and passes the shipped
conformance suite (``tests/test_minisql_conformance.py``)::

    from agui_state import PersistentStateStore

    store = PersistentStateStore("minisql:///var/lib/app/state.db?busy_timeout=10", "thread-1")

Concurrency: each instance has one connection behind a lock; instances and
processes share the file through SQLite's own locking (``BEGIN IMMEDIATE``
for writes, so the head check and the write are one atomic step; WAL mode,
so readers see one consistent snapshot per transaction).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from agui_state.backends import Checkpoint, StorageBackend, Write
from agui_state.backends.base import HeadTracker, check_consecutive, replay
from agui_state.config import StorageConfig, parse_options
from agui_state.errors import ConfigError, NotFoundError, StorageError
from agui_state.ids import validate_state_id
from agui_state.models import State, StateSnapshot, StateVersion

__all__ = ["MiniSQLBackend", "MiniSQLOptions"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS states (
    state_id TEXT PRIMARY KEY,
    head INTEGER NOT NULL,
    cp_version INTEGER NOT NULL,
    cp_state TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    state_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (state_id, number)
);
CREATE INDEX IF NOT EXISTS versions_by_id ON versions (state_id, id);
CREATE TABLE IF NOT EXISTS snapshots (
    state_id TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (state_id, id)
);
"""


@dataclass(frozen=True)
class MiniSQLOptions:
    """The backend's own URL options (``minisql:///path.db?busy_timeout=10&synchronous=FULL``).

    Attributes:
        busy_timeout: Seconds to wait for another writer's lock on the file.
        synchronous: SQLite's ``synchronous`` pragma: ``NORMAL`` or ``FULL``.
    """

    busy_timeout: float = 30.0
    synchronous: str = "NORMAL"

    def __post_init__(self) -> None:
        if self.busy_timeout <= 0:
            raise ConfigError("busy_timeout", f"must be positive, got {self.busy_timeout!r}")
        if self.synchronous not in ("NORMAL", "FULL"):
            raise ConfigError("synchronous", f"must be NORMAL or FULL, got {self.synchronous!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class MiniSQLBackend(StorageBackend):
    """States in one SQLite file, through the standard library (``minisql:///path.db``)."""

    backend_type = "minisql"

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config)
        self.options = parse_options(MiniSQLOptions, config.extra)
        path = unquote(urlsplit(config.connection_url or "").path)
        if not path:
            raise ConfigError("connection_url", "minisql:// URL has no file path")
        self.path = path
        self._lock = threading.Lock()
        try:
            # Autocommit mode: transactions are opened explicitly below.
            self._db = sqlite3.connect(
                path,
                timeout=self.options.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={self.options.synchronous}")
            with self._transaction(write=True) as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path!r}: {exc}", backend="minisql") from exc

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction under the instance lock; sqlite3 errors become StorageError."""
        if self._closed:
            raise StorageError("backend is closed", backend=self.backend_type)
        with self._lock:
            db = self._db
            try:
                # IMMEDIATE takes the file's write lock up front, so a batch's
                # head checks and its writes cannot interleave with another process.
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(str(exc), backend=self.backend_type) from exc

    # ------------------------------------------------------------------ writes
    def write_batch(self, writes: Sequence[Write]) -> None:
        with self._transaction(write=True) as db:
            tracker = HeadTracker()
            for write in writes:
                row = db.execute(
                    "SELECT head FROM states WHERE state_id = ?", (write.state_id,)
                ).fetchone()
                tracker.check(write, None if row is None else row[0])
                self._apply(db, write, None if row is None else row[0])

    def _apply(self, db: sqlite3.Connection, write: Write, head: int | None) -> None:
        sid = write.state_id
        if head is None and write.kind != "snapshot":
            db.execute("INSERT INTO states VALUES (?, 0, 0, '{}', '{}')", (sid,))
            head = 0
        if write.kind == "version":
            version = write.version
            assert version is not None
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?)",
                (sid, version.number, version.id, _dumps(version.to_dict())),
            )
            db.execute("UPDATE states SET head = ? WHERE state_id = ?", (version.number, sid))
            if version.checkpoint is not None:
                self._set_checkpoint(db, sid, Checkpoint(version.number, version.checkpoint))
        elif write.kind == "state":
            assert write.state is not None and head is not None
            self._set_checkpoint(db, sid, Checkpoint(head, write.state))
            if head == 0:
                db.execute(
                    "UPDATE states SET origin = ? WHERE state_id = ?", (_dumps(write.state), sid)
                )
        else:
            snapshot = write.snapshot
            assert snapshot is not None
            db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)",
                (sid, snapshot.id, _dumps(snapshot.to_dict())),
            )

    @staticmethod
    def _set_checkpoint(db: sqlite3.Connection, state_id: str, checkpoint: Checkpoint) -> None:
        db.execute(
            "UPDATE states SET cp_version = ?, cp_state = ? WHERE state_id = ?",
            (checkpoint.version, _dumps(checkpoint.state), state_id),
        )

    def delete_state(self, state_id: str) -> None:
        validate_state_id(state_id)
        with self._transaction(write=True) as db:
            if db.execute("DELETE FROM states WHERE state_id = ?", (state_id,)).rowcount == 0:
                raise NotFoundError("state", state_id)
            db.execute("DELETE FROM versions WHERE state_id = ?", (state_id,))
            db.execute("DELETE FROM snapshots WHERE state_id = ?", (state_id,))

    def replace_version(self, state_id: str, version: StateVersion) -> None:
        with self._transaction(write=True) as db:
            db.execute(
                "UPDATE versions SET data = ? WHERE state_id = ? AND number = ?",
                (_dumps(version.to_dict()), state_id, version.number),
            )

    def store_checkpoint(self, state_id: str, checkpoint: Checkpoint) -> None:
        with self._transaction(write=True) as db:
            self._set_checkpoint(db, state_id, checkpoint)

    def delete_versions_before(self, state_id: str, number: int) -> int:
        with self._transaction(write=True) as db:
            cursor = db.execute(
                "DELETE FROM versions WHERE state_id = ? AND number < ?", (state_id, number)
            )
            return cursor.rowcount

    # ------------------------------------------------------------------- reads
    def read_head(self, state_id: str) -> int | None:
        with self._transaction() as db:
            row = db.execute("SELECT head FROM states WHERE state_id = ?", (state_id,)).fetchone()
        return None if row is None else int(row[0])

    def read_checkpoint(self, state_id: str) -> Checkpoint | None:
        with self._transaction() as db:
            return self._checkpoint(db, state_id)

    @staticmethod
    def _checkpoint(db: sqlite3.Connection, state_id: str) -> Checkpoint | None:
        row = db.execute(
            "SELECT cp_version, cp_state FROM states WHERE state_id = ?", (state_id,)
        ).fetchone()
        return None if row is None else Checkpoint(int(row[0]), json.loads(row[1]))

    def read_origin(self, state_id: str) -> State:
        with self._transaction() as db:
            row = db.execute("SELECT origin FROM states WHERE state_id = ?", (state_id,)).fetchone()
        origin: State = {} if row is None else json.loads(row[0])
        return origin

    def get_state(self, state_id: str) -> State:
        # Overrides the shared default, which reads the checkpoint and the
        # versions after it in two steps: here both come from one snapshot.
        validate_state_id(state_id)
        with self._transaction() as db:
            checkpoint = self._checkpoint(db, state_id)
            if checkpoint is None:
                raise NotFoundError("state", state_id)
            tail = self._versions(db, state_id, checkpoint.version, None)
        check_consecutive(state_id, checkpoint.version, tail)
        return replay(checkpoint.state, tail, state_id)

    def read_version(
        self, state_id: str, number: int | None, version_id: str | None
    ) -> StateVersion | None:
        key: int | str | None = number
        query = "SELECT data FROM versions WHERE state_id = ? AND number = ?"
        if number is None:
            key, query = version_id, "SELECT data FROM versions WHERE state_id = ? AND id = ?"
        with self._transaction() as db:
            row = db.execute(query, (state_id, key)).fetchone()
        return None if row is None else StateVersion.from_dict(json.loads(row[0]))

    @staticmethod
    def _versions(
        db: sqlite3.Connection, state_id: str, after: int, limit: int | None
    ) -> list[StateVersion]:
        rows = db.execute(
            "SELECT data FROM versions WHERE state_id = ? AND number > ? ORDER BY number LIMIT ?",
            (state_id, after, -1 if limit is None else max(limit, 0)),
        ).fetchall()
        return [StateVersion.from_dict(json.loads(row[0])) for row in rows]

    def get_versions(
        self, state_id: str, after: int = 0, limit: int | None = None
    ) -> list[StateVersion]:
        validate_state_id(state_id)
        with self._transaction() as db:
            return self._versions(db, state_id, after, limit)

    def get_version_history(
        self, state_id: str, limit: int = 50, before: int | None = None
    ) -> list[StateVersion]:
        validate_state_id(state_id)
        with self._transaction() as db:
            exists = db.execute("SELECT 1 FROM states WHERE state_id = ?", (state_id,))
            if exists.fetchone() is None:
                raise NotFoundError("state", state_id)
            rows = db.execute(
                "SELECT data FROM versions WHERE state_id = ? AND number < ? "
                "ORDER BY number DESC LIMIT ?",
                (state_id, 2**62 if before is None else before, max(limit, 0)),
            ).fetchall()
        return [StateVersion.from_dict(json.loads(row[0])) for row in rows]

    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        validate_state_id(state_id)
        with self._transaction() as db:
            row = db.execute(
                "SELECT data FROM snapshots WHERE state_id = ? AND id = ?", (state_id, snapshot_id)
            ).fetchone()
        if row is None:
            raise NotFoundError("snapshot", state_id, snapshot_id)
        return StateSnapshot.from_dict(json.loads(row[0]))

    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        validate_state_id(state_id)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT data FROM snapshots WHERE state_id = ?", (state_id,)
            ).fetchall()
        snapshots = [StateSnapshot.from_dict(json.loads(row[0])) for row in rows]
        return sorted(snapshots, key=lambda s: (s.version, s.timestamp, s.id))

    def list_states(
        self, prefix: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[str]:
        # TEXT compares as UTF-8 bytes (BINARY collation): code-point order.
        query = "SELECT state_id FROM states WHERE state_id > ?"
        params: list[Any] = [after if after is not None else ""]
        if prefix:
            query += " AND substr(state_id, 1, ?) = ?"
            params += [len(prefix), prefix]
        query += " ORDER BY state_id LIMIT ?"
        params.append(max(limit, 0))
        with self._transaction() as db:
            rows = db.execute(query, params).fetchall()
        return [row[0] for row in rows]

    # ------------------------------------------------------------ housekeeping
    def ping(self) -> None:
        with self._transaction() as db:
            db.execute("SELECT 1").fetchone()

    def stats(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"backend_type": self.backend_type, "path": self.path}
        if self._closed:
            return {**figures, "closed": True}
        with self._transaction() as db:
            for table in ("states", "versions", "snapshots"):
                count = f"SELECT count(*) FROM {table}"  # noqa: S608  (fixed table names)
                figures[table] = db.execute(count).fetchone()[0]
        return {**figures, "closed": False}

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._db.close()
        super().close()
