"""SQL backend: the ``states.origin`` column (schema migration 2).

What the origin is for is in the conformance suite (``_conformance_origin.py``);
here: which statements write the column, and the upgrade of a database
created at schema version 1.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from agui_state.backends.sql import SQLBackend
from agui_state.backends.sql.schema import MIGRATIONS, _define_tables
from agui_state.errors import CorruptDataError
from agui_state.testing.helpers import make_version
from tests.backends.test_sql import (
    MakeBackend,
    backend,
    base_url,
    dialect,
    make_backend,
    scalar,
)

__all__ = ["backend", "base_url", "dialect", "make_backend"]  # fixtures used here


def _origin(backend: SQLBackend, state_id: str) -> Any:
    st = backend._tables.states
    return scalar(backend, sa.select(st.c.origin).where(st.c.state_id == state_id))


def _add(number: int, sid: str, **kw: Any) -> Any:
    return make_version(sid, number, [{"op": "add", "path": f"/k{number}", "value": number}], **kw)


def test_origin_column_is_written_only_at_head_zero(backend: SQLBackend) -> None:
    backend.save_version("by-version", _add(1, "by-version"))
    assert _origin(backend, "by-version") is None  # NULL: {}
    backend.set_state("o", {"a": 1})
    backend.set_state("o", {"b": 2}, expected_version=0)  # head 0: replaced
    assert _origin(backend, "o") == {"b": 2}
    backend.save_version("o", _add(1, "o"))
    backend.set_state("o", {"r": 1})  # upsert path at head 1
    backend.set_state("o", {"r": 2}, expected_version=1)  # update path
    assert _origin(backend, "o") == {"b": 2}
    assert backend.state_at("o", 0) == {"b": 2}
    st = backend._tables.states
    with backend._engine.begin() as conn:
        conn.execute(sa.update(st).where(st.c.state_id == "o").values(origin=[1]))
    with pytest.raises(CorruptDataError, match="origin"):
        backend.state_at("o", 0)


def test_schema_1_database_is_upgraded(make_backend: MakeBackend, dialect: str) -> None:
    backend = make_backend(auto_setup=False)
    t = backend._tables
    v1 = _define_tables(t.metadata.schema, t.prefix, schema_version=1)
    now = sa.func.current_timestamp()
    with backend._engine.begin() as conn:
        if t.metadata.schema is not None:
            conn.execute(sa.schema.CreateSchema(t.metadata.schema, if_not_exists=True))
        MIGRATIONS[0].apply(conn, t)
        t.migrations.create(conn)
        conn.execute(sa.insert(t.migrations).values(version=1, description="v1", applied_at=now))
        conn.execute(
            sa.insert(v1.states).values(
                state_id="legacy",
                head=0,
                checkpoint_version=0,
                checkpoint={"old": True},
                created_at=now,
                updated_at=now,
            )
        )
        columns = sa.inspect(conn).get_columns(t.states.name, schema=t.metadata.schema)
    assert "origin" not in {c["name"] for c in columns}
    backend.setup()
    assert backend.stats()["schema_version"] == 3
    with backend._engine.connect() as conn:
        columns = sa.inspect(conn).get_columns(t.states.name, schema=t.metadata.schema)
        versions = conn.execute(sa.select(t.migrations.c.version)).scalars().all()
    assert "origin" in {c["name"] for c in columns}
    assert sorted(versions) == [1, 2, 3]
    # A state stored before the column existed reads as before (origin NULL).
    assert backend.get_state("legacy") == {"old": True}
    assert backend.state_at("legacy", 0) == {"old": True}  # its checkpoint is still at 0
    assert _origin(backend, "legacy") is None
    # New states keep their origin past a version checkpoint.
    backend.set_state("new", {"fresh": True})
    backend.save_version("new", _add(1, "new", checkpoint={"fresh": True, "k1": 1}))
    assert backend.state_at("new", 0) == {"fresh": True}
