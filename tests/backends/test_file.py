"""File backend specifics: names and layout, modes, backups, the index, error mapping.

Shared behaviour is in ``test_conformance.py``; damage and crash handling in
``test_file_recovery.py`` and ``test_file_processes.py``, which use the helpers
defined here.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from agui_state.backends import create_backend
from agui_state.backends.base import Write
from agui_state.backends.file import FileBackend
from agui_state.backends.file import log as _filelog
from agui_state.backends.file.io import FileIO
from agui_state.backends.file.log import LogCache
from agui_state.backends.file.names import encode_name, shard_of
from agui_state.config import FileOptions, StorageConfig
from agui_state.errors import (
    BackendUnavailableError,
    ConflictError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from agui_state.models import State, StateSnapshot, StateVersion, new_id, utcnow

# ------------------------------------------------------------------ helpers
# (also imported by test_file_recovery.py and test_file_processes.py)
REPO_ROOT = Path(__file__).resolve().parents[2]


def open_backend(base: Path, **options: Any) -> FileBackend:
    """A file backend on ``base``; fsync off unless asked (speed)."""
    options.setdefault("fsync", False)
    fo = FileOptions(base_dir=str(base), **options)
    return FileBackend(StorageConfig(type="file", file_options=fo))


def version(
    state_id: str, number: int, *, checkpoint: State | None = None, **meta: Any
) -> StateVersion:
    """Version ``number`` of the standard history: it adds ``/k<number>`` = number."""
    delta = [{"op": "add", "path": f"/k{number}", "value": number}]
    return StateVersion(new_id(), state_id, number, None, utcnow(), delta, dict(meta), checkpoint)


def state_after(number: int, start: int = 0) -> State:
    """The standard history's state after ``number`` (from an empty state at ``start``)."""
    return {f"k{i}": i for i in range(start + 1, number + 1)}


def snapshot(state_id: str, snap_id: str, at: int, state: State) -> StateSnapshot:
    """A snapshot with a chosen id."""
    return StateSnapshot(snap_id, state_id, at, utcnow(), state, label=f"at {at}")


def all_files(root: Path) -> list[Path]:
    """Every file under ``root`` (recursively)."""
    return [Path(folder, name) for folder, _dirs, names in os.walk(root) for name in names]


def log_files(base: Path) -> list[Path]:
    """The version logs under ``base``."""
    return [p for p in all_files(base / "versions") if p.suffix == ".log"]


def only_log(base: Path) -> Path:
    """The single version log under ``base``."""
    (path,) = log_files(base)
    return path


