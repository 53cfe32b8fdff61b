"""File backend: the origin file (a state's content at version 0).

What it is for is in the conformance suite (``_conformance_origin.py``);
here: where it lives, that only ``set_state`` at head 0 writes it, that
re-initializing a state changes origin and checkpoint together (journaled,
rolled back on error or crash), and that damage is reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agui_state.backends.file.io import FileIO
from agui_state.errors import CorruptDataError, StorageError
from agui_state.models import State
from tests.backends.test_file import all_files, open_backend, version
from tests.backends.test_file_recovery import _run_crash

FIRST: State = {"first": True}
SECOND: State = {"second": True}


def origin_files(base: Path) -> list[Path]:
    """Every origin file under ``base``."""
    return all_files(base / "origins")


def test_only_set_state_at_head_zero_writes_the_origin_file(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        backend.save_version("by-version", version("by-version", 1))
        backend.set_state("empty", {})
        assert origin_files(base) == []  # no file means {}
        backend.set_state("t", FIRST)
        (path,) = origin_files(base)
        body = json.loads(path.read_bytes())
        assert (body["kind"], body["state_id"], body["state"]) == ("origin", "t", FIRST)
        before = (path.stat().st_ino, path.read_bytes())
        backend.save_version("t", version("t", 1, checkpoint={**FIRST, "k1": 1}))
        backend.save_version("t", version("t", 2))
        backend.set_state("t", {"repaired": True})  # head 2: a repair, not the origin
        backend.prune_history("t", 1)
        assert (path.stat().st_ino, path.read_bytes()) == before
        backend.delete_state("t")
        assert origin_files(base) == []


def _reinit_then_grow(base: Path) -> None:
    """After a failed re-initialization: FIRST must still be the origin."""
    with open_backend(base) as backend:
        assert backend.get_state("t") == FIRST
        assert not [p for p in (base / "journal").iterdir() if not p.name.endswith(".tmp")]
        backend.save_version("t", version("t", 1, checkpoint={**FIRST, "k1": 1}))
        assert backend.state_at("t", 0) == FIRST


def test_reinit_error_rolls_back_origin_and_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        backend.set_state("t", FIRST)
        real = FileIO.write_atomic

        def origin_write_fails(self: FileIO, path: Path, data: bytes, **kw: Any) -> None:
            if "origins" in path.parts:
                raise StorageError(f"injected failure writing {path}")
            real(self, path, data, **kw)

        monkeypatch.setattr(FileIO, "write_atomic", origin_write_fails)
        with pytest.raises(StorageError, match="injected"):
            backend.set_state("t", SECOND)
        monkeypatch.undo()
        assert backend.stats()["journal_rollbacks"] == 1
        assert backend.get_state("t") == FIRST
    _reinit_then_grow(base)


REINIT_CRASH_SCRIPT = r"""
import os, sys
from pathlib import Path
from agui_state.backends.file.io import FileIO
from agui_state.backends.file.journal import Journal
from tests.backends.test_file import open_backend

base, point = Path(sys.argv[1]), sys.argv[2]
backend = open_backend(base, fsync=True)
real = FileIO.write_atomic

def write_atomic(self, path, data, **kwargs):
    real(self, path, data, **kwargs)
    if point == "after-checkpoint" and path.parts[-3] == "states":
        os._exit(17)

FileIO.write_atomic = write_atomic
if point == "before-commit":
    Journal.commit = lambda *args: os._exit(17)
backend.set_state("t", {"second": True})
print("finished without crashing")
"""


@pytest.mark.parametrize("point", ["after-checkpoint", "before-commit"])
def test_reinit_crash_rolls_back_origin_and_checkpoint(tmp_path: Path, point: str) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        backend.set_state("t", FIRST)
    _run_crash(tmp_path, REINIT_CRASH_SCRIPT, str(base), point)
    assert list((base / "journal").glob("*.undo.json"))  # the crash left its undo record
    _reinit_then_grow(base)


def test_damaged_origin_file_is_corrupt_data(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        backend.set_state("t", FIRST)
        backend.save_version("t", version("t", 1, checkpoint={**FIRST, "k1": 1}))
        (path,) = origin_files(base)
        path.write_bytes(b'{"format": 1, "kind": "orig')
        assert backend.get_state("t") == {**FIRST, "k1": 1}  # get_state never reads it
        with pytest.raises(CorruptDataError) as info:
            backend.state_at("t", 0)
        assert info.value.location == str(path)
        path.write_text(json.dumps({"kind": "origin", "state_id": "other", "state": {}}))
        with pytest.raises(CorruptDataError, match="'other'"):
            backend.state_at("t", 0)
