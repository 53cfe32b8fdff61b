"""The shipped ES module and CSS: packaged, offline, and never injecting HTML."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import agui_state.jupyter.inspector as inspector_pkg

ROOT = Path(__file__).resolve().parents[3]
STATIC = Path(inspector_pkg.__file__).parent / "static"
JS = (STATIC / "inspector.js").read_text("utf-8")
CSS = (STATIC / "inspector.css").read_text("utf-8")


def test_static_files_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    data = pyproject["tool"]["setuptools"]["package-data"]["agui_state"]
    assert "jupyter/inspector/static/*.js" in data
    assert "jupyter/inspector/static/*.css" in data
    assert "anywidget>=0.9" in pyproject["project"]["optional-dependencies"]["jupyter"]


def test_js_never_parses_strings_as_html() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in JS.split("// data-testid attributes")[1], sink
    assert "new Function" not in JS


def test_nothing_is_loaded_from_the_network() -> None:
    urls = set(re.findall(r"https?://[^\s\"'`)]+", JS + CSS))
    assert urls == {"http://www.w3.org/2000/svg"}  # an XML namespace name, never fetched
    assert not re.search(r"^\s*import\s", JS, re.MULTILINE)
    assert "@import" not in CSS and "url(" not in CSS


def test_every_listed_testid_is_used() -> None:
    header = JS.split("const SVG_NS")[0]
    listed = set(re.findall(r"\b([a-z]+(?:-[a-z]+)+)\b", header.split("data-testid attributes")[1]))
    used = set(re.findall(r'testid: "([a-z-]+)"', JS)) | set(
        re.findall(r'setAttribute\("data-testid", "([a-z-]+)"\)', JS)
    )
    used |= {f"tab-{name}" for name in ("state", "diff", "patch", "snapshots", "stats")}
    # Passed as arguments to the helpers that set them.
    used |= set(re.findall(r'plot\("([a-z-]+)"', JS))
    used |= set(re.findall(r'diffTable\([^,]+, "([a-z-]+)"\)', JS))
    if "//   inspector " in header:
        listed.add("inspector")  # the one single-word id
    prose = {"re-read", "sub-path"}
    listed = {t for t in listed if not t.startswith("data-") and t not in prose}
    missing = listed - used
    assert not missing, f"listed but not used: {sorted(missing)}"
    unlisted = used - listed
    assert not unlisted, f"used but not listed: {sorted(unlisted)}"


def test_no_glyph_outside_the_basic_plane() -> None:
    # Emoji such as U+1F4CC (pin) are missing from the fonts Debian ships
    # (DejaVu, Liberation) and render as an empty box; icons are drawn as SVG.
    astral = sorted({f"U+{ord(c):X}" for c in JS + CSS if ord(c) > 0xFFFF})
    assert not astral, astral
