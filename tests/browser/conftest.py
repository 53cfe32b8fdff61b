"""Real-browser fixtures: a private JupyterLab 4 / Notebook 7 server and Debian's chromium.

One server and one browser per test session (starting them costs most of the
time); one browser context and page per test. Everything a test shows is kept
as screenshots in ``tests/browser/artifacts/`` (or ``$AGUI_STATE_BROWSER_ARTIFACTS``),
named after the test, with the server log and each page's console errors.

When chromium, Playwright, JupyterLab, Notebook 7 or anywidget is missing, the
tests skip with that reason, except under ``CI=true``, where they fail: CI must
run them. Playwright's own browser download is not used; point
``AGUI_STATE_CHROMIUM`` at another chromium binary if it is not
``/usr/bin/chromium``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.conftest import IN_CI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Page, ViewportSize

    from tests.browser.notebook import UI, OpenNotebook
    from tests.browser.server import JupyterServer

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("AGUI_STATE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(
    os.environ.get("AGUI_STATE_BROWSER_ARTIFACTS", Path(__file__).resolve().parent / "artifacts")
)
EXPECT_TIMEOUT_MS = 20_000
VIEWPORT: ViewportSize = {"width": 1440, "height": 1000}

# Python packages the browser tests need, with what installs them.
_PACKAGES = {
    "playwright": "playwright (dev extra)",
    "jupyterlab": "JupyterLab 4 (jupyter extra)",
    "notebook": "Notebook 7 (dev extra)",
    "anywidget": "anywidget (jupyter extra)",
    "nbformat": "nbformat (dev extra)",
}


def _unavailable(reason: str, in_ci: bool) -> NoReturn:
    """Skip (locally) or fail (in CI) because part of the browser stack is missing."""
    if in_ci:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def check_browser_stack(chromium: Path = CHROMIUM, *, in_ci: bool = IN_CI) -> None:
    """Skip (locally) or fail (under ``CI=true``) unless chromium and the packages are there."""
    if not (chromium.is_file() and os.access(chromium, os.X_OK)):
        _unavailable(
            f"chromium not found at {chromium} (apt-get install chromium, "
            "or point AGUI_STATE_CHROMIUM at a chromium binary)",
            in_ci,
        )
    for module, what in _PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            _unavailable(f"{what} is not installed: pip install -e '.[all,dev]'", in_ci)


@pytest.fixture(scope="session")
def browser_stack() -> None:
    """Check that chromium and the Python packages of the browser tests are installed."""
    check_browser_stack()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """The folder screenshots and logs are written to."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def jupyter_server(
    browser_stack: None, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[JupyterServer]:
    """A private JupyterLab 4 server (with Notebook 7) for the whole session."""
    from tests.browser.server import start_jupyter_server

    server = start_jupyter_server(
        REPO_ROOT, tmp_path_factory.mktemp("jupyter"), artifacts_dir / "jupyter-server.log"
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def chromium(browser_stack: None) -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright, for the browser tests.

    Package scope, not session: Playwright's sync API keeps an event loop
    running in the main thread while it is open, and every later test that
    calls ``asyncio.run`` would fail with "cannot be called from a running
    event loop". It is stopped when the last test of ``tests/browser`` ends.
    """
    from playwright.sync_api import expect, sync_playwright

    # Each assertion waits for a round trip through the kernel; on a loaded two-core
    # machine that can take a few seconds, so allow more than Playwright's 5 s.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# Errors Notebook 7 (7.6) itself throws while starting, with or without our widgets; seen
# on an empty notebook too. Anything else on a page is a finding.
KNOWN_FRONT_END_ERRORS = frozenset(
    {
        "Cannot read properties of undefined (reading 'schema')",
        "Command 'filebrowser:open-path' not registered.",
    }
)


@dataclass
class PageEvents:
    """What a page did besides rendering: JavaScript dialogs (``alert``), errors, console errors."""

    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def unexpected(self) -> list[str]:
        """Dialogs, page errors and console errors, less the known front-end start-up ones."""
        errors = [e for e in self.page_errors if e not in KNOWN_FRONT_END_ERRORS]
        return [*self.dialogs, *errors, *self.console_errors]


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")


@pytest.fixture
def page_events() -> PageEvents:
    """The events recorded on this test's page."""
    return PageEvents()


@pytest.fixture
def no_front_end_errors(page_events: PageEvents) -> Iterator[None]:
    """Use it to assert, after the test, that the page showed no dialog and logged no error."""
    yield
    assert page_events.unexpected() == [], "the page reported errors (see the console log)"


def _new_page(chromium: Browser, events: PageEvents) -> tuple[BrowserContext, Page]:
    """A fresh browser context and page; dialogs are dismissed and, with errors, recorded."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    page = context.new_page()

    def on_dialog(dialog: Dialog) -> None:
        events.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: events.page_errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            events.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    return context, page


def _write_events(events: PageEvents, path: Path) -> None:
    lines = [f"dialog: {d}" for d in events.dialogs]
    lines += [f"pageerror: {e}" for e in events.page_errors]
    lines += [f"console.error: {e}" for e in events.console_errors]
    path.write_text("\n".join(lines) + "\n" if lines else "")


@pytest.fixture
def page(
    chromium: Browser, page_events: PageEvents, request: pytest.FixtureRequest, artifacts_dir: Path
) -> Iterator[Page]:
    """A fresh browser context and page for one test."""
    context, page = _new_page(chromium, page_events)
    try:
        yield page
    finally:
        _write_events(page_events, artifacts_dir / f"{_test_name(request)}--console.log")
        context.close()


OpenNotebookFactory = Callable[..., "OpenNotebook"]
RunShared = Callable[..., "OpenNotebook"]


@pytest.fixture
def open_nb(
    jupyter_server: JupyterServer,
    page: Page,
    request: pytest.FixtureRequest,
    artifacts_dir: Path,
) -> Iterator[OpenNotebookFactory]:
    """Write a notebook with the given cells into the server root and open it.

    Call it as ``open_nb(cells, ui="lab")`` (``ui="notebook"`` for Notebook 7),
    or ``open_nb(path="dir/name.ipynb")`` for a notebook already in the root;
    it returns an :class:`~tests.browser.notebook.OpenNotebook` whose kernel is
    idle. At the end of the test a last screenshot is taken and the test's
    kernels are shut down.
    """
    from tests.browser.notebook import open_notebook, write_notebook

    name = _test_name(request)
    for stale in artifacts_dir.glob(f"{name}--*"):
        stale.unlink()
    opened: list[OpenNotebook] = []

    def open_(
        cells: Sequence[str] | None = None, ui: UI = "lab", *, path: str | None = None
    ) -> OpenNotebook:
        if path is None:  # a new notebook made of ``cells``; else ``path`` exists in the root
            path = write_notebook(jupyter_server.root, f"{name}-{len(opened)}.ipynb", cells or [])
        notebook = open_notebook(
            page, jupyter_server, path, ui, artifacts=artifacts_dir, test_name=name
        )
        opened.append(notebook)
        return notebook

    try:
        yield open_
    finally:
        for notebook in opened:
            # The page may be gone after a failure; the test's own error says why.
            with contextlib.suppress(Exception):
                notebook.screenshot("end")
            session = jupyter_server.session_for(notebook.path)
            if session is not None:
                jupyter_server.api("DELETE", f"sessions/{session['id']}")


@dataclass
class SharedNotebook:
    """One notebook page (and kernel) per test module and front end, reused by its tests."""

    notebook: OpenNotebook
    events: PageEvents


@pytest.fixture(scope="module")
def shared_notebooks(
    jupyter_server: JupyterServer,
    chromium: Browser,
    request: pytest.FixtureRequest,
    artifacts_dir: Path,
) -> Iterator[Callable[[UI], SharedNotebook]]:
    """Open (once per module and front end) an empty notebook whose page and kernel tests share.

    Opening JupyterLab and starting a kernel cost most of a browser test; tests
    that each need only "a fresh cell on a fresh store" share them and replace
    the notebook's cells (:meth:`OpenNotebook.replace_cells_and_run`).
    """
    from tests.browser.notebook import open_notebook, write_notebook

    module = request.module.__name__.rsplit(".", 1)[-1]
    opened: dict[str, tuple[SharedNotebook, BrowserContext]] = {}

    def get(ui: UI) -> SharedNotebook:
        if ui not in opened:
            events = PageEvents()
            context, page = _new_page(chromium, events)
            path = write_notebook(jupyter_server.root, f"{module}-shared-{ui}.ipynb", [""])
            notebook = open_notebook(
                page, jupyter_server, path, ui, artifacts=artifacts_dir, test_name=module
            )
            opened[ui] = (SharedNotebook(notebook, events), context)
        return opened[ui][0]

    try:
        yield get
    finally:
        for ui, (shared, context) in opened.items():
            _write_events(shared.events, artifacts_dir / f"{module}-shared-{ui}--console.log")
            context.close()
            session = jupyter_server.session_for(shared.notebook.path)
            if session is not None:
                jupyter_server.api("DELETE", f"sessions/{session['id']}")


@pytest.fixture
def run_shared(
    shared_notebooks: Callable[[UI], SharedNotebook],
    request: pytest.FixtureRequest,
    artifacts_dir: Path,
) -> Iterator[RunShared]:
    """Run ``cells`` in the module's shared notebook: ``run_shared(cells, ui="lab")``.

    Screenshots are named after the current test, and the test fails if its
    page reported a dialog or an error while it ran.
    """
    name = _test_name(request)
    for stale in artifacts_dir.glob(f"{name}--*"):
        stale.unlink()
    used: list[tuple[SharedNotebook, int, int, int]] = []

    def run(cells: Sequence[str], ui: UI = "lab") -> OpenNotebook:
        shared = shared_notebooks(ui)
        events = shared.events
        used.append(
            (shared, len(events.dialogs), len(events.page_errors), len(events.console_errors))
        )
        shared.notebook.test_name = name
        shared.notebook.replace_cells_and_run(cells)
        return shared.notebook

    yield run
    for shared, dialogs, page_errors, console_errors in used:
        events = PageEvents(
            shared.events.dialogs[dialogs:],
            shared.events.page_errors[page_errors:],
            shared.events.console_errors[console_errors:],
        )
        with contextlib.suppress(Exception):
            shared.notebook.screenshot("end")
        assert events.unexpected() == [], "the page reported errors while this test ran"
