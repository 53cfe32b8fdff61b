"""Command line: ``python -m agui_state <command>``.

Commands:
    demo      Walk through the main job on the file backend: write a thread's
              state, persist it, reopen it, time-travel, snapshot, export.
    stats     Print a backend's statistics (password redacted).
    states    List the state ids of a backend.
    history   Print the version history of one state.
    export    Write a backend's states (full history and snapshots) as JSON.
    import    Load such a dump into a backend.
    migrate   Copy states from one backend to another (idempotent, resumable).

Every command takes backend URLs (``file:///path``, ``sqlite:///path``,
``postgresql+psycopg://...``, ``redis://...``). Errors from the library are
printed as one line and exit with status 1; usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from agui_state.errors import StateError

__all__ = ["main"]


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from agui_state.persistent.state_store import PersistentStateStore

    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="agui-state-demo-"))
    url = f"file://{base.resolve()}"
    out.write(f"agui-state demo on the file backend at {base}\n\n")
    with PersistentStateStore(url, state_id=args.state_id) as store:
        start = store.version
        if start:
            out.write(f"resumed thread {args.state_id!r} at version {start}\n")
        store.set("/cart/items", [])
        store.apply_patch(
            [
                {"op": "add", "path": "/cart/items/-", "value": {"sku": "tea", "qty": 2}},
                {"op": "add", "path": "/cart/total", "value": 7.0},
            ],
            metadata={"run_id": "run-1"},
        )
        snap = store.create_persistent_snapshot(label="two teas")
        store.apply_patch(
            [
                {"op": "add", "path": "/cart/items/-", "value": {"sku": "cake", "qty": 1}},
                {"op": "replace", "path": "/cart/total", "value": 11.5},
            ],
            metadata={"run_id": "run-2"},
        )
        out.write(f"current state (version {store.version}):\n{_dump(store.get_state())}\n\n")
        out.write("history, newest first:\n")
        for version in store.get_persistent_history(limit=5):
            ops = ", ".join(f"{op['op']} {op['path']}" for op in version.delta)
            out.write(f"  v{version.number}: {ops}  {version.metadata or ''}\n")
        out.write(f"\ntime travel to v{start + 2}: {_dump(store.state_at(start + 2))}\n")
        out.write(f"snapshot {snap.label!r} is at version {snap.version}\n")
    with PersistentStateStore(url, state_id=args.state_id) as reopened:
        out.write(f"\nreopened from disk: version {reopened.version}, ")
        out.write(f"total {reopened.get('/cart/total')}\n")
        dump = reopened.export_data()
        versions = sum(len(s["versions"]) for s in dump["states"])
        out.write(f"export holds {len(dump['states'])} state(s), {versions} version(s)\n")
    return 0


def _open_backend(url: str) -> Any:
    from agui_state.backends import create_backend

    return create_backend(url)


def _cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    with _open_backend(args.url) as backend:
        backend.ping()
        out.write(_dump(backend.stats()) + "\n")
    return 0


def _cmd_states(args: argparse.Namespace, out: TextIO) -> int:
    with _open_backend(args.url) as backend:
        for state_id in backend.list_states(prefix=args.prefix, limit=args.limit, after=args.after):
            out.write(f"{state_id}\n")
    return 0


def _cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    with _open_backend(args.url) as backend:
        for version in backend.get_version_history(args.state_id, limit=args.limit):
            out.write(json.dumps(version.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
    return 0


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    from agui_state.migration.transfer import export_data

    with _open_backend(args.url) as backend:
        dump = export_data(backend, state_ids=args.state_id or None)
    text = _dump(dump)
    if args.output and args.output != "-":
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        out.write(text + "\n")
    return 0


def _cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    from agui_state.migration.transfer import import_data

    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    with source:
        dump = json.load(source)
    with _open_backend(args.url) as backend:
        report = import_data(backend, dump, overwrite=args.overwrite)
    out.write(f"{report}\n")
    return 0


def _cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    from agui_state.migration.transfer import migrate

    report = migrate(
        args.source, args.destination, state_ids=args.state_id or None, progress=args.progress
    )
    out.write(f"{report}\n")
    return 0


class _UsageError(Exception):
    """Bad usage; the message is argparse's, usage line included."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser that raises on bad usage instead of exiting.

    So that :func:`main` returns 2 rather than raising ``SystemExit`` (a
    caller embedding the command line gets a status, as the docstring says).
    Subcommand parsers are of this class too (argparse builds them with
    ``type(parent)``).
    """

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.format_usage()}{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m agui_state", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="walk through the main job on the file backend")
    demo.add_argument("--dir", help="folder for the file backend (default: a new temp folder)")
    demo.add_argument("--state-id", default="demo-thread", help="state (thread) id")
    demo.set_defaults(func=_cmd_demo)

    stats = sub.add_parser("stats", help="print backend statistics")
    stats.add_argument("url")
    stats.set_defaults(func=_cmd_stats)

    states = sub.add_parser("states", help="list state ids")
    states.add_argument("url")
    states.add_argument("--prefix")
    states.add_argument("--after")
    states.add_argument("--limit", type=int, default=100)
    states.set_defaults(func=_cmd_states)

    history = sub.add_parser("history", help="print a state's history as JSON lines")
    history.add_argument("url")
    history.add_argument("state_id")
    history.add_argument("--limit", type=int, default=50)
    history.set_defaults(func=_cmd_history)

    export = sub.add_parser("export", help="export states with history and snapshots")
    export.add_argument("url")
    export.add_argument("--state-id", action="append", help="only this state (repeatable)")
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    export.set_defaults(func=_cmd_export)

    imp = sub.add_parser("import", help="import an export dump")
    imp.add_argument("url")
    imp.add_argument("input", help="dump file, or - for stdin")
    imp.add_argument("--overwrite", action="store_true", help="replace existing states")
    imp.set_defaults(func=_cmd_import)

    mig = sub.add_parser("migrate", help="copy states between backends")
    mig.add_argument("source")
    mig.add_argument("destination")
    mig.add_argument("--state-id", action="append", help="only this state (repeatable)")
    mig.add_argument("--progress", action="store_true", help="show a progress bar (tqdm)")
    mig.set_defaults(func=_cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
        out: Where to write results (default: standard output).

    Returns:
        The exit status: 0 on success, 1 on a library error, 2 on bad usage.
    """
    stream = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        sys.stderr.write(str(exc))
        return 2
    except SystemExit as exc:  # --help and --version print, then exit 0
        return exc.code if isinstance(exc.code, int) else 0
    try:
        status: int = args.func(args, stream)
    except StateError as exc:
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        return 1
    return status
