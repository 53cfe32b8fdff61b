"""Packaging facts users rely on: extras, environment.yml in sync, py.typed, light import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# pyproject name -> conda-forge name, where they differ.
CONDA_NAMES = {"redis": "redis-py"}
# Extras whose packages environment.yml must carry ("bench" is benchmark-only).
SYNCED_EXTRAS = ("redis", "postgres", "jupyter", "agui", "dev")


def _requirement(spec: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", spec.strip())
    assert match, spec
    return match.group(1).lower(), match.group(3).replace(" ", "")


def _environment_requirements() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = line.strip()
        if not item.startswith("- ") or item.endswith(":"):
            continue
        item = item[2:].strip()
        if item.startswith("-e") or item in {"pip"}:
            continue
        name, bound = _requirement(item)
        found[name] = bound
    return found


def test_extras_exist() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for name in ("redis", "postgres", "jupyter", "agui", "dev", "all"):
        assert name in extras, name
    all_extra = " ".join(extras["all"])
    for name in ("redis", "postgres", "jupyter", "agui"):
        assert name in all_extra


def test_environment_yml_matches_pyproject() -> None:
    env = _environment_requirements()
    project = PYPROJECT["project"]
    wanted = list(project["dependencies"])
    for extra in SYNCED_EXTRAS:
        wanted += project["optional-dependencies"][extra]
    for spec in wanted:
        name, bound = _requirement(spec)
        conda = CONDA_NAMES.get(name, name)
        assert conda in env, f"{name} from pyproject.toml missing in environment.yml"
        assert env[conda] == bound, (
            f"{name}: pyproject says {bound!r}, environment.yml {env[conda]!r}"
        )


def test_py_typed_marker_ships() -> None:
    assert (ROOT / "agui_state" / "py.typed").exists()
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]["agui_state"]
    assert "py.typed" in package_data


def test_import_stays_light() -> None:
    heavy = ["redis", "psycopg", "pandas", "ipywidgets", "ag_ui", "sqlalchemy", "tqdm", "IPython"]
    code = (
        "import sys, agui_state; "
        f"loaded = [m for m in {heavy!r} if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing agui_state imported: {out.stdout.strip()}"


def test_jupyter_layer_imports_pandas_only_when_a_frame_is_built() -> None:
    # The inspector and the magics import agui_state.jupyter at load time:
    # pandas (and the widget stack) must wait until a frame is really built.
    heavy = ["pandas", "ipywidgets", "IPython", "redis", "psycopg"]
    code = (
        "import sys, agui_state.jupyter, agui_state.cards; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules)); "
        "from agui_state import StateStore; "
        "agui_state.jupyter.history_frame(StateStore('s')); "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["", "True"], out.stdout


def _imported_top_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "agui_state").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    # A dependency the library never imports belongs in an extra (dev, bench...).
    imported = _imported_top_modules()
    for spec in PYPROJECT["project"]["dependencies"]:
        name, _ = _requirement(spec)
        assert name.replace("-", "_") in imported, f"{name} is a dependency nothing imports"
