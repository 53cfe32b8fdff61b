"""The state inspector in a real browser: JupyterLab 4 and Notebook 7 in chromium.

Each test seeds a file store from this process, opens a notebook whose cell
shows ``StateInspector`` on it, drives the widget with clicks and typing, and
asserts on what the page shows, and for writes on what the backend holds
(read from this process, not through the widget).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agui_state import PersistentStateStore, create_backend

if TYPE_CHECKING:
    from playwright.sync_api import Locator

    from tests.browser.conftest import RunShared, SharedNotebook
    from tests.browser.notebook import UI, OpenNotebook

# Every test gets a fresh store and a fresh inspector in a notebook page (and kernel) the
# module's tests share per front end; run_shared fails a test whose page logged an error.
pytestmark = pytest.mark.browser


STATE_ID = "cart-thread"
OTHER_ID = "other-thread"

# Untrusted content: each would run script or create elements if a view used innerHTML.
XSS_IMG = "<img src=x onerror=alert(1)>"
# Short enough for the tree's one-line previews, and free of quotes (JSON would escape them).
XSS_FLAG = "<img src=x onerror=window.__x1=1>"
XSS_SCRIPT = "<script>window.__x2=1</script>"
XSS_KEY = "<b id=agui-bold>bold key</b>"


@dataclass
class Seeded:
    """A file store with a known history."""

    url: str
    head: int
    snapshot_id: str
    snapshot_version: int
    snapshot_state: Any

    def backend_head(self) -> tuple[int, Any]:
        """The head version and document of :data:`STATE_ID`, read from the backend now."""
        backend = create_backend(self.url)
        try:
            return backend.head_version(STATE_ID), backend.get_state(STATE_ID)
        finally:
            backend.close()


def seed_store(folder: Path) -> Seeded:
    """Seed ``folder`` with two states; :data:`STATE_ID` has 6 versions and a snapshot at v2.

    Versions of :data:`STATE_ID`:
        1 ``/cart`` created (run-1); 2 tea added, total 7 (run-1), snapshot "after run 1";
        3 total 6.3 (run-2); 4 ``/note`` and ``/notes`` hold markup (run-2);
        5 ``/user/name`` (run-3); 6 total 99 (run-3).
    """
    url = f"file://{folder}"
    with PersistentStateStore(url, state_id=STATE_ID) as store:
        store.set("/cart", {"items": [], "total": 0}, metadata={"run_id": "run-1"})
        store.apply_patch(
            [
                {"op": "add", "path": "/cart/items/-", "value": {"id": "i1", "sku": "tea"}},
                {"op": "replace", "path": "/cart/total", "value": 7},
            ],
            metadata={"run_id": "run-1"},
        )
        snapshot = store.create_persistent_snapshot(label="after run 1")
        store.apply_patch(
            [{"op": "replace", "path": "/cart/total", "value": 6.3}], metadata={"run_id": "run-2"}
        )
        store.apply_patch(
            [
                {"op": "add", "path": "/note", "value": XSS_IMG},
                {"op": "add", "path": "/notes", "value": {XSS_KEY: [XSS_FLAG, XSS_SCRIPT]}},
            ],
            metadata={"run_id": "run-2"},
        )
        store.set("/user", {"name": "Ada"}, metadata={"run_id": "run-3"})
        head = store.apply_patch(
            [{"op": "replace", "path": "/cart/total", "value": 99}], metadata={"run_id": "run-3"}
        )
    with PersistentStateStore(url, state_id=OTHER_ID) as other:
        other.set("/greeting", "hello")
    return Seeded(url, head.number, snapshot.id, snapshot.version, snapshot.state)


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    """A freshly seeded file store for one test."""
    return seed_store(tmp_path / "store")


def inspector_cells(seeded: Seeded) -> list[str]:
    """The notebook: open the inspector on the seeded store, selecting :data:`STATE_ID`."""
    return [
        "from agui_state.jupyter import StateInspector\n"
        f"inspector = StateInspector({seeded.url!r}, state_id={STATE_ID!r})\n"
        "inspector"
    ]


def open_inspector(
    run_shared: RunShared, seeded: Seeded, ui: UI = "lab"
) -> tuple[OpenNotebook, Locator]:
    """Show the inspector on ``seeded`` in the shared notebook; return it and the widget."""
    from playwright.sync_api import expect

    nb = run_shared(inspector_cells(seeded), ui=ui)
    widget = nb.page.get_by_test_id("inspector")
    expect(widget).to_have_count(1)
    expect(widget).to_be_visible()
    expect(widget.get_by_test_id("source-label")).to_have_text(seeded.url)
    expect(widget.get_by_test_id("version-label")).to_have_text(
        f"version {seeded.head} of {seeded.head}"
    )
    return nb, widget


def log_versions(widget: Locator) -> list[int]:
    """The version numbers of the log rows shown, in order."""
    rows = widget.get_by_test_id("log-row")
    return [int(v) for v in rows.evaluate_all("rows => rows.map(r => r.dataset.version)")]


# ------------------------------------------------------------------ the tests


def test_clicking_a_version_shows_its_change_in_the_diff_tab(
    run_shared: RunShared, seeded: Seeded
) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded)
    nb.screenshot_of(widget, "opened")
    assert log_versions(widget) == [6, 5, 4, 3, 2, 1]

    widget.locator('[data-testid="log-row"][data-version="3"]').click()
    expect(widget.get_by_test_id("version-label")).to_have_text(f"version 3 of {seeded.head}")
    widget.get_by_test_id("tab-diff").click()

    rows = widget.get_by_test_id("diff-row")
    expect(rows).to_have_count(1)
    change = rows.first
    expect(change).to_have_attribute("data-op", "replace")
    expect(change).to_have_attribute("data-path", "/cart/total")
    expect(change.get_by_test_id("diff-old")).to_have_text("7")
    expect(change.get_by_test_id("diff-new")).to_have_text("6.3")
    nb.screenshot_of(widget, "diff-version-3")

    # Another version, another change: the tab follows the selection.
    widget.locator('[data-testid="log-row"][data-version="5"]').click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-path", "/user")
    expect(rows.first).to_have_attribute("data-op", "add")
    expect(rows.first.get_by_test_id("diff-new")).to_contain_text("Ada")
    nb.screenshot_of(widget, "diff-version-5")


def test_shift_click_diffs_two_versions(run_shared: RunShared, seeded: Seeded) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded)
    widget.locator('[data-testid="log-row"][data-version="5"]').click()
    expect(widget.get_by_test_id("version-label")).to_have_text(f"version 5 of {seeded.head}")
    widget.locator('[data-testid="log-row"][data-version="2"]').click(modifiers=["Shift"])

    rows = widget.get_by_test_id("diff-row")  # the Diff tab opens on versions 2 -> 5
    expect(rows).to_have_count(4)
    expect(widget.get_by_test_id("diff-from-input")).to_have_value("2")
    paths = rows.evaluate_all("rows => rows.map(r => r.dataset.path)")
    assert sorted(paths) == ["/cart/total", "/note", "/notes", "/user"]
    total = widget.locator('[data-testid="diff-row"][data-path="/cart/total"]')
    expect(total.get_by_test_id("diff-old")).to_have_text("7")
    expect(total.get_by_test_id("diff-new")).to_have_text("6.3")
    nb.screenshot_of(widget, "diff-2-to-5")

    widget.get_by_test_id("diff-parent-button").click()  # back to "vs parent"
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-path", "/user")


def test_log_filters_shrink_the_log(run_shared: RunShared, seeded: Seeded) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded)
    rows = widget.get_by_test_id("log-row")
    expect(rows).to_have_count(6)

    widget.get_by_test_id("log-path-filter").fill("/user")
    expect(rows).to_have_count(1)
    assert log_versions(widget) == [5]
    nb.screenshot_of(widget, "path-filter")

    widget.get_by_test_id("log-path-filter").fill("")
    expect(rows).to_have_count(6)
    widget.get_by_test_id("log-run-filter").fill("run-2")
    expect(rows).to_have_count(2)
    assert log_versions(widget) == [4, 3]
    nb.screenshot_of(widget, "run-filter")


def test_search_finds_and_highlights_state_values(run_shared: RunShared, seeded: Seeded) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded)
    # Collapsed at first: the matching leaf is not shown until the search opens its parents.
    expect(widget.locator('[data-testid="tree-row"][data-path="/cart/items/0/sku"]')).to_have_count(
        0
    )

    widget.get_by_test_id("search-input").fill("tea")
    expect(widget.get_by_test_id("search-count")).to_have_text("1 match")
    hits = widget.get_by_test_id("search-hit")
    expect(hits).to_have_count(1)
    expect(hits.first).to_have_text("tea")
    leaf = widget.locator('[data-testid="tree-row"][data-path="/cart/items/0/sku"]')
    expect(leaf).to_be_visible()
    expect(leaf.get_by_test_id("search-hit")).to_have_text("tea")
    nb.screenshot_of(widget, "search-tea")

    # Keys match too, case-insensitively.
    widget.get_by_test_id("search-input").fill("NAME")
    expect(widget.get_by_test_id("search-count")).to_have_text("1 match")
    expect(
        widget.locator('[data-testid="tree-row"][data-path="/user/name"]').get_by_test_id(
            "search-hit"
        )
    ).to_have_text("name")


def test_restore_goes_through_the_confirm_step_and_moves_the_backend_head(
    run_shared: RunShared, seeded: Seeded
) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded)
    widget.get_by_test_id("tab-snapshots").click()
    snapshot = widget.locator(
        f'[data-testid="snapshot-row"][data-snapshot-id="{seeded.snapshot_id}"]'
    )
    expect(snapshot).to_contain_text("after run 1")
    confirm_box = widget.get_by_test_id("confirm-box")

    # Asking is not doing: cancel leaves the backend alone.
    snapshot.get_by_test_id("restore-button").click()
    expect(confirm_box.get_by_test_id("confirm-button")).to_be_visible()
    nb.screenshot_of(widget, "confirm-asked")
    assert seeded.backend_head()[0] == seeded.head
    confirm_box.get_by_test_id("cancel-button").click()
    expect(confirm_box).to_be_hidden()
    assert seeded.backend_head()[0] == seeded.head

    snapshot.get_by_test_id("restore-button").click()
    confirm_box.get_by_test_id("confirm-button").click()
    expect(confirm_box).to_be_hidden()
    expect(widget.get_by_test_id("message-box")).to_contain_text(str(seeded.head + 1))
    expect(widget.get_by_test_id("error-box")).to_be_hidden()
    head, document = seeded.backend_head()
    assert head == seeded.head + 1
    assert document == seeded.snapshot_state
    assert document["cart"]["total"] == 7
    # The view follows: a new head, with the restore in the log.
    expect(widget.get_by_test_id("version-label")).to_contain_text(f"of {head}")
    expect(widget.locator(f'[data-testid="log-row"][data-version="{head}"]')).to_be_visible()
    nb.screenshot_of(widget, "restored")


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_markup_in_state_is_shown_as_text_and_never_runs(
    run_shared: RunShared,
    shared_notebooks: Callable[[UI], SharedNotebook],
    seeded: Seeded,
    ui: UI,
) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded, ui=ui)
    note = widget.locator('[data-testid="tree-row"][data-path="/note"]')
    expect(note).to_contain_text(XSS_IMG)

    # Through the search path (text split around <mark>s) the markup stays text.
    widget.get_by_test_id("search-input").fill("onerror")
    expect(widget.get_by_test_id("search-count")).to_have_text("2 matches")
    notes = widget.locator('[data-testid="tree-row"][data-path^="/notes/"]')
    expect(notes.filter(has_text=XSS_FLAG)).to_have_count(1)
    expect(widget.get_by_test_id("tree-row").filter(has_text=XSS_KEY)).to_have_count(1)
    expect(notes.filter(has_text=XSS_SCRIPT)).to_have_count(1)
    nb.screenshot_of(widget, "state-search")

    # The log summary, the Diff and the Patch tabs of the version that wrote it.
    widget.locator('[data-testid="log-row"][data-version="4"]').click()
    widget.get_by_test_id("tab-diff").click()
    expect(widget.get_by_test_id("diff-new").filter(has_text=XSS_IMG)).to_have_count(1)
    widget.get_by_test_id("tab-patch").click()
    expect(widget.get_by_test_id("patch-row").filter(has_text=XSS_IMG)).to_have_count(1)
    nb.screenshot_of(widget, "patch")

    # Nothing was interpreted: no element from the markup exists, no handler ran.
    assert widget.locator("img, script, b, iframe").count() == 0
    assert nb.page.locator('img[src="x"], #agui-bold').count() == 0
    flags = nb.page.evaluate("() => [window.__x1 ?? null, window.__x2 ?? null]")
    assert flags == [None, None]
    assert shared_notebooks(ui).events.dialogs == []


def test_time_travel_keeps_the_pinned_path_and_stats_draw(
    run_shared: RunShared, seeded: Seeded
) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded)
    label = widget.get_by_test_id("version-label")
    total = widget.locator('[data-testid="tree-row"][data-path="/cart/total"]')

    # Pin /cart: the tree shows that sub-tree only, at every version we step to.
    cart = widget.locator('[data-testid="tree-row"][data-path="/cart"]')
    cart.hover()  # the row's actions show on hover
    cart.get_by_test_id("pin-button").click()
    expect(widget.get_by_test_id("pinned-path")).to_contain_text("/cart")
    expect(widget.locator('[data-testid="tree-row"][data-path="/user"]')).to_have_count(0)
    expect(cart.get_by_test_id("tree-toggle")).to_have_text("▾")  # pinning opens the node
    expect(total).to_contain_text("99")

    widget.get_by_test_id("step-back").click()
    expect(label).to_have_text(f"version {seeded.head - 1} of {seeded.head}")
    widget.get_by_test_id("step-back").click()
    widget.get_by_test_id("step-back").click()
    expect(label).to_have_text(f"version 3 of {seeded.head}")
    expect(widget.get_by_test_id("pinned-path")).to_contain_text("/cart")
    expect(total).to_contain_text("6.3")
    widget.get_by_test_id("step-first").click()
    expect(label).to_have_text(f"version 0 of {seeded.head}")
    widget.get_by_test_id("step-last").click()
    expect(label).to_have_text(f"version {seeded.head} of {seeded.head}")
    expect(total).to_contain_text("99")
    nb.screenshot_of(widget, "pinned")

    # The slider jumps too (set as a user would: value, then the change event).
    widget.get_by_test_id("version-slider").fill("2")
    expect(label).to_have_text(f"version 2 of {seeded.head}")
    expect(total).to_contain_text("7")

    widget.get_by_test_id("tab-stats").click()
    expect(widget.get_by_test_id("stats-row").first).to_be_visible()
    for plot in ("plot-versions-time", "plot-size"):
        expect(widget.get_by_test_id(plot).locator("polyline")).to_have_count(1)
    nb.screenshot_of(widget, "stats")


def test_fork_goes_through_the_confirm_step_and_creates_the_state(
    run_shared: RunShared, seeded: Seeded
) -> None:
    from playwright.sync_api import expect

    nb, widget = open_inspector(run_shared, seeded)
    widget.locator('[data-testid="log-row"][data-version="3"]').click()
    expect(widget.get_by_test_id("version-label")).to_have_text(f"version 3 of {seeded.head}")
    widget.get_by_test_id("fork-button").click()
    confirm_box = widget.get_by_test_id("confirm-box")
    expect(confirm_box).to_contain_text("version 3")
    fork_id = f"{STATE_ID}-fork-v3"
    expect(confirm_box).to_contain_text(fork_id)
    nb.screenshot_of(widget, "fork-asked")
    backend = create_backend(seeded.url)
    try:
        assert not backend.exists(fork_id)
        confirm_box.get_by_test_id("confirm-button").click()
        expect(widget.get_by_test_id("message-box")).to_contain_text(fork_id)
        expect(widget.get_by_test_id("error-box")).to_be_hidden()
        assert backend.get_state(fork_id) == backend.state_at(STATE_ID, 3)
        assert backend.head_version(STATE_ID) == seeded.head  # the original is untouched
    finally:
        backend.close()

    # The new state is listed and selected; the states filter finds it by substring.
    items = widget.get_by_test_id("state-item")
    expect(items).to_have_count(3)
    expect(widget.locator(f'[data-testid="state-item"][data-state-id="{fork_id}"]')).to_have_class(
        "agui-selected"
    )
    widget.get_by_test_id("state-filter").fill("fork")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-state-id", fork_id)
    nb.screenshot_of(widget, "forked")
