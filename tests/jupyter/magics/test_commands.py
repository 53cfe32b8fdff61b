"""Every ``%state`` subcommand on the file backend, through the real shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError

from agui_state import NotFoundError, PatchError, PersistentStateStore, StateError
from agui_state.jupyter.magics import MagicStateError
from tests.jupyter.magics.conftest import Shell


def _seed(ip: Shell, url: str, state: str = "t1") -> None:
    ip.run(f"%state connect {url} --state {state}")
    ip.run('%state set /cart {"items": [], "total": 0}')
    ip.run('%%state patch --run-id run-1\n[{"op": "add", "path": "/cart/items/-", "value": "tea"},'
           ' {"op": "replace", "path": "/cart/total", "value": 7}]')  # fmt: skip
    ip.run("%state set --run-id run-2 /cart/total 6.5")


def _head(url: str, state: str = "t1") -> int:
    with PersistentStateStore(url, state_id=state) as store:
        return store.version


# ------------------------------------------------------------- connections
def test_connect_use_connections_close(
    ip: Shell, file_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    ip.run(f"%state connect {file_url} --as local --state t1")
    ip.run(f"%state connect {other}")
    out = capsys.readouterr().out
    assert "connected 'local'" in out and "connected 'sqlite'" in out
    frame = ip.run("%state connections")
    assert isinstance(frame, pd.DataFrame)
    assert frame[["name", "state", "current"]].values.tolist() == [
        ["local", "t1", False],
        ["sqlite", "default", True],
    ]
    ip.run("%state use local")
    assert ip.magic.connections.current.name == "local"
    ip.run("%state use thread-9")  # not a connection name: a state of the current one
    assert "state 'thread-9' (new: no versions yet)" in capsys.readouterr().out
    assert ip.magic.connections.current.state_id == "thread-9"
    ip.run("%state close")
    assert "closed 'local'; current: 'sqlite'" in capsys.readouterr().out
    with pytest.raises(UsageError, match="no connection named 'local'"):
        ip.run("%state close local")
    ip.run("%state close sqlite")
    with pytest.raises(UsageError, match="no connection to close"):
        ip.run("%state close")
    with pytest.raises(UsageError, match="no connection: run %state connect"):
        ip.run("%state get")


def test_connect_same_kind_twice_gets_a_new_name(ip: Shell, tmp_path: Path) -> None:
    ip.run(f"%state connect sqlite:///{tmp_path / 'a.db'}")
    ip.run(f"%state connect sqlite:///{tmp_path / 'b.db'}")
    assert [c.name for c in ip.magic.connections] == ["sqlite", "sqlite2"]
    first = ip.magic.connections.get("sqlite").backend
    ip.run(f"%state connect sqlite:///{tmp_path / 'c.db'} --as sqlite --state s")
    assert [c.name for c in ip.magic.connections] == ["sqlite", "sqlite2"]
    replaced = ip.magic.connections.get("sqlite")
    assert replaced.url.endswith("c.db") and replaced.state_id == "s"
    assert replaced.backend is not first
    with pytest.raises(Exception, match="closed"):
        first.ping()  # the replaced connection's backend was closed


def test_default_url_from_environment(
    _shell: Any, file_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGUI_STATE_URL", file_url)
    shell = Shell(_shell)
    shell.run("%load_ext agui_state")
    try:
        assert shell.magic.default_url == file_url
        shell.run("%state set /a 1")  # connects on first use
        assert shell.magic.connections.current.url == file_url
        assert shell.run("%state get /a") == 1
    finally:
        shell.run("%unload_ext agui_state")


def test_bad_url_is_one_line_error(ip: Shell) -> None:
    with pytest.raises(MagicStateError, match=r"^%state connect: ConfigError: .*nosuch"):
        ip.run("%state connect nosuch://host/x")


# ------------------------------------------------------------- read / write
def test_get_set_delete(ip: Shell, file_url: str) -> None:
    _seed(ip, file_url)
    assert ip.run("%state get") == {"cart": {"items": ["tea"], "total": 6.5}}
    ip.run("total = %state get /cart/total")
    assert ip.ns["total"] == 6.5
    assert ip.run("%state get /cart/total --version 2") == 7
    assert ip.run("%state get --version 1 /cart") == {"items": [], "total": 0}
    ip.run("%state delete --meta who=ada /cart/items")
    assert ip.run("%state get /cart") == {"total": 6.5}
    with PersistentStateStore(file_url, state_id="t1") as store:
        last = store.get_version(store.version)
        assert last.delta == [{"op": "remove", "path": "/cart/items"}]
        assert last.metadata == {"who": "ada"}
        assert store.get_version(3).metadata == {"run_id": "run-2"}


def test_set_needs_json(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    with pytest.raises(UsageError, match=r"is not JSON.*quote strings"):
        ip.run("%state set /name Ada")
    ip.run('%state set /name "Ada Lovelace"')
    assert ip.run("%state get /name") == "Ada Lovelace"


def test_library_errors_are_one_line_and_change_nothing(
    ip: Shell, file_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(ip, file_url)
    with pytest.raises(MagicStateError) as info:
        ip.run("%state get /cart/nothing")
    assert str(info.value).startswith("%state get: InvalidPathError: invalid path '/cart/nothing'")
    assert isinstance(info.value, StateError)
    # IPython shows the one line instead of a traceback.
    assert info.value._render_traceback_() == [str(info.value)]
    with pytest.raises(MagicStateError, match="version 99 of state 't1' not found") as info:
        ip.run("%state get --version 99")
    assert isinstance(info.value.error, NotFoundError)
    ip.run("%state use nobody")
    with pytest.raises(MagicStateError, match="state 'nobody' not found"):
        ip.run("%state get")


def test_error_display_has_no_traceback(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    shown: list[str] = []
    original = ip.shell._showtraceback
    ip.shell._showtraceback = lambda etype, evalue, stb: shown.extend(stb)  # type: ignore[method-assign]
    try:
        result = ip.shell.run_cell("%state get /missing", store_history=False)
    finally:
        ip.shell._showtraceback = original  # type: ignore[method-assign]
    assert not result.success  # the cell failed...
    assert shown == [  # ...and showed one line, no frames
        "%state get: NotFoundError: state 'default' not found"
    ]


def test_patch_variants(ip: Shell, file_url: str) -> None:
    _seed(ip, file_url)
    # one object per line, metadata entries
    ip.run(
        "%%state patch --meta who=ada --meta n=2\n"
        '{"op": "add", "path": "/cart/items/-", "value": "jam"}\n'
        "\n"
        '{"op": "test", "path": "/cart/total", "value": 6.5}\n'
    )
    assert ip.run("%state get /cart/items") == ["tea", "jam"]
    with PersistentStateStore(file_url, state_id="t1") as store:
        assert store.get_version(store.version).metadata == {"who": "ada", "n": 2}


def test_patch_dry_run_writes_nothing(ip: Shell, file_url: str) -> None:
    _seed(ip, file_url)
    before = _head(file_url)
    preview = ip.run(
        '%%state patch --dry-run\n[{"op": "replace", "path": "/cart/total", "value": 1}]'
    )
    assert preview.ops == [{"op": "replace", "path": "/cart/total", "value": 1}]
    text = repr(preview)
    assert "replace /cart/total: 6.5 -> 1" in text and "nothing was written" in text
    assert preview.to_frame().values.tolist() == [["replace", "/cart/total", "6.5", "1"]]
    assert _head(file_url) == before
    assert ip.run("%state get /cart/total") == 6.5


def test_failing_patch_names_op_and_changes_nothing(ip: Shell, file_url: str) -> None:
    _seed(ip, file_url)
    before = _head(file_url)
    with pytest.raises(MagicStateError) as info:
        ip.run(
            "%%state patch\n"
            '[{"op": "replace", "path": "/cart/total", "value": 0},'
            ' {"op": "remove", "path": "/cart/gone"}]'
        )
    err = info.value.error
    assert isinstance(err, PatchError) and (err.index, err.path) == (1, "/cart/gone")
    assert "patch operation 1 (remove '/cart/gone')" in str(info.value)
    assert _head(file_url) == before
    assert ip.run("%state get /cart/total") == 6.5
    # the dry run fails the same way
    with pytest.raises(MagicStateError, match="patch operation 0"):
        ip.run('%%state patch --dry-run\n[{"op": "remove", "path": "/nope"}]')


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("  ", "the cell is empty"),
        ("[{oops", "not a JSON array"),
        ('{"op": "add"}\nnot json', "line 2 is not a JSON object"),
        ('{"a": 1}', "operation"),
        ("[1, 2]", "operation objects"),
    ],
)
def test_bad_patch_bodies(ip: Shell, file_url: str, body: str, fragment: str) -> None:
    ip.run(f"%state connect {file_url}")
    with pytest.raises(MagicStateError, match=fragment):
        ip.run(f"%%state patch\n{body}")


def test_patch_as_line_magic_is_usage_error(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    with pytest.raises(UsageError, match="patch is a cell magic"):
        ip.run("%state patch")


# ------------------------------------------------------------- history and friends
def test_states_history_show(ip: Shell, file_url: str) -> None:
    _seed(ip, file_url)
    _seed(ip, file_url, state="t2")
    states = ip.run("%state states")
    assert isinstance(states, pd.DataFrame)
    assert sorted(states["state_id"]) == ["t1", "t2"]
    assert len(ip.run("%state states --limit 1")) == 1
    assert len(ip.run("%state states --prefix nope")) == 0
    history = ip.run("%state history")
    assert history["version"].tolist() == [3, 2, 1]
    assert ip.run("%state history --run run-1")["version"].tolist() == [2]
    assert ip.run("%state history --limit 2")["version"].tolist() == [3, 2]
    assert ip.run("%state history --path /cart/items")["version"].tolist() == [2, 1]
    assert len(ip.run("%state history --all-states")) == 6
    version = ip.run("%state show 2")
    assert version.number == 2 and version.metadata == {"run_id": "run-1"}
    assert ip.run(f"%state show {version.id}").number == 2
    with pytest.raises(MagicStateError, match="not found"):
        ip.run("%state show 42")


def test_diff_changes_blame(ip: Shell, file_url: str) -> None:
    _seed(ip, file_url)
    d = ip.run("%state diff 3")
    assert d.ops == [{"op": "replace", "path": "/cart/total", "value": 6.5}]
    assert ip.run("%state diff 1 3").ops == [
        {"op": "add", "path": "/cart/items/0", "value": "tea"},
        {"op": "replace", "path": "/cart/total", "value": 6.5},
    ]
    changes = ip.run("%state changes /cart/total")
    assert isinstance(changes, pd.DataFrame) and len(changes) == 3
    blame = ip.run("%state blame /cart")
    assert isinstance(blame, pd.DataFrame) and len(blame) >= 2


def test_frames_display_bounded_rows(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    for i in range(8):
        ip.run(f"%state set /n {i}")
    ip.run("%config StateMagic.display_limit = 4")
    frame = ip.run("%state history")
    assert len(frame) == 8  # every row is kept...
    shown = frame._repr_html_().count("<tr")  # header, 2 head rows, "...", 2 tail rows
    assert shown == 6 and "8 rows" in frame._repr_html_()
    plain = frame.head(8)  # any operation gives a plain frame, shown whole
    assert type(plain) is pd.DataFrame and plain.equals(frame)
    assert plain._repr_html_().count("<tr") == 9


def test_autodisplay_displays_and_returns_none(
    ip: Shell, file_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(ip, file_url)
    ip.run("%config StateMagic.autodisplay = True")
    assert ip.run("x = %state get /cart/total\n%state get /cart/items") is None
    assert ip.ns["x"] is None
    out = capsys.readouterr().out
    assert "6.5" in out and "['tea']" in out


# ------------------------------------------------------------- snapshots
def test_snapshot_snapshots_restore(
    ip: Shell, file_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(ip, file_url)
    ip.run("%state snapshot before-discount")
    assert "snapshot 'before-discount'" in capsys.readouterr().out
    ip.run("%state set /cart/total 1")
    frame = ip.run("%state snapshots")
    assert len(frame) == 1
    with PersistentStateStore(file_url, state_id="t1") as store:
        snap_id = store.get_persistent_snapshots()[0].id
    head = _head(file_url)
    preview = ip.run(f"%state restore {snap_id}")
    assert preview.ops == [{"op": "replace", "path": "/cart/total", "value": 6.5}]
    assert "add --yes to restore" in repr(preview)
    assert _head(file_url) == head and ip.run("%state get /cart/total") == 1
    ip.run(f"%state restore {snap_id} --yes --run-id undo")
    assert "restored snapshot" in capsys.readouterr().out
    assert ip.run("%state get /cart/total") == 6.5
    assert _head(file_url) == head + 1
    with pytest.raises(MagicStateError, match="snapshot 'nope' of state 't1' not found"):
        ip.run("%state restore nope --yes")


# ------------------------------------------------------------- export / import / migrate
def test_export_import(
    ip: Shell, file_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(ip, file_url)
    dump = tmp_path / "dump.json"
    ip.ns["dump"] = str(dump)
    ip.run("%state export {dump} --states t1")
    assert "exported 1 state(s), 3 version(s), 0 snapshot(s)" in capsys.readouterr().out
    assert json.loads(dump.read_text())["states"][0]["head"] == 3
    ip.run(f"%state connect sqlite:///{tmp_path / 'copy.db'} --state t1")
    ip.run("%state import {dump}")
    assert "imported 1 state(s) (3 version(s)" in capsys.readouterr().out
    assert ip.run("%state get /cart/total") == 6.5
    ip.run("%state import {dump}")  # again: identical, skipped
    assert "0 state(s)" in capsys.readouterr().out
    with pytest.raises(UsageError, match="cannot read"):
        ip.run(f"%state import {tmp_path / 'missing.json'}")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(MagicStateError, match="ValidationError: invalid file"):
        ip.run(f"%state import {bad}")
    bad.write_text('{"format": "other"}')
    with pytest.raises(MagicStateError, match="ValidationError"):
        ip.run(f"%state import {bad}")


def test_migrate_dry_run_then_real_then_again(
    ip: Shell, file_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(ip, file_url)
    _seed(ip, file_url, state="t2")
    ip.run("%state use t1")
    ip.run("%state snapshot s")
    dest = f"sqlite:///{tmp_path / 'm.db'}"
    ip.run("%config StateMagic.progress = False")
    plan = ip.run(f"%state migrate {file_url} {dest} --dry-run")
    assert plan[["state_id", "to_copy", "action"]].values.tolist() == [
        ["t1", 3, "copy"],
        ["t2", 3, "copy"],
    ]
    assert "nothing was written" in capsys.readouterr().out
    with PersistentStateStore(dest, state_id="t1") as store:
        assert store.version == 0
    ip.run(f"%state connect {dest} --as dest")
    summary = ip.run("%state migrate file dest --states t1")  # connection names work too
    assert summary[["state_id", "destination_head", "copied", "action"]].values.tolist() == [
        ["t1", 3, 3, "copied"]
    ]
    captured = capsys.readouterr()
    assert "1 snapshot(s) copied; verified: True" in captured.out
    assert "versions" not in captured.err  # %config StateMagic.progress = False: no bar
    again = ip.run(f"%state migrate {file_url} dest")
    assert again[["state_id", "copied", "action"]].values.tolist() == [
        ["t1", 0, "up to date"],
        ["t2", 3, "copied"],
    ]
    with PersistentStateStore(dest, state_id="t2") as store:
        assert store.get("/cart/total") == 6.5


def test_migrate_conflict_is_reported(ip: Shell, file_url: str, tmp_path: Path) -> None:
    _seed(ip, file_url)
    dest = f"sqlite:///{tmp_path / 'c.db'}"
    with PersistentStateStore(dest, state_id="t1") as store:
        store.set("/other", 1)  # a different history under the same id
    ip.run("%config StateMagic.progress = False")
    plan = ip.run(f"%state migrate {file_url} {dest} --dry-run")
    assert plan["action"].tolist() == ["conflict: histories diverge"]
    with pytest.raises(MagicStateError, match="migrate: ConflictError"):
        ip.run(f"%state migrate {file_url} {dest}")


def test_migrate_text_progress_bar(
    ip: Shell, file_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(ip, file_url)
    ip.run(f"%state migrate {file_url} sqlite:///{tmp_path / 'p.db'}")
    err = capsys.readouterr().err
    assert "migrate: 100%" in err and "3/3 versions" in err
    assert "it/s" not in err and "<" not in err  # no timing: stable output


# ------------------------------------------------------------- backend
def test_stats_ping_browse(ip: Shell, file_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(ip, file_url)
    ip.run("%state ping")
    assert f"ping 'file' ok: {file_url}" in capsys.readouterr().out
    stats = ip.run("%state stats")
    assert isinstance(stats, pd.DataFrame) and len(stats) >= 1
    widget = ip.run("%state browse /cart")
    from agui_state.jupyter import StateInspector

    assert isinstance(widget, StateInspector)
    assert widget.state_id == "t1" and widget.pinned == "/cart"


def test_ping_unreachable_is_one_line(ip: Shell) -> None:
    with pytest.raises(MagicStateError, match=r"^%state connect: BackendUnavailableError"):
        ip.run("%state connect redis://:s3cret-pw@127.0.0.1:1/0?connect_timeout=0.5")


# ------------------------------------------------------------- secrets and completion
def test_passwords_are_never_echoed(
    ip: Shell, postgres_url: str, postgres_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_url.replace("postgres@", "postgres:hunter2-secret@", 1)
    url += f"?schema={postgres_schema}&table_prefix=pw_"
    ip.run(f"%state connect {url} --as pg")  # trust auth: the password is accepted, unused
    frame = ip.run("%state connections")
    ip.run("%state ping")
    shown = capsys.readouterr().out + frame.to_string() + repr(ip.magic.connections.current)
    assert "hunter2-secret" not in shown and "***" in shown
    bad = "postgresql+psycopg://u:hunter2-secret@127.0.0.1:1/x?connect_timeout=1"
    with pytest.raises(MagicStateError) as info:
        ip.run(f"%state connect {bad}")
    assert "hunter2-secret" not in str(info.value)


def _completions(ip: Shell, code: str) -> list[str]:
    with provisionalcompleter():
        return [c.text for c in ip.shell.Completer.completions(code, len(code))]


def test_tab_completion(ip: Shell, file_url: str) -> None:
    _seed(ip, file_url)
    assert _completions(ip, "%state sn") == ["snapshot", "snapshots"]
    assert "connections" in _completions(ip, "%state ")
    assert _completions(ip, "%state get /cart/to") == ["/cart/total"]
    assert _completions(ip, "%state get /ca") == ["/cart"]  # only pointers, no Python names
    assert _completions(ip, "%state get /cart/items/") == ["/cart/items/0"]
    assert _completions(ip, "%state delete ") == ["/cart"]
    # a number has no children (IPython only lets a matcher with results silence Jedi)
    assert not [t for t in _completions(ip, "%state get /cart/total/") if t.startswith("/")]
    ip.run('%state set /a~0b {"x/y": 1}')
    assert _completions(ip, "%state get /a~0b/") == ["/a~0b/x~1y"]
    assert "snapshot" not in _completions(ip, "x = 1; snap")  # other lines: not ours


def test_notebook_progress_bar_has_a_stable_text_form(
    ip: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    from agui_state.jupyter.magics.progress import progress_bar

    with progress_bar(True, notebook=True, total=3) as update:
        assert update is not None
        update(2, 3, "t1")
        update(3, 3, "t1")
    out = capsys.readouterr().out
    assert "migrate: 3 versions to copy" in out  # the widget's text form, fixed
    with progress_bar(True, notebook=True, total=0) as update:
        assert update is None  # nothing to copy: no bar
    with progress_bar(False, notebook=True, total=5) as update:
        assert update is None


@pytest.mark.parametrize(
    ("line", "error", "fragment"),
    [
        ('use ""', "ValidationError", "invalid state_id: must not be empty"),
        ("delete /cart/nothing", "InvalidPathError", "'/cart/nothing'"),
        ("set /x NaN", "ValidationError", "invalid /x"),
        ("set /cart/items/9 1", "InvalidPathError", "'/cart/items/9'"),
        ("get /cart/total/x", "InvalidPathError", "'/cart/total/x'"),
        ("diff 1 99", "NotFoundError", "99"),
        ("changes cart", "InvalidPathError", "'cart'"),
        ("blame /nothing", "InvalidPathError", "'/nothing'"),
        ("history --path nope", "InvalidPathError", "'nope'"),
        ("migrate nosuch://x file:///tmp/y", "ConfigError", "nosuch"),
    ],
)
def test_error_paths_are_one_line(
    ip: Shell, file_url: str, line: str, error: str, fragment: str
) -> None:
    _seed(ip, file_url)
    before = _head(file_url)
    with pytest.raises(MagicStateError) as info:
        ip.run(f"%state {line}")
    name = line.split()[0]
    assert str(info.value).startswith(f"%state {name}: {error}: ")
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert _head(file_url) == before  # nothing was written


def test_export_to_a_missing_folder_is_usage_error(
    ip: Shell, file_url: str, tmp_path: Path
) -> None:
    _seed(ip, file_url)
    with pytest.raises(UsageError, match="cannot write"):
        ip.run(f"%state export {tmp_path / 'no' / 'such' / 'dump.json'}")
    assert not (tmp_path / "no").exists()


def test_password_in_usage_errors_is_hidden(ip: Shell) -> None:
    with pytest.raises(UsageError) as info:
        ip.run('%state migrate redis://:sw0rdfish@127.0.0.1:1/0 "unclosed')
    assert "sw0rdfish" not in str(info.value)
    with pytest.raises(MagicStateError) as err:
        ip.run("%state connect redis://127.0.0.1:1/0?password=sw0rdfish&connect_timeout=0.5")
    assert "sw0rdfish" not in str(err.value)


def test_previews_show_state_content_escaped(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    ip.run('%state set /note "<b>bold</b>"')
    preview = ip.run(
        "%%state patch --dry-run\n"
        '[{"op": "replace", "path": "/note", "value": "<script>x</script>"}]'
    )
    page = preview._repr_html_()
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "&lt;b&gt;bold" in page
