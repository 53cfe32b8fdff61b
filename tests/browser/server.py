"""Start a private JupyterLab 4 server (which also serves Notebook 7) and talk to its REST API.

The server runs on a free loopback port with a random token and private config,
data, runtime, settings, workspace and root folders, so nothing from the
developer's own Jupyter setup (extensions, workspaces, kernels) leaks in and
nothing the tests do leaks out. ``PYTHONPATH`` points at the repository, so the
kernels the server starts import *this* tree of ``agui_state``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.servers._process import ServerExited, free_port, wait_until

__all__ = ["JupyterServer", "start_jupyter_server"]

START_TIMEOUT = 120.0
"""Seconds for the server to answer: two cores shared by a busy machine, be generous."""


@dataclass
class JupyterServer:
    """A running private Jupyter server with JupyterLab and Notebook 7 loaded.

    Attributes:
        port: Its loopback port.
        token: The random token every request carries.
        root: The server's root folder (notebooks are written here).
        log_path: Where the server's stdout and stderr go.
    """

    port: int
    token: str
    root: Path
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port/``."""
        return f"http://127.0.0.1:{self.port}/"

    def url(self, path: str) -> str:
        """A browser URL for ``path`` (relative to the base URL) that logs in with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the REST API (``api/...``) and return the decoded JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # always our own loopback server
            f"{self.base_url}api/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def session_for(self, path: str) -> dict[str, Any] | None:
        """The server's session (with its kernel) for the notebook at ``path``, if any."""
        sessions: list[dict[str, Any]] = self.api("GET", "sessions")
        for session in sessions:
            if session.get("path") == path:
                return session
        return None

    def kernel_state(self, path: str) -> str | None:
        """The execution state (``starting``, ``busy``, ``idle``...) of ``path``'s kernel."""
        session = self.session_for(path)
        if session is None or session.get("kernel") is None:
            return None
        kernel: dict[str, Any] = self.api("GET", f"kernels/{quote(session['kernel']['id'])}")
        return str(kernel.get("execution_state"))

    def shutdown_kernels(self) -> None:
        """Delete every session and kernel (between tests, and before stopping)."""
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{quote(session['id'])}")
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{quote(kernel['id'])}")

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the kernels and the server down; kill the process group if it lingers."""
        if self.proc.poll() is None:
            try:
                self.shutdown_kernels()
                self.api("POST", "shutdown")
            except (OSError, urllib.error.URLError):
                pass  # already going down: the signals below finish the job
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        # The server ran in its own process group (our Popen's pid); a kernel it
        # failed to reap must not outlive the test session.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def start_jupyter_server(repo_root: Path, workdir: Path, log_path: Path) -> JupyterServer:
    """Start ``jupyter lab`` on a free loopback port and wait until its REST API answers.

    Args:
        repo_root: Put on ``PYTHONPATH`` so kernels import this tree.
        workdir: An empty folder; the server's root and private Jupyter dirs go in it.
        log_path: Where the server's output goes (read it when a test fails).

    Raises:
        TimeoutError: The server did not answer within ``START_TIMEOUT``.
        ServerExited: The server process died while starting (see the log).
    """
    root = workdir / "root"
    dirs = {
        name: workdir / name
        for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")
    }
    for folder in (root, *dirs.values()):
        folder.mkdir(parents=True, exist_ok=True)
    # Lab asks in a toast whether to fetch Jupyter news; the toast covers the
    # notebook in screenshots, and the answer would be network traffic: say no.
    notification = dirs["settings"] / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = free_port()
    token = secrets.token_hex(24)
    env = dict(os.environ)
    # The notebooks' own conftest points the demo store of 00_start_here at a
    # temporary folder for nbval; a user's server has no such variable, and the
    # start-here test checks the store lands next to the notebook, as it would.
    env.pop("AGUI_STATE_DEMO_DIR", None)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(repo_root), os.environ.get("PYTHONPATH", "")) if p
            ),
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "IPYTHONDIR": str(dirs["ipython"]),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.terminals_enabled=False",
        # The tests drive the front end through its command registry: expose it.
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        # No network from the front end, and no pop-ups over the notebook.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LanguageServerManager.autodetect=False",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()  # the child holds its own descriptor
    server = JupyterServer(port=port, token=token, root=root, log_path=log_path, proc=proc)

    def answers() -> bool:
        if proc.poll() is not None:
            raise ServerExited(
                f"jupyter lab exited with {proc.returncode}; see {log_path}:\n"
                + log_path.read_text(errors="replace")[-2000:]
            )
        status = server.api("GET", "status", timeout=2.0)
        return isinstance(status, dict)

    try:
        wait_until(answers, START_TIMEOUT, f"jupyter lab on port {port}")
    except BaseException:
        server.stop(timeout=5.0)
        raise
    return server
