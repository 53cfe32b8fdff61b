"""Command-line parsing of ``%state``: split from doing, never exits.

Every subcommand has its own :class:`argparse.ArgumentParser` (``prog`` is
``%state NAME``) whose errors raise IPython's ``UsageError`` carrying that
subcommand's usage line, and whose ``--help`` prints the help and returns
instead of calling ``sys.exit``. :func:`parse` turns a line into a
:class:`Command` (the subcommand's name and its ``argparse.Namespace``);
the command modules never see raw text.

Tokens are split like a shell (``shlex``: quote a pointer that has spaces).
``%state set`` is the exception: everything after its pointer is the JSON
value, taken verbatim, so ``%state set /cart {"items": [], "note": "a b"}``
needs no quoting.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from IPython.core.error import UsageError

__all__ = ["SUBCOMMANDS", "Command", "HelpShown", "parse", "parse_meta", "split_raw_tail"]


class HelpShown(Exception):
    """Raised after ``--help`` printed the help: the command does nothing."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage().strip()}\n{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status == 0:
            raise HelpShown
        raise UsageError(f"{self.format_usage().strip()}\n{message or ''}".strip())


@dataclass(frozen=True)
class Command:
    """A parsed ``%state`` command line.

    Attributes:
        name: The subcommand (``"get"``, ``"patch"``...).
        args: Its parsed arguments.
    """

    name: str
    args: argparse.Namespace


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    convert.__name__ = "integer"
    return convert


def _version_ref(text: str) -> int | str:
    """A version number, or any other text (a version or snapshot id)."""
    try:
        return int(text)
    except ValueError:
        return text


def _meta_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-id", metavar="R", help="run id recorded in the version metadata")
    p.add_argument(
        "--meta",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="metadata entry (VALUE parsed as JSON when it is JSON, else text); repeatable",
    )


def _build(name: str, description: str, add: Callable[[argparse.ArgumentParser], None]) -> _Parser:
    p = _Parser(prog=f"%state {name}", description=description, add_help=True, allow_abbrev=False)
    add(p)
    return p


def _connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="backend URL (file:///dir, sqlite:///f.db, postgresql://, redis://)")
    p.add_argument("--as", dest="name", metavar="NAME", help="connection name (default: its kind)")
    p.add_argument("--state", metavar="ID", help="state (thread) id (default: 'default')")


def _use(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="NAME_OR_STATE_ID", help="a connection name, else a state id")


