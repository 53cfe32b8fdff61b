"""The error hierarchy: one root, messages that name what was wrong."""

from __future__ import annotations

import pytest

from agui_state import errors
from agui_state.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    CorruptDataError,
    InvalidPathError,
    LimitExceededError,
    NotFoundError,
    PatchError,
    QueueFullError,
    StateError,
    StorageError,
    TransactionError,
    ValidationError,
)


def test_every_public_error_derives_from_state_error() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, StateError), name


@pytest.mark.parametrize(
    "cls", [BackendUnavailableError, BackendTimeoutError, CorruptDataError, QueueFullError]
)
def test_storage_family(cls: type[Exception]) -> None:
    assert issubclass(cls, StorageError)


def test_patch_error_names_index_op_and_path() -> None:
    exc = PatchError("member 'x' not found", index=2, op="replace", path="/a/x")
    assert (exc.index, exc.op, exc.path) == (2, "replace", "/a/x")
    assert str(exc) == "patch operation 2 (replace '/a/x') failed: member 'x' not found"
    assert str(PatchError("not a list")) == "patch failed: not a list"


def test_messages_name_the_offending_item() -> None:
    assert "'/a~1b'" in str(InvalidPathError("/a~1b", "no such member"))
    assert "metadata" in str(ValidationError("metadata", "not JSON"))
    nf = NotFoundError("version", "thread-1", 7)
    assert (nf.kind, nf.state_id, nf.item_id) == ("version", "thread-1", 7)
    assert "7" in str(nf) and "thread-1" in str(nf)
    assert isinstance(nf, LookupError)
    conflict = ConflictError("t", 3, 5)
    assert (conflict.expected, conflict.actual) == (3, 5)
    assert "expected version 3" in str(conflict) and "found version 5" in str(conflict)
    limit = LimitExceededError("max_depth", 70, 64, path="/a")
    assert "max_depth" in str(limit) and "70 > 64" in str(limit) and "/a" in str(limit)
    cfg = ConfigError("file_options.shard_count", "must be 1..4096")
    assert cfg.field == "file_options.shard_count" and isinstance(cfg, ValueError)
    corrupt = CorruptDataError("/data/states/x.json", "truncated", backend="file")
    assert "/data/states/x.json" in str(corrupt) and corrupt.backend == "file"
    full = QueueFullError(10, "t")
    assert full.capacity == 10 and "unchanged" in str(full)
    assert str(TransactionError("transaction already committed")) == "transaction already committed"
    assert str(StorageError("boom", backend="redis")) == "[redis] boom"
