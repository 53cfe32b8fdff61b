"""The command line: demo on the file backend, inspection, export/import, migrate."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agui_state import PersistentStateStore
from agui_state.backends import create_backend
from agui_state.cli import main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_demo_persists_and_resumes(tmp_path: Path) -> None:
    status, text = run("demo", "--dir", str(tmp_path / "d"))
    assert status == 0
    assert "current state (version 3)" in text
    assert "reopened from disk: version 3, total 11.5" in text
    assert "export holds 1 state(s), 3 version(s)" in text
    # The demo's thread is really on disk, and a second run resumes it.
    with create_backend(f"file://{tmp_path / 'd'}") as backend:
        assert backend.head_version("demo-thread") == 3
    status, text = run("demo", "--dir", str(tmp_path / "d"))
    assert "resumed thread 'demo-thread' at version 3" in text
    assert "current state (version 6)" in text


def test_module_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agui_state", "demo", "--dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "time travel to v2" in result.stdout


def test_inspection_commands(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'data'}"
    with PersistentStateStore(url, state_id="a") as store:
        store.set("/x", 1)
        store.set("/x", 2)
    with PersistentStateStore(url, state_id="b") as store:
        store.set("/y", 1)
    status, text = run("states", url)
    assert (status, text.split()) == (0, ["a", "b"])
    status, text = run("states", url, "--after", "a")
    assert text.split() == ["b"]
    status, text = run("history", url, "a")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["number"] for line in lines] == [2, 1]
    status, text = run("stats", url)
    assert json.loads(text)["backend_type"] == "file"


def test_export_import_and_migrate(tmp_path: Path) -> None:
    src = f"file://{tmp_path / 'src'}"
    with PersistentStateStore(src, state_id="t") as store:
        store.set("/a", [1, 2])
        store.create_persistent_snapshot(label="s")
    dump_path = tmp_path / "dump.json"
    assert run("export", src, "-o", str(dump_path))[0] == 0
    dump = json.loads(dump_path.read_text())
    assert [s["state_id"] for s in dump["states"]] == ["t"]
    dst = f"sqlite:///{tmp_path / 'dst.db'}"
    status, text = run("import", dst, str(dump_path))
    assert status == 0
    with create_backend(dst) as backend:
        assert backend.get_state("t") == {"a": [1, 2]}
        assert len(backend.list_snapshots("t")) == 1
    status, text = run("migrate", src, f"sqlite:///{tmp_path / 'copy.db'}")
    assert status == 0 and "verified=True" in text


def test_library_errors_exit_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = run("history", f"file://{tmp_path / 'empty'}", "missing")
    assert status == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: NotFoundError: state 'missing' not found"


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no command
        ["no-such-command"],
        ["states"],  # missing URL
        ["states", "memory://", "--limit", "many"],  # not an int
        ["history", "memory://", "t", "--no-such-option"],
    ],
)
def test_usage_errors_return_2_with_the_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, text = run(*argv)
    assert status == 2
    assert text == ""
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m agui_state")
    assert "error: " in err


def test_help_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help")[0] == 0
    assert "migrate" in capsys.readouterr().out


def test_the_process_exits_2_on_bad_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agui_state", "states"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "the following arguments are required: url" in result.stderr