def _close(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", metavar="NAME", help="connection to close (default: current)")


def _states(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", metavar="P", help="only ids starting with P")
    p.add_argument("--limit", metavar="N", type=_int_at_least(1), help="at most N ids")


def _get(p: argparse.ArgumentParser) -> None:
    p.add_argument("pointer", nargs="?", default="", metavar="POINTER", help="JSON Pointer")
    p.add_argument("--version", metavar="N", type=_int_at_least(0), help="read at version N")


def _set(p: argparse.ArgumentParser) -> None:
    _meta_options(p)
    p.add_argument("pointer", metavar="POINTER", help="JSON Pointer")
    p.add_argument("value", metavar="JSON", help="the new value, as JSON (rest of the line)")


def _delete(p: argparse.ArgumentParser) -> None:
    _meta_options(p)
    p.add_argument("pointer", metavar="POINTER", help="JSON Pointer")


def _patch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    _meta_options(p)


def _history(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", metavar="P", help="only versions touching pointer P")
    p.add_argument("--run", metavar="R", help="only versions of run R")
    p.add_argument("--limit", metavar="N", type=_int_at_least(1), default=1000, help="at most N")
    p.add_argument("--all-states", action="store_true", help="every state of the connection")


def _show(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", metavar="VERSION", type=_version_ref, help="number or version id")


def _diff(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", type=_version_ref, help="version number or snapshot id")
    p.add_argument("b", metavar="B", type=_version_ref, nargs="?", help="default: A's parent -> A")


def _changes(p: argparse.ArgumentParser) -> None:
    p.add_argument("pointer", metavar="POINTER", help="JSON Pointer")
    p.add_argument("--all-states", action="store_true", help="every state of the connection")
    p.add_argument("--limit", metavar="N", type=_int_at_least(1), help="at most N changes")


def _blame(p: argparse.ArgumentParser) -> None:
    p.add_argument("pointer", nargs="?", default="", metavar="POINTER", help="JSON Pointer")
    p.add_argument("--version", metavar="N", type=_int_at_least(0), help="as of version N")


def _snapshot(p: argparse.ArgumentParser) -> None:
    p.add_argument("label", nargs="?", metavar="LABEL", help="a label for the snapshot")


def _restore(p: argparse.ArgumentParser) -> None:
    p.add_argument("snapshot_id", metavar="SNAPSHOT_ID", help="snapshot to restore")
    p.add_argument("--yes", action="store_true", help="really restore (without: only show)")
    _meta_options(p)


def _migrate(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_URL", help="backend URL or connection name")
    p.add_argument("destination", metavar="DEST_URL", help="backend URL or connection name")
    p.add_argument("--states", metavar="ID", nargs="+", help="only these states")
    p.add_argument("--dry-run", action="store_true", help="show what would be copied")


def _export(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="JSON file to write")
    p.add_argument("--states", metavar="ID", nargs="+", help="only these states (default: all)")


def _import(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="JSON file written by %%state export")
    p.add_argument("--overwrite", action="store_true", help="replace states that differ")


def _nothing(p: argparse.ArgumentParser) -> None:
    del p  # no arguments


def _browse(p: argparse.ArgumentParser) -> None:
    p.add_argument("pointer", nargs="?", default="", metavar="POINTER", help="sub-path to pin")


# name -> (description, arguments): the one table of what %state accepts.
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "connect": ("Open a backend and make it the current connection.", _connect),
    "use": ("Switch to a connection, or to another state of the current one.", _use),
    "connections": ("List the open connections (passwords redacted).", _nothing),
    "close": ("Close a connection.", _close),
    "states": ("List the states (thread ids) of the connection.", _states),
    "get": ("Return the value at POINTER (the whole state by default).", _get),
    "set": ("Set the value at POINTER to JSON (one new version).", _set),
    "delete": ("Delete the value at POINTER (one new version).", _delete),
    "patch": ("%%state patch: apply the cell's JSON Patch as one version.", _patch),
    "history": ("The versions of the state, newest first.", _history),
    "show": ("One version: its delta, metadata and parent.", _show),
    "diff": ("What changed between two versions or snapshots.", _diff),
    "changes": ("Every change of one pointer over time.", _changes),
    "blame": ("Which version last set each value under POINTER.", _blame),
    "snapshot": ("Take a snapshot of the current state.", _snapshot),
    "snapshots": ("List the state's snapshots.", _nothing),
    "restore": ("Restore a snapshot as a new version (needs --yes).", _restore),
    "migrate": ("Copy states with their history between backends.", _migrate),
    "export": ("Write states with their full history to a JSON file.", _export),
    "import": ("Read a JSON file written by export into the connection.", _import),
    "stats": ("Figures of the connection's backend.", _nothing),
    "ping": ("Check that the backend answers.", _nothing),
    "browse": ("Open the state inspector widget.", _browse),
}

# One shell word: unquoted runs and quoted strings, glued together.
_WORD = re.compile(r"""(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+""")

# Options of `set` that take a value: needed to find where its pointer is.
_SET_VALUE_OPTIONS = {"--run-id", "--meta"}


def parser_for(name: str) -> argparse.ArgumentParser:
    """Return a fresh parser of subcommand ``name`` (which must exist)."""
    description, add = SUBCOMMANDS[name]
    return _build(name, description, add)


def overview() -> str:
    """Return the one-screen help of ``%state`` listing every subcommand."""
    width = max(len(n) for n in SUBCOMMANDS)
    lines = ["usage: %state SUBCOMMAND [ARGS]   (%state SUBCOMMAND --help for one)", ""]
    lines += [f"  {name:<{width}}  {desc}" for name, (desc, _) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def split_raw_tail(rest: str) -> list[str]:
    """Split the arguments of ``set``: options, the pointer, then the raw JSON.

    Raises:
        UsageError: The quoting is unbalanced.
    """
    tokens: list[str] = []
    text = rest.strip()
    expect_value = False
    while text:
        match = _WORD.match(text)
        try:
            if match is None:
                raise ValueError("No closing quotation")
            (token,) = shlex.split(match.group(), comments=False, posix=True)
        except ValueError as exc:
            raise UsageError(f"{parser_for('set').format_usage().strip()}\n{exc}") from None
        text = text[match.end() :].lstrip()
        if expect_value:
            expect_value = False
        elif token in _SET_VALUE_OPTIONS:
            expect_value = True
        elif not token.startswith("-"):
            # "--": a JSON value such as -1e3 must not be taken for an option.
            tokens += ["--", token, text] if text else ["--", token]
            break
        tokens.append(token)
    return tokens


def parse(line: str) -> Command | None:
    """Parse a ``%state`` line into a :class:`Command`.

    Returns:
        The command, or ``None`` when help was printed instead.

    Raises:
        UsageError: Unknown subcommand or bad arguments (with the usage line).
    """
    stripped = line.strip()
    if not stripped or stripped in {"-h", "--help", "help"}:
        print(overview())
        return None
    name, _, rest = stripped.partition(" ")
    if name not in SUBCOMMANDS:
        raise UsageError(f"unknown subcommand {name!r}\n{overview()}")
    parser = parser_for(name)
    if name == "set":
        tokens = split_raw_tail(rest)
    else:
        try:
            tokens = shlex.split(rest, comments=False, posix=True)
        except ValueError as exc:
            raise UsageError(f"{parser.format_usage().strip()}\n{exc}") from None
    try:
        args = parser.parse_args(tokens)
    except HelpShown:  # argparse printed the help already
        return None
    return Command(name, args)


def parse_meta(items: Sequence[str], run_id: str | None) -> dict[str, Any] | None:
    """Build version metadata from ``--meta KEY=VALUE`` items and ``--run-id``.

    Raises:
        UsageError: An item has no ``=``.
    """
    meta: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta expects KEY=VALUE, got {item!r}")
        try:
            meta[key] = json.loads(raw)
        except ValueError:
            meta[key] = raw
    if run_id is not None:
        meta["run_id"] = run_id
    return meta or None
