"""The :class:`StateInspector` anywidget: synced traits and command handling.

Inputs the browser sets are traits (``state_filter``, ``state_id``,
``version``, ``tab``, ``search``, ``pinned``, ``log_path``, ``log_run``,
``hidden_paths``, ``diff_from``, ``poll_seconds``); actions are commands
(``{"cmd": ..., ...}`` custom messages, or :meth:`StateInspector.command`
from Python). Every computed view is a JSON trait written by Python; the ES
module only draws it. Errors from the library become the ``error`` trait, a
readable message shown in the widget, never a traceback in the browser.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from agui_state import StateError, ValidationError
from agui_state.jupyter.inspector.fallback import static_html, text_repr
from agui_state.jupyter.inspector.log import LOG_PAGE, LogFilter
from agui_state.jupyter.inspector.reader import Reader
from agui_state.jupyter.inspector.session import TABS, Inspection

try:
    import anywidget
    import traitlets as t
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "the state inspector needs anywidget and ipywidgets: pip install 'agui-state[jupyter]'"
    ) from exc

__all__ = ["StateInspector", "inspect"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

LIVE_DELAY = 0.1
"""Seconds a live update waits, so a burst of writes is drawn once."""


def _static(name: str) -> str:
    return (resources.files("agui_state.jupyter.inspector") / "static" / name).read_text("utf-8")


class StateInspector(anywidget.AnyWidget):
    """Browse the states of a source, step through versions, diff, restore and fork.

    Args:
        source: A backend URL, a :class:`~agui_state.StorageBackend`, a
            :class:`~agui_state.PersistentStateStore` or a
            :class:`~agui_state.StateStore`. A backend opened from a URL is
            closed by :meth:`close`; one given is left open.
        state_id: The state to select first (default: the store's own state,
            or the first state of the backend).

    Raises:
        ValidationError: ``source`` is not one of the accepted kinds.
        NotFoundError: ``state_id`` does not exist.
    """

    _esm = _static("inspector.js")
    _css = _static("inspector.css")

    # ---- inputs (set by the browser or from Python)
    state_filter = t.Unicode("").tag(sync=True)
    state_id = t.Unicode("").tag(sync=True)
    version = t.Int(0).tag(sync=True)
    diff_from = t.Int(-1).tag(sync=True)
    tab = t.Unicode("state").tag(sync=True)
    search = t.Unicode("").tag(sync=True)
    pinned = t.Unicode("").tag(sync=True)
    log_path = t.Unicode("").tag(sync=True)
    log_run = t.Unicode("").tag(sync=True)
    hidden_paths = t.List(t.Unicode()).tag(sync=True)
    poll_seconds = t.Float(0.0).tag(sync=True)
    # ---- outputs (computed in Python)
    source_label = t.Unicode("").tag(sync=True)
    live = t.Bool(False).tag(sync=True)
    head = t.Int(0).tag(sync=True)
    states = t.Dict().tag(sync=True)
    log = t.Dict().tag(sync=True)
    view = t.Dict().tag(sync=True)
    search_info = t.Dict().tag(sync=True)
    confirm = t.Dict().tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    clipboard = t.Unicode("").tag(sync=True)

    def __init__(self, source: Any, state_id: str | None = None, **kwargs: Any) -> None:
        reader = Reader(source)
        self._busy = False
        self._model = Inspection(reader)
        self._unsubscribe: Callable[[], None] | None = None
        self._poll_stop: threading.Event | None = None
        self._lock = threading.RLock()
        self._live_lock = threading.Lock()
        self._live_timer: threading.Timer | None = None
        self._closed = False
        super().__init__(**kwargs)
        try:
            with self._quiet():
                self.source_label = reader.label
                self.live = reader.live
                first = state_id or reader.default_state_id
                if first is None:
                    first = next(iter(reader.iter_state_ids()), None)
                if first is not None:
                    self._select_state(first)
                # After the selection: its log page already read the head version.
                self.states = self._model.states()
        except BaseException:
            reader.close()
            raise
        self._unsubscribe = reader.subscribe(self._on_store_change)
        self.on_msg(self._on_msg)

    # ------------------------------------------------------------- plumbing
    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set traits from Python without their observers recomputing."""
        busy, self._busy = self._busy, True
        try:
            yield
        finally:
            self._busy = busy

    def _guard(self, action: Callable[[], None]) -> None:
        """Run ``action``; a library error becomes the ``error`` trait."""
        with self._lock, self._quiet():
            try:
                action()
            except (StateError, ValueError, KeyError, TypeError) as exc:
                self.error = _readable(exc)
            else:
                self.error = ""

    def _push_view(self) -> None:
        self.view = {"tab": self._model.tab, **self._model.current_tab()}

    def _push_selection(self) -> None:
        m = self._model
        self.state_id = m.state_id or ""
        self.head = m.head
        self.version = m.version
        self.diff_from = -1 if m.diff_from is None else m.diff_from
        self.log = m.log()
        if m.query:
            self.search_info = m.run_search()
        self._push_view()

    def _select_state(self, state_id: str) -> None:
        self._model.select_state(state_id)
        self.confirm = {}
        self._push_selection()

    # ----------------------------------------------------- trait observers
    @t.observe(
        "state_filter", "state_id", "version", "diff_from", "tab", "search", "pinned",
        "log_path", "log_run", "hidden_paths", "poll_seconds",
    )  # fmt: skip
    def _on_input(self, change: dict[str, Any]) -> None:
        if self._busy:
            return
        name, new = change["name"], change["new"]
        self._guard(lambda: self._apply_input(name, new))

    def _apply_input(self, name: str, new: Any) -> None:
        m = self._model
        if name == "state_filter":
            m.states_filter, m.states_page = str(new), 0
            self.states = m.states()
        elif name == "state_id":
            self._select_state(str(new))
        elif name == "version":
            try:
                m.select_version(int(new))
            finally:
                self.version = m.version
            if m.query:
                self.search_info = m.run_search()
            self._push_view()
        elif name == "diff_from":
            value = int(new)
            if value >= 0 and not value <= m.head:
                self.diff_from = -1 if m.diff_from is None else m.diff_from
                raise ValidationError("diff_from", f"no version {value} (head is {m.head})")
            m.diff_from = None if value < 0 else value
            self.diff_from = -1 if m.diff_from is None else value
            self._push_view()
        elif name == "tab":
            if new not in TABS:
                self.tab = m.tab
                raise ValidationError("tab", f"unknown tab {new!r}; tabs: {', '.join(TABS)}")
            m.tab = str(new)
            self._push_view()
        elif name == "search":
            m.query = str(new)
            self.search_info = m.run_search()
            self._push_view()
        elif name == "pinned":
            m.pinned = str(new)
            m.tree.expanded.add(m.pinned)  # a pinned sub-path opens on its children
            if m.query:
                self.search_info = m.run_search()
            self._push_view()
        elif name in ("log_path", "log_run", "hidden_paths"):
            m.filter = LogFilter(self.log_path, self.log_run, tuple(self.hidden_paths))
            m.log_before = None
            self.log = m.log()
        elif name == "poll_seconds":
            self._set_polling(float(new))

    # ------------------------------------------------------------ commands
    def command(self, cmd: str, **args: Any) -> None:
        """Run one inspector command, as the browser does.

        Commands: ``select_state(state_id)``, ``select_version(number)``,
        ``step(delta)``, ``states_page(page)``, ``log_older``, ``log_newer``,
        ``log_newest``, ``log_selected`` (page to the selected version),
        ``toggle(path)``, ``more(path)``, ``pin(path)``, ``copy(path, what)``
        (``what``: ``"value"`` or ``"pointer"``), ``diff(a, b)``,
        ``snapshot(snapshot_id, against)``, ``restore(snapshot_id)``,
        ``fork(new_state_id=None)``, ``confirm``, ``cancel``, ``refresh``,
        ``hide_path(path)``, ``show_path(path)``. Errors (including an
        unknown command) set :attr:`error`.
        """
        self._guard(lambda: self._run(cmd, args))

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("cmd"), str):
            with self._quiet():
                self.error = "bad message from the browser: expected {'cmd': name, ...}"
            return
        args = {k: v for k, v in content.items() if k != "cmd"}
        self.command(content["cmd"], **args)

    def _run(self, cmd: str, args: dict[str, Any]) -> None:
        handler = getattr(self, f"_cmd_{cmd}", None)
        if handler is None or not callable(handler):
            raise ValidationError("cmd", f"unknown inspector command {cmd!r}")
        try:
            handler(**args)
        except TypeError as exc:
            raise ValidationError("cmd", f"bad arguments for {cmd!r}: {exc}") from exc

    def _cmd_select_state(self, state_id: str) -> None:
        self._select_state(state_id)

    def _cmd_select_version(self, number: int) -> None:
        self._apply_input("version", number)

    def _cmd_step(self, delta: int) -> None:
        m = self._model
        self._apply_input("version", min(max(m.version + int(delta), 0), m.head))

    def _cmd_states_page(self, page: int) -> None:
        self._model.states_page = max(0, int(page))
        self.states = self._model.states()

    def _cmd_log_older(self) -> None:
        nxt = self.log.get("next_before")
        if nxt is not None:
            self._model.log_before = int(nxt)
            self.log = self._model.log()

    def _cmd_log_newer(self) -> None:
        m = self._model
        if m.log_before is not None:
            newer = m.log_before + LOG_PAGE
            m.log_before = None if newer > m.head else newer
            self.log = m.log()

    def _cmd_log_selected(self) -> None:
        """Page the log so the selected version is near the top."""
        m = self._model
        newer = m.version + LOG_PAGE // 5 + 1
        m.log_before = None if newer > m.head else newer
        self.log = m.log()

    def _cmd_log_newest(self) -> None:
        self._model.log_before = None
        self.log = self._model.log()

    def _cmd_toggle(self, path: str) -> None:
        self._model.tree.toggle(path)
        self._push_view()

    def _cmd_more(self, path: str) -> None:
        self._model.tree.show_more(path)
        self._push_view()

    def _cmd_pin(self, path: str) -> None:
        self._apply_input("pinned", path)
        with self._quiet():
            self.pinned = self._model.pinned

    def _cmd_copy(self, path: str, what: str = "value") -> None:
        if what == "pointer":
            text = path
        elif what == "value":
            text = self._model.copy_value(path)
        else:
            raise ValidationError("what", f"must be 'value' or 'pointer', got {what!r}")
        self.clipboard = text
        self.send({"type": "copy", "text": text})

    def _cmd_diff(self, a: int, b: int | None = None) -> None:
        m = self._model
        if b is not None:
            self._apply_input("version", int(b))
        self._apply_input("diff_from", int(a))
        self.tab = m.tab = "diff"
        self._push_view()

    def _cmd_snapshot(self, snapshot_id: str, against: str = "head") -> None:
        if against not in ("head", "selected"):
            raise ValidationError("against", f"must be 'head' or 'selected', got {against!r}")
        m = self._model
        m.snapshot_id, m.snapshot_against = snapshot_id, against
        self.tab = m.tab = "snapshots"
        try:
            self._push_view()
        except StateError:
            m.snapshot_id = None
            self._push_view()
            raise

    def _cmd_restore(self, snapshot_id: str) -> None:
        m = self._model
        if m.state_id is None:
            raise ValidationError("restore", "select a state first")
        snap = m.reader.get_snapshot(m.state_id, snapshot_id)
        label = f" {snap.label!r}" if snap.label else ""
        self.confirm = {
            "action": "restore",
            "snapshot_id": snap.id,
            "state_id": m.state_id,
            "message": (
                f"Restore snapshot{label} (version {snap.version}) of state {m.state_id!r}? "
                f"It is recorded as a new version {m.head + 1}; history is kept."
            ),
        }

    def _cmd_fork(self, new_state_id: str | None = None) -> None:
        m = self._model
        if m.state_id is None:
            raise ValidationError("fork", "select a state first")
        target = new_state_id or self._fork_name(m.state_id, m.version)
        self.confirm = {
            "action": "fork",
            "state_id": m.state_id,
            "version": m.version,
            "new_state_id": target,
            "message": (
                f"Fork state {m.state_id!r} at version {m.version} into a new state "
                f"{target!r}? Its version 1 is this version's document."
            ),
        }

    def _fork_name(self, state_id: str, number: int) -> str:
        base = f"{state_id}-fork-v{number}"
        taken = set(self._model.reader.iter_state_ids(prefix=base))
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    def _cmd_confirm(self) -> None:
        pending, self.confirm = dict(self.confirm), {}
        m = self._model
        action = pending.get("action")
        if action == "restore":
            version = m.reader.restore(pending["state_id"], pending["snapshot_id"])
            self.message = f"restored snapshot as version {version.number}"
            m.refresh_head()
            m.version = m.head
            self.states = m.states()
            self._push_selection()
        elif action == "fork":
            new_id = pending["new_state_id"]
            m.reader.fork(pending["state_id"], int(pending["version"]), new_id)
            self.message = f"forked into state {new_id!r}"
            self.states = m.states()
            self._select_state(new_id)
        else:
            raise ValidationError("confirm", "nothing to confirm")

    def _cmd_cancel(self) -> None:
        self.confirm = {}

    def _cmd_refresh(self) -> None:
        m = self._model
        self.states = m.states()
        if m.state_id is not None:
            m.refresh_head()
            self._push_selection()

    def _cmd_hide_path(self, path: str) -> None:
        if path and path not in self.hidden_paths:
            self.hidden_paths = [*self.hidden_paths, path]
            self._apply_input("hidden_paths", self.hidden_paths)

    def _cmd_show_path(self, path: str) -> None:
        self.hidden_paths = [p for p in self.hidden_paths if p != path]
        self._apply_input("hidden_paths", self.hidden_paths)

    # --------------------------------------------------------------- live
    def _on_store_change(self) -> None:
        """A write to the store given: show the new head shortly after.

        Runs in the writing thread, so it only schedules: a burst of writes
        becomes one refresh :data:`LIVE_DELAY` seconds later, on a timer
        thread, and an agent writing fast is never slowed by the view.
        """
        with self._live_lock:
            if self._live_timer is not None:
                return
            timer = threading.Timer(LIVE_DELAY, self._live_refresh)
            timer.daemon = True
            self._live_timer = timer
        timer.start()

    def _live_refresh(self) -> None:
        with self._live_lock:
            self._live_timer = None

        def update() -> None:
            m = self._model
            if self._closed:
                return  # closed while this update waited for the lock
            if m.state_id is not None and m.refresh_head():
                self._push_selection()
                self.states = m.states()

        self._guard(update)

    def _set_polling(self, seconds: float) -> None:
        if self._poll_stop is not None:
            self._poll_stop.set()
            self._poll_stop = None
        if seconds <= 0:
            return
        stop = threading.Event()
        self._poll_stop = stop

        def tick() -> None:
            # Checked under the lock: a refresh waiting for it when polling
            # was turned off (or the widget closed) does nothing.
            if not stop.is_set():
                self._cmd_refresh()

        def loop() -> None:
            while not stop.wait(max(seconds, 0.5)):
                self._guard(tick)

        threading.Thread(target=loop, name="agui-state-inspector-poll", daemon=True).start()

    def close(self) -> None:
        """Stop live updates and polling, close a backend opened from a URL, close the widget."""
        # Also reached from Widget.__del__ on an instance whose __init__ failed.
        lock = getattr(self, "_lock", None)
        if lock is not None:
            with lock:
                self._closed = True
        if getattr(self, "_unsubscribe", None) is not None:
            self._unsubscribe()  # type: ignore[misc]
            self._unsubscribe = None
        timer = getattr(self, "_live_timer", None)
        if timer is not None:
            timer.cancel()
        if getattr(self, "_poll_stop", None) is not None:
            self._poll_stop.set()  # type: ignore[union-attr]
            self._poll_stop = None
        model = getattr(self, "_model", None)
        if model is not None:
            model.reader.close()
        super().close()

    # ------------------------------------------------------------- display
    def __repr__(self) -> str:
        return text_repr(getattr(self, "_model", None))

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        data: dict[str, Any] = {
            "text/plain": repr(self),
            "text/html": static_html(self._model, self.log.get("items", [])),
        }
        if self._view_name is not None and self.comm is not None:
            data[WIDGET_MIME] = {"version_major": 2, "version_minor": 1, "model_id": self.model_id}
        return data, {}


def _readable(exc: BaseException) -> str:
    """One line naming the error kind and what was wrong."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing {text}"
    return f"{type(exc).__name__}: {text}"


def inspect(source: Any, state_id: str | None = None) -> StateInspector:
    """Open a :class:`StateInspector` on ``source`` (see its arguments)."""
    return StateInspector(source, state_id)
