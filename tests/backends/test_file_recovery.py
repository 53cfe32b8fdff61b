"""File backend: damaged files, torn writes and interrupted batches.

Crashes are simulated in a child process that ``os._exit``s at a chosen point
of a write (no cleanup runs, exactly like a kill), then the parent reopens
the folder and checks what is visible.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agui_state.backends.file.io import FileIO
from agui_state.errors import CorruptDataError, NotFoundError, StorageError
from agui_state.models import StateVersion
from tests.backends.test_file import (
    REPO_ROOT,
    all_files,
    checkpoint_file,
    only_log,
    open_backend,
    read_lines,
    snapshot,
    state_after,
    version,
)


# ------------------------------------------------------------ checkpoints
def test_corrupt_checkpoint_without_backup_names_the_file(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base, enable_backups=False, backup_count=0) as backend:
        backend.set_state("t", {"big": "x" * 200})
        path = checkpoint_file(base)
        path.write_bytes(path.read_bytes()[:50])  # truncated
        with pytest.raises(CorruptDataError) as info:
            backend.get_state("t")
        assert info.value.location == str(path)
        assert "no usable backup" in str(info.value)


@pytest.mark.parametrize("damaged", [1, 2], ids=["file", "file+newest-backup"])
def test_corrupt_checkpoint_recovers_from_newest_good_backup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damaged: int
) -> None:
    base = tmp_path / "data"
    with open_backend(base, backup_count=3) as backend:
        for i in range(1, 5):
            backend.set_state("t", {"i": i})  # file: 4, backups: 3, 2, 1
        path = checkpoint_file(base)
        victims = [path, path.with_name(path.name + ".bak.1")][:damaged]
        for victim in victims:
            victim.write_bytes(b'{"format": 1, "kind": "checkp')
        with caplog.at_level(logging.WARNING):
            assert backend.get_state("t") == {"i": 4 - damaged}
        assert "recovered from backup" in caplog.text and str(path) in caplog.text
        assert backend.stats()["corrupt_files_recovered"] == 1
        # Put back in place; the damaged file is kept aside for inspection.
        assert json.loads(path.read_bytes())["state"] == {"i": 4 - damaged}
        assert path.with_name(path.name + ".corrupt").read_bytes().startswith(b'{"format": 1')
        assert backend.get_state("t") == {"i": 4 - damaged}
        assert backend.stats()["corrupt_files_recovered"] == 1


def test_missing_checkpoint_file_is_corrupt_data(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base, enable_backups=False, backup_count=0) as backend:
        backend.save_version("t", version("t", 1))
        checkpoint_file(base).unlink()
        with pytest.raises(CorruptDataError, match="missing"):
            backend.get_state("t")


# -------------------------------------------------------------- torn tails
TORN_TAILS = {
    "partial-line": b'{"format": 1, "kind": "version", "id": "x", "num',
    "zero-filled": b"\x00" * 4096,
    "garbage-line": b"#!garbage\n",
    "half-batch": None,  # two complete lines of a three-line batch (built below)
}


@pytest.mark.parametrize("kind", list(TORN_TAILS))
def test_torn_tail_is_ignored_then_cut_by_the_next_writer(tmp_path: Path, kind: str) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        for n in range(1, 4):
            backend.save_version("t", version("t", n))
    log = only_log(base)
    good = log.read_bytes()
    tail = TORN_TAILS[kind]
    if tail is None:
        lines = []
        for n in (4, 5):
            data = version("t", n).to_dict()
            data["batch_end"] = 6
            lines.append(json.dumps(data).encode() + b"\n")
        tail = b"".join(lines)
    log.write_bytes(good + tail)
    with open_backend(base) as backend:
        assert backend.head_version("t") == 3
        assert backend.get_state("t") == state_after(3)
        assert [v.number for v in backend.get_versions("t")] == [1, 2, 3]
        backend.save_version("t", version("t", 4))  # numbered 4: the torn data never counted
        assert backend.stats()["recovered_torn_tails"] == 1
        assert backend.get_state("t") == state_after(4)
    assert log.read_bytes().startswith(good)
    assert [line.get("number") for line in read_lines(log)] == [None, 1, 2, 3, 4]


def test_corrupt_middle_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        for n in range(1, 5):
            backend.save_version("t", version("t", n))
    log = only_log(base)
    lines = log.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"broken": \n'  # version 2 (line 3; line 1 is the header)
    log.write_bytes(b"".join(lines))
    with open_backend(base) as backend:
        for read in (backend.get_state, backend.get_versions, backend.head_version):
            with pytest.raises(CorruptDataError) as info:
                read("t")
            assert info.value.location == f"{log} line 3"
        with pytest.raises(CorruptDataError):
            backend.save_version("t", version("t", 5))  # never append after damage
    assert log.read_bytes() == b"".join(lines)


def test_version_out_of_sequence_is_corrupt(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        for n in range(1, 4):
            backend.save_version("t", version("t", n))
    log = only_log(base)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([lines[0], lines[1], lines[3], lines[2]]))
    with open_backend(base) as backend, pytest.raises(CorruptDataError, match="out of sequence"):
        backend.get_state("t")


# ---------------------------------------------------- multi-file batches
def _two_states(base: Path) -> None:
    with open_backend(base, backup_count=2) as backend:
        for sid in ("a", "b"):
            backend.save_version(sid, version(sid, 1))
        backend.set_state("a", {"k1": 1, "from": "set_state"})


def _batch(backend: Any) -> None:
    """Versions of two states, a checkpoint and a snapshot: the journal path."""
    with backend.begin_transaction() as tx:
        tx.save_version("a", version("a", 2, checkpoint={"k1": 1, "k2": 2, "cp": True}))
        tx.save_version("b", version("b", 2))
        tx.save_snapshot("a", snapshot("a", "snap", 2, {"k1": 1, "k2": 2}))
        tx.save_version("c", version("c", 1))  # and a state created on the way


def _assert_untouched(base: Path, sizes: dict[Path, int]) -> None:
    with open_backend(base) as backend:
        assert (backend.head_version("a"), backend.head_version("b")) == (1, 1)
        assert backend.get_state("a") == {"k1": 1, "from": "set_state"}
        assert backend.get_state("b") == state_after(1)
        assert not backend.exists("c")
        assert backend.list_states() == ["a", "b"]
        assert backend.list_snapshots("a") == []
        _batch(backend)  # and the same batch goes through afterwards
        assert backend.get_state("a") == {"k1": 1, "k2": 2, "cp": True}
    for path, size in sizes.items():
        assert path.stat().st_size >= size
    assert not [p for p in (base / "journal").iterdir() if not p.name.endswith(".tmp")]


def _sizes(base: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in all_files(base / "versions")}


def test_batch_error_between_file_writes_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "data"
    _two_states(base)
    sizes = _sizes(base)
    real_append = FileIO.append
    calls = []

    def second_append_fails(self: FileIO, path: Path, data: bytes, **kw: Any) -> int:
        calls.append(path)
        if len(calls) == 2:
            raise StorageError(f"injected failure appending to {path}")
        return real_append(self, path, data, **kw)

    with open_backend(base) as backend:
        monkeypatch.setattr(FileIO, "append", second_append_fails)
        with pytest.raises(StorageError, match="injected"):
            _batch(backend)
        monkeypatch.undo()
        assert backend.stats()["journal_rollbacks"] == 1
        assert {p: p.stat().st_size for p in sizes} == sizes  # first append cut off again
    _assert_untouched(base, sizes)


CRASH_SCRIPT = r"""
import os, sys
from pathlib import Path
from agui_state.backends.file.io import FileIO
from agui_state.backends.file.journal import Journal
from tests.backends.test_file_recovery import _batch, open_backend