def checkpoint_file(base: Path) -> Path:
    """The single checkpoint file under ``base``."""
    (path,) = [p for p in all_files(base / "states") if p.name.endswith(".json")]
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Parse every line of a JSON-lines file."""
    return [json.loads(line) for line in path.read_bytes().splitlines()]


HOSTILE_IDS = [
    "../../etc/passwd",
    "/abs/path",
    "..",
    ".",
    "CON",
    "nul",
    "COM1.txt",
    "a/b\\c",
    "trailing dot.",
    "trailing space ",
    "tab\there\nnewline\x01\x7f",
    "ünïcødé/日本語",
    "emoji 🎉🚀",
    "x" * 1024,
    "Thread",
    "thread",
    "THREAD",
    "100%",
    "%2e%2e%2f",
    "a-" + "0" * 32,  # looks like an encoded name
    "shard_3",
    "journal",
    "state-ids.jsonl",
]

SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[a-z0-9]+)*$")


@pytest.mark.parametrize("sharding", [True, False], ids=["sharded", "flat"])
def test_hostile_ids_round_trip_and_stay_inside(tmp_path: Path, sharding: bool) -> None:
    base = tmp_path / "data"
    with open_backend(base, enable_sharding=sharding, shard_count=4) as backend:
        for sid in HOSTILE_IDS:
            backend.save_version(sid, version(sid, 1))
            backend.save_snapshot(sid, snapshot(sid, sid, 1, state_after(1)))  # hostile snap id
        assert backend.list_states(limit=1000) == sorted(HOSTILE_IDS)
        for sid in HOSTILE_IDS:
            assert backend.get_state(sid) == state_after(1)
            assert backend.get_snapshot(sid, sid).id == sid
            assert [s.id for s in backend.list_snapshots(sid)] == [sid]
    # Nothing was created outside the base folder, and every name is tame.
    assert {p.relative_to(tmp_path).parts[0] for p in all_files(tmp_path)} == {"data"}
    for path in all_files(base):
        assert SAFE_NAME.match(path.name), path
    # One log per id, distinct even when compared case-insensitively.
    names = [p.name.casefold() for p in log_files(base)]
    assert len(names) == len(set(names)) == len(HOSTILE_IDS)
    # A new instance (fresh in-memory index) returns the exact ids too.
    with open_backend(base, enable_sharding=sharding, shard_count=4) as again:
        assert again.list_states(limit=1000) == sorted(HOSTILE_IDS)
        assert again.list_states(prefix="T") == ["THREAD", "Thread"]


def test_names_and_shards_are_stable() -> None:
    # Stored data depends on these values: changing the encoding orphans every existing file.
    assert encode_name("thread-42") == "thread_42-f1e83d636e6271f430a37d2b565fcae2"
    assert encode_name("日本") == "b216d9c2c86874c0898a302724c8b193"
    assert shard_of("thread-42", 16) == 4
    assert [shard_of(f"s{i}", 4) for i in range(8)] == [1, 2, 0, 2, 0, 3, 1, 0]


def test_sharded_layout(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base, enable_sharding=True, shard_count=4) as backend:
        backend.save_version("thread-42", version("thread-42", 1))
        backend.save_snapshot("thread-42", snapshot("thread-42", "snap-1", 1, state_after(1)))
    shard = f"shard_{shard_of('thread-42', 4)}"
    name = encode_name("thread-42")
    assert (base / "versions" / shard / f"{name}.log").is_file()
    assert (base / "states" / shard / f"{name}.json").is_file()
    assert (base / "snapshots" / shard / name / f"{encode_name('snap-1')}.json").is_file()
    assert json.loads((base / "agui-state.json").read_text())["shard_count"] == 4


def test_flat_layout_and_layout_marker_wins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = tmp_path / "data"
    with open_backend(base, enable_sharding=False) as backend:
        backend.save_version("t", version("t", 1))
    name = encode_name("t")
    assert (base / "versions" / f"{name}.log").is_file()
    assert (base / "states" / f"{name}.json").is_file()
    assert not any(p.name.startswith("shard_") for p in (base / "versions").iterdir())
    # Reopened with other sharding options, the folder's own layout is used (with a warning).
    with caplog.at_level(logging.WARNING), open_backend(base, enable_sharding=True) as again:
        assert again.get_state("t") == state_after(1)
    assert "using that layout" in caplog.text


def test_human_readable_files(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        backend.set_state("t", {"greeting": "grüß dich"})
        backend.save_version("t", version("t", 1, author="me"))
    header, line = read_lines(only_log(base))
    assert header["kind"] == "log" and header["state_id"] == "t" and header["base"] == 0
    assert line["number"] == 1 and line["metadata"] == {"author": "me"}
    text = checkpoint_file(base).read_text(encoding="utf-8")
    assert "grüß dich" in text
    assert json.loads(text)["state"] == {"greeting": "grüß dich"}


@pytest.mark.parametrize("mode", [0o666, 0o600])
def test_file_mode_applies_to_every_file(tmp_path: Path, mode: int) -> None:
    base = tmp_path / "data"
    old = os.umask(0o077 if mode == 0o666 else 0o022)  # the umask must not matter
    try:
        with open_backend(base, file_mode=mode, backup_count=2) as backend:
            backend.set_state("a", {"x": 1})
            backend.set_state("a", {"x": 2})  # makes a backup
            backend.save_version("a", version("a", 1))
            backend.save_snapshot("a", snapshot("a", "s", 1, {}))
            with backend.begin_transaction() as tx:  # journal path, a second state
                tx.save_version("a", version("a", 2))
                tx.save_version("b", version("b", 1))
    finally:
        os.umask(old)
    files = all_files(base)
    assert any(p.name.endswith(".bak.1") for p in files)
    assert any(p.suffix == ".lock" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    for folder in [base / "versions", base / "states"]:
        assert stat.S_IMODE(folder.stat().st_mode) & 0o700 == 0o700


def test_backup_rotation_keeps_exactly_backup_count(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base, backup_count=3) as backend:
        for i in range(1, 7):
            backend.set_state("t", {"i": i})
    cp = checkpoint_file(base)
    backups = sorted(p.name for p in cp.parent.iterdir() if ".bak." in p.name)
    assert backups == [f"{cp.name}.bak.{g}" for g in (1, 2, 3)]
    for gen, i in [(1, 5), (2, 4), (3, 3)]:
        assert json.loads(cp.with_name(f"{cp.name}.bak.{gen}").read_bytes())["state"] == {"i": i}
    # Lowering backup_count drops the extra generations at the next rotation.
    with open_backend(base, backup_count=1) as backend:
        backend.set_state("t", {"i": 7})
    assert sorted(p.name for p in cp.parent.iterdir() if ".bak." in p.name) == [f"{cp.name}.bak.1"]


def test_no_backups_when_disabled(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base, enable_backups=False, backup_count=0) as backend:
        for i in range(3):
            backend.set_state("t", {"i": i})
    assert not [p for p in all_files(base) if ".bak." in p.name]


def test_list_states_reads_only_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_backend(tmp_path / "data") as backend:
        ids = [f"s{i:03d}" for i in range(30)]
        for sid in ids:
            backend.save_version(sid, version(sid, 1))

        def no_reads(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("list_states read a state file")

        monkeypatch.setattr(FileIO, "read_bytes", no_reads)
        monkeypatch.setattr(_filelog, "scan_log", no_reads)
        pages, after = [], None
        while page := backend.list_states(limit=7, after=after):
            pages.append(page)
            after = page[-1]
        assert [sid for page in pages for sid in page] == ids
        assert [len(p) for p in pages] == [7, 7, 7, 7, 2]


def test_index_drops_dangling_ids_and_rebuilds_when_damaged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = tmp_path / "data"
    index = base / "index" / "state-ids.jsonl"
    with open_backend(base) as backend:
        for sid in ["b", "a", "c"]:
            backend.save_version(sid, version(sid, 1))
        # An id listed by a creation that crashed before its log existed is not shown.
        with index.open("ab") as fh:
            fh.write(b'{"add": "ghost"}\n')
        assert backend.list_states() == ["a", "b", "c"]
    # A damaged index (bad line in the middle) is rebuilt from the log headers.
    lines = index.read_bytes().splitlines(keepends=True)
    index.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))
    with caplog.at_level(logging.WARNING), open_backend(base) as backend:
        assert backend.list_states() == ["a", "b", "c"]
    assert "rebuilding" in caplog.text
    # A lost index too.
    index.unlink()
    with open_backend(base) as backend:
        assert backend.list_states() == ["a", "b", "c"]
        assert backend.stats()["states"] == 3


def test_index_compacts_after_many_deletions(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        for i in range(700):
            backend.set_state(f"s{i}", {})
        for i in range(690):
            backend.delete_state(f"s{i}")
        assert backend.list_states() == [f"s{i}" for i in sorted(range(690, 700), key=str)]
    # Compacted on the way: far fewer lines than the 1390 add/del events.
    assert len(read_lines(base / "index" / "state-ids.jsonl")) < 700
    with open_backend(base) as backend:
        assert backend.list_states() == [f"s{i}" for i in sorted(range(690, 700), key=str)]


def test_update_is_one_append_and_one_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_backend(tmp_path / "data", fsync=True) as backend:
        backend.set_state("big", {"blob": "x" * 1_000_000})
        backend.save_version("big", version("big", 1))
        appended: list[int] = []
        real_append = FileIO.append

        def spy_append(self: FileIO, path: Path, data: bytes, **kw: Any) -> int:
            appended.append(len(data))
            return real_append(self, path, data, **kw)

        def no_rewrite(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a whole file was rewritten")

        monkeypatch.setattr(FileIO, "append", spy_append)
        monkeypatch.setattr(FileIO, "write_atomic", no_rewrite)
        before = backend.stats()["fsyncs"]
        backend.save_version("big", version("big", 2))
        assert backend.stats()["fsyncs"] == before + 1
        assert len(appended) == 1 and appended[0] < 1000
        assert backend.get_state("big")["k2"] == 2


def test_reads_parse_only_new_log_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "data"
    writer = open_backend(base)
    reader = open_backend(base)
    for n in range(1, 51):
        writer.save_version("t", version("t", n))
    assert reader.get_state("t") == state_after(50)
    parsed: list[int] = []
    real = _filelog._parse_tail

    def spy(index: Any, tail: bytes, path: Path) -> None:
        parsed.append(len(tail))
        real(index, tail, path)

    monkeypatch.setattr(_filelog, "_parse_tail", spy)
    assert reader.get_versions("t", after=45)[0].number == 46
    assert parsed == []  # unchanged log: nothing re-parsed
    writer.save_version("t", version("t", 51))
    assert reader.get_state("t") == state_after(51)
    assert len(parsed) == 1 and parsed[0] < 300  # only the new line
    writer.close()
    reader.close()


def test_delete_removes_every_file_of_the_state(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base, backup_count=2) as backend:
        backend.save_version("keep", version("keep", 1))
        for i in range(3):
            backend.set_state("gone", {"i": i})
        backend.save_snapshot("gone", snapshot("gone", "s1", 0, {}))
        backend.delete_state("gone")
        name = encode_name("gone")
        assert not [p for p in all_files(base) if name in str(p)]
        assert backend.list_states() == ["keep"]
        with pytest.raises(NotFoundError):
            backend.delete_state("gone")
        # Recreated, it starts clean (no old snapshots or backups).
        backend.save_version("gone", version("gone", 1))
        assert backend.list_snapshots("gone") == []
        assert backend.get_state("gone") == state_after(1)


def test_prune_to_zero_keeps_state_readable_after_reopen(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        for n in range(1, 11):
            cp = state_after(n) if n == 10 else None  # newest checkpoint only on a log line
            backend.save_version("t", version("t", n, checkpoint=cp))
        assert backend.prune_history("t", 0) == 10
    header, *rest = read_lines(only_log(base))
    assert rest == [] and header["base"] == 10
    with open_backend(base) as backend:
        assert backend.get_state("t") == state_after(10)
        assert backend.head_version("t") == 10
        backend.save_version("t", version("t", 11))
        assert backend.get_state("t") == state_after(11)


def test_non_json_value_writes_nothing(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        backend.save_version("t", version("t", 1))
        with pytest.raises(ValidationError):
            backend.write_batch([
                Write.of_version("t", version("t", 2)),
                Write.of_state("u", {"bad": {1, 2}}),
            ])  # fmt: skip
        assert backend.head_version("t") == 1
        assert not backend.exists("u")


def test_url_construction_and_stats(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/data?shard_count=8&fsync=false&backup_count=2"
    with create_backend(url) as backend:
        assert isinstance(backend, FileBackend)
        backend.save_version("t", version("t", 1))
        stats = backend.stats()
        assert stats["backend_type"] == "file"
        assert stats["base_dir"] == str(tmp_path / "data")
        assert stats["shard_count"] == 8 and stats["fsync"] is False
        assert stats["states"] == 1 and stats["writes"] == 1
        assert stats["bytes_on_disk"] > 0
        for key in ("fsyncs", "recovered_torn_tails", "corrupt_files_recovered"):
            assert stats[key] == 0
        backend.ping()
    with pytest.raises(StorageError, match="closed"):
        backend.get_state("t")


# ------------------------------------------------------------ error mapping
def test_unusable_base_folder_is_backend_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(BackendUnavailableError, match="file"):
        open_backend(blocker / "data")


def test_ping_reports_an_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_backend(tmp_path / "data") as backend:
        real_open = os.open

        def deny(path: Any, *args: Any, **kwargs: Any) -> int:
            if ".ping-" in str(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", deny)
        with pytest.raises(BackendUnavailableError, match="permission denied"):
            backend.ping()


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (errno.ENOSPC, "no space left"),
        (errno.EACCES, "permission denied"),
        (errno.EIO, "input/output"),
    ],
)
def test_oserror_during_append_is_storage_error_and_leaves_no_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, text: str
) -> None:
    base = tmp_path / "data"
    with open_backend(base, fsync=True) as backend:
        backend.save_version("t", version("t", 1))
        size = only_log(base).stat().st_size

        def failing_sync(fd: int) -> None:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "fdatasync", failing_sync)
        with pytest.raises(StorageError, match=text) as info:
            backend.save_version("t", version("t", 2))
        assert not isinstance(info.value, OSError) and isinstance(info.value.__cause__, OSError)
        assert str(only_log(base)) in str(info.value)
        monkeypatch.undo()
        assert only_log(base).stat().st_size == size  # the partial append was cut off again
        assert backend.head_version("t") == 1
        backend.save_version("t", version("t", 2))  # numbered 2: nothing was written before
        with pytest.raises(ConflictError):
            backend.save_version("t", version("t", 2))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_is_storage_error(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base, enable_sharding=False) as backend:
        backend.save_version("t", version("t", 1))
        folders = [base / "versions", base / "states", base / "index"]
        for folder in folders:
            folder.chmod(0o555)
        try:
            with pytest.raises(StorageError, match="permission denied"):
                backend.save_version("new", version("new", 1))
            assert backend.get_state("t") == state_after(1)  # reads still work
        finally:
            for folder in folders:
                folder.chmod(0o755)


def test_log_cache_is_bounded(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        for sid in "abc":
            for n in range(1, 4):
                backend.save_version(sid, version(sid, n))
    for cache, kept in [(LogCache(max_logs=2), 2), (LogCache(max_versions=5), 1)]:
        for path in sorted(log_files(base)):
            fd = os.open(path, os.O_RDONLY)
            try:
                index, _size, head = cache.refresh(fd, path)
            finally:
                os.close(fd)
            assert head == 3 and index.head == 3
        assert len(cache) == kept


def test_readers_see_a_consistent_prefix_while_a_thread_writes(tmp_path: Path) -> None:
    with open_backend(tmp_path / "data") as backend:
        backend.save_version("t", version("t", 1))
        done = threading.Event()
        problems: list[str] = []

        def read() -> None:
            while not done.is_set():
                try:
                    state = backend.get_state("t")
                    if state != state_after(len(state)):
                        problems.append(f"inconsistent state {sorted(state)}")
                    numbers = [v.number for v in backend.get_versions("t", after=len(state) - 1)]
                    if numbers[:1] != [len(state)] or numbers != list(
                        range(len(state), len(state) + len(numbers))
                    ):
                        problems.append(f"bad versions {numbers[:5]} after {len(state) - 1}")
                except Exception as exc:
                    problems.append(repr(exc))

        readers = [threading.Thread(target=read) for _ in range(3)]
        for thread in readers:
            thread.start()
        try:
            for n in range(2, 301):
                backend.save_version(
                    "t", version("t", n, checkpoint=state_after(n) if n % 25 == 0 else None)
                )
        finally:
            done.set()
            for thread in readers:
                thread.join()
        assert problems == []
        assert backend.get_state("t") == state_after(300)
