"""JavaScript-safe output: refused on the bridge, naming the path; the store accepts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agui_state.agui import (
    MAX_SAFE_INTEGER,
    astream_events,
    check_js_safe_value,
    replay_thread,
    stream_events,
)
from agui_state.agui.jssafe import check_js_safe_patch
from agui_state.errors import ValidationError
from agui_state.store import StateStore


@pytest.mark.parametrize(
    "value",
    [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 1e300, -0.0, True, None, "9007199254740993",
     {"constructor": 1, "prototype": {"a": 1}, "x": {"constructor": {"proto": 1}}}],
)  # fmt: skip
def test_values_a_js_client_keeps_pass(value: Any) -> None:
    check_js_safe_value({"v": value})
    check_js_safe_patch([{"op": "add", "path": "/prototype", "value": value}])


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"n": MAX_SAFE_INTEGER + 1}, "/n"),
        ({"a": [1, {"b": -(2**53)}]}, "/a/1/b"),
        ({"a": {"__proto__": {}}}, "/a/__proto__"),
        ({"constructor": {"prototype": 1}}, "/constructor/prototype"),
        ({"k~/": {"__proto__": 0}}, "/k~0~1/__proto__"),
    ],
)
def test_values_a_js_client_loses_are_refused_naming_the_path(value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_js_safe_value(value)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ({"op": "add", "path": "/__proto__/polluted", "value": 1}, "/__proto__"),
        ({"op": "replace", "path": "/constructor/prototype", "value": 1}, "/constructor/prototype"),
        ({"op": "move", "from": "/__proto__", "path": "/a"}, "/__proto__"),
        ({"op": "add", "path": "/x", "value": {"__proto__": 1}}, "/x/__proto__"),
        (
            {"op": "add", "path": "/constructor", "value": {"prototype": 1}},
            "/constructor/prototype",
        ),
        ({"op": "add", "path": "/list/-", "value": 2**60}, "/list/-"),
    ],
)
def test_patches_a_js_client_would_skip_are_refused(op: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_js_safe_patch([op])
    assert info.value.field == field
    assert "js_safe=False" in str(info.value)


def test_store_accepts_them_streams_refuse_them_unless_turned_off() -> None:
    store = StateStore("t")
    store.set("/big", 2**53 + 1)  # the store itself accepts
    store.set("/obj", {"__proto__": {"x": 1}})
    assert store.get("/big") == 2**53 + 1
    with pytest.raises(ValidationError, match="/big"):
        list(replay_thread(store))
    with pytest.raises(ValidationError, match="/big"):
        list(stream_events(store, timeout=0.01))
    events = list(replay_thread(store, js_safe=False))
    assert events[-2].delta[0].value == {"__proto__": {"x": 1}}
    assert [e.snapshot for e in stream_events(store, timeout=0.01, js_safe=False)] == [
        store.get_state()
    ]

    async def live() -> None:
        agen = astream_events(store, from_version=1, timeout=5)
        await agen.__anext__()  # version 2 adds /obj

    with pytest.raises(ValidationError, match=r"/obj/__proto__"):
        asyncio.run(live())