base, point = Path(sys.argv[1]), sys.argv[2]
backend = open_backend(base, fsync=True, backup_count=2)

def crash(*args, **kwargs):
    os._exit(17)

def after(real, n, counts=lambda *args: True):
    calls = []
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        if counts(*args):
            calls.append(1)
        if len(calls) == n:
            crash()
        return result
    return wrapper

def to_log(self, path, *args):
    return path.suffix == ".log"  # not the index entry of the created state

if point == "after-first-append":
    FileIO.append = after(FileIO.append, 1, to_log)
elif point == "after-all-appends":
    FileIO.append = after(FileIO.append, 2, to_log)
elif point == "in-rotation":
    FileIO.rotate_backups = crash
elif point == "before-commit":
    Journal.commit = crash
elif point == "after-commit":
    Journal.commit = after(Journal.commit, 1)
_batch(backend)
print("finished without crashing")
"""


def _run_crash(tmp_path: Path, script: str, *args: str) -> None:
    path = tmp_path / "crash.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, str(path), *args], cwd=REPO_ROOT, env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 17, proc.stderr.decode()


@pytest.mark.parametrize(
    "point",
    ["after-first-append", "after-all-appends", "before-commit", "after-commit", "in-rotation"],
)
def test_batch_crash_between_file_writes(tmp_path: Path, point: str) -> None:
    base = tmp_path / "data"
    _two_states(base)
    sizes = _sizes(base)
    _run_crash(tmp_path, CRASH_SCRIPT, str(base), point)
    if point in ("after-commit", "in-rotation"):  # past the commit point: the batch stands
        with open_backend(base) as backend:
            assert (backend.head_version("a"), backend.head_version("b")) == (2, 2)
            assert backend.get_state("a") == {"k1": 1, "k2": 2, "cp": True}
            assert backend.get_state("c") == state_after(1)
            assert [s.id for s in backend.list_snapshots("a")] == ["snap"]
        assert not list((base / "journal").glob("*.old"))  # leftovers cleaned on open
        return
    assert list((base / "journal").glob("*.undo.json"))  # the crash left its undo record
    _assert_untouched(base, sizes)


CREATE_CRASH_SCRIPT = r"""
import os, sys
from pathlib import Path
from agui_state.backends.file.io import FileIO
from tests.backends.test_file import open_backend, snapshot, version

