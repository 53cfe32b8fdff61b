"""The lazy pandas import and the few helpers every frame uses to build itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from agui_state.errors import ValidationError
from agui_state.models import StateVersion

__all__ = ["build_frame", "check_limit", "flatten_metadata", "pandas", "run_id_of"]

RUN_ID = "run_id"


def pandas() -> ModuleType:
    """Import pandas, with an install hint when it is missing."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - the jupyter extra installs it
        raise ImportError(
            "agui_state.jupyter frames need pandas: pip install 'agui-state[jupyter]'"
        ) from exc
    module: ModuleType = pd
    return module


def build_frame(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    timestamps: Sequence[str] = (),
    integers: Sequence[str] = (),
) -> Any:
    """Build a DataFrame with exactly ``columns`` (in order) from ``rows``.

    Timestamp columns become ``datetime64[ns, UTC]`` (missing values NaT);
    integer columns ``int64`` (or pandas' nullable ``Int64`` when a value is
    missing), so an empty frame has the same columns and dtypes as a full one.
    """
    pd = pandas()
    data: dict[str, Any] = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        if name in timestamps:
            data[name] = pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[ns, UTC]")
        elif name in integers:
            missing = any(v is None for v in values)
            data[name] = pd.Series(values, dtype="Int64" if missing else "int64")
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=list(columns))


def check_limit(limit: Any, argument: str = "limit") -> int | None:
    """Return ``limit`` if it is None or a non-negative int.

    Raises:
        ValidationError: Naming ``argument``.
    """
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValidationError(argument, f"must be a non-negative int or None, got {limit!r}")
    return limit


def run_id_of(version: StateVersion) -> str | None:
    """The run a version belongs to: metadata ``run_id``, else the AG-UI event's run id."""
    meta = version.metadata
    run = meta.get(RUN_ID)
    if isinstance(run, str) and run:
        return run
    agui = meta.get("agui")
    if isinstance(agui, Mapping):
        run = agui.get(RUN_ID)
        if isinstance(run, str) and run:
            return run
    return None


def flatten_metadata(meta: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested objects into dotted keys (``{"agui": {"type": x}}`` -> ``agui.type``)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_metadata(value, name + "."))
        else:
            out[name] = value
    return out
