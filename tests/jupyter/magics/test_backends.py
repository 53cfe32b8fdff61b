"""Every ``%state`` command that touches storage, on each backend kind (real servers)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agui_state import PersistentStateStore
from agui_state.jupyter.magics import MagicStateError
from tests.jupyter.magics.conftest import Shell


def test_commands_on_backend(
    ip: Shell, state_url: str, file_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run("%config StateMagic.progress = False")
    ip.run(f"%state connect {state_url} --as db --state thread-1")
    ip.run("%state ping")
    ip.run('%state set /cart {"items": [], "total": 0}')
    ip.run('%%state patch --run-id run-1\n'
           '[{"op": "add", "path": "/cart/items/-", "value": "tea"},'
           ' {"op": "replace", "path": "/cart/total", "value": 4}]')  # fmt: skip
    ip.run("%state snapshot after-run-1")
    ip.run("%state delete /cart/items")
    assert ip.run("%state get") == {"cart": {"total": 4}}
    assert ip.run("%state get /cart/items/0 --version 2") == "tea"

    assert ip.run("%state states")["state_id"].tolist() == ["thread-1"]
    assert ip.run("%state history")["version"].tolist() == [3, 2, 1]
    assert ip.run("%state history --run run-1")["version"].tolist() == [2]
    assert ip.run("%state show 2").metadata == {"run_id": "run-1"}
    assert ip.run("%state diff 3").ops == [{"op": "remove", "path": "/cart/items"}]
    assert len(ip.run("%state changes /cart/total")) == 2
    assert isinstance(ip.run("%state blame"), pd.DataFrame)
    assert isinstance(ip.run("%state stats"), pd.DataFrame)

    snaps = ip.run("%state snapshots")
    assert len(snaps) == 1
    with PersistentStateStore(state_url, state_id="thread-1") as store:
        snap_id = store.get_persistent_snapshots()[0].id
    ip.run(f"%state restore {snap_id}")  # preview only
    assert ip.run("%state get /cart") == {"total": 4}
    ip.run(f"%state restore {snap_id} --yes")
    assert ip.run("%state get /cart/items") == ["tea"]

    # export from here, import into a fresh file store, migrate file -> here
    dump = tmp_path / "dump.json"
    ip.run(f"%state export {dump}")
    ip.run(f"%state connect {file_url} --as local --state thread-1")
    ip.run(f"%state import {dump}")
    assert ip.run("%state get /cart/items") == ["tea"]
    ip.run("%state use thread-2")
    ip.run("%state set /n 1")
    summary = ip.run("%state migrate local db")
    assert summary.set_index("state_id")["action"].to_dict() == {
        "thread-1": "up to date",
        "thread-2": "copied",
    }
    ip.run("%state use db")
    ip.run("%state use thread-2")
    assert ip.run("%state get /n") == 1
    with pytest.raises(MagicStateError, match="patch operation 0"):
        ip.run('%%state patch\n[{"op": "test", "path": "/n", "value": 2}]')
    assert ip.run("%state history")["version"].tolist() == [1]
    ip.run("%state close db")
    assert "closed 'db'" in capsys.readouterr().out