backend = open_backend(Path(sys.argv[1]), fsync=True)
real = FileIO.write_atomic
def write_atomic(self, path, data, **kwargs):
    if path.suffix == ".log":
        os._exit(17)  # checkpoint and snapshot are written, the log (commit point) is not
    return real(self, path, data, **kwargs)
FileIO.write_atomic = write_atomic
with backend.begin_transaction() as tx:
    tx.save_version("new", version("new", 1))
    tx.save_snapshot("new", snapshot("new", "s", 1, {}))
"""


def test_crash_while_creating_a_state_leaves_nothing_visible(tmp_path: Path) -> None:
    base = tmp_path / "data"
    open_backend(base).close()
    _run_crash(tmp_path, CREATE_CRASH_SCRIPT, str(base))
    with open_backend(base) as backend:
        assert not backend.exists("new")
        assert backend.list_states() == []
        assert backend.list_snapshots("new") == []
        backend.set_state("new", {"fresh": True})
        assert backend.list_snapshots("new") == []  # the crashed batch's snapshot is gone
        assert backend.get_state("new") == {"fresh": True}
        assert backend.list_states() == ["new"]


def test_unreadable_undo_record_is_quarantined(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = tmp_path / "data"
    _two_states(base)
    (base / "journal" / "123-1-abcd.undo.json").write_bytes(b"not json")
    with caplog.at_level(logging.ERROR), open_backend(base) as backend:
        backend.save_version("a", version("a", 2))
        assert backend.head_version("a") == 2
    assert "unreadable" in caplog.text
    assert (base / "journal" / "123-1-abcd.undo.json.corrupt").exists()


def test_undo_record_cannot_point_outside_the_folder(tmp_path: Path) -> None:
    base = tmp_path / "data"
    _two_states(base)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    record = {
        "txid": "1-1-x",
        "states": ["a"],
        "ops": [{"op": "unlink", "path": "../precious.txt"}],
    }
    (base / "journal" / "1-1-x.undo.json").write_text(json.dumps(record))
    with open_backend(base) as backend, pytest.raises(CorruptDataError, match="unsafe path"):
        backend.save_version("a", version("a", 2))
    assert outside.read_text() == "keep me"


def test_enospc_while_creating_is_storage_error_and_invisible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        real = FileIO._write_all

        def full_disk(self: FileIO, fd: int, data: bytes) -> None:
            if data.startswith(b'{"format": 1, "kind": "log"'):
                raise OSError(errno.ENOSPC, "No space left on device")
            real(self, fd, data)

        monkeypatch.setattr(FileIO, "_write_all", full_disk)
        with pytest.raises(StorageError, match="no space left"):
            backend.save_version("t", version("t", 1))
        monkeypatch.undo()
        assert not backend.exists("t")
        assert backend.list_states() == []
        assert not [p for p in all_files(base / "versions") if p.name.endswith(".tmp")]
        backend.save_version("t", version("t", 1))
        assert backend.get_state("t") == state_after(1)


def test_reader_cache_notices_rolled_back_and_rewritten_lines(tmp_path: Path) -> None:
    # Another process's batch appended a line, a reader cached it, the batch was rolled
    # back (log cut) and a different version 4 was written at the same offset.
    base = tmp_path / "data"
    writer, reader = open_backend(base), open_backend(base)
    for n in range(1, 4):
        writer.save_version("a", version("a", n))
    log = only_log(base)
    size = log.stat().st_size
    dirty = version("a", 4)
    with log.open("ab") as fh:
        fh.write(json.dumps(dirty.to_dict()).encode() + b"\n")
    assert reader.get_version("a", dirty.id).number == 4  # read while "in flight"
    os.truncate(log, size)  # the rollback
    clean = StateVersion(
        "other-id",
        "a",
        4,
        None,
        dirty.timestamp,
        [{"op": "add", "path": "/longer", "value": "x" * 50}],
    )
    writer.save_version("a", clean)
    assert reader.get_version("a", 4).id == "other-id"
    assert reader.get_state("a") == {**state_after(3), "longer": "x" * 50}
    with pytest.raises(NotFoundError):
        reader.get_version("a", dirty.id)
    writer.close()
    reader.close()
