"""``%state`` IPython magics: ``%load_ext agui_state``.

::

    %load_ext agui_state
    %state connect file:///tmp/agui --state thread-1
    %state set /cart/total 7.5
    total = %state get /cart/total
    %state history --path /cart

Modules: :mod:`.magic` (the ``StateMagic`` class and its options),
:mod:`.parsing` (argparse raising ``UsageError``), :mod:`.expand` (explicit
``{name}`` expansion), :mod:`.connections`, :mod:`.session`,
:mod:`.commands` (one module per command group), :mod:`.render`,
:mod:`.frame`, :mod:`.progress`, :mod:`.completion`, :mod:`.errors`.

The magic instance registered in a shell holds every connection: there is no
module-level state, so two shells never share connections.
"""

from __future__ import annotations

from typing import Any

from agui_state.jupyter.magics.completion import make_matcher
from agui_state.jupyter.magics.errors import MagicStateError
from agui_state.jupyter.magics.magic import StateMagic

__all__ = ["MagicStateError", "StateMagic", "load_ipython_extension", "unload_ipython_extension"]


def _registered(shell: Any) -> StateMagic | None:
    magic = shell.magics_manager.registry.get("StateMagic")
    return magic if isinstance(magic, StateMagic) else None


def load_ipython_extension(shell: Any) -> None:
    """Register ``%state`` / ``%%state``, its ``%config StateMagic`` options and completion."""
    if _registered(shell) is not None:
        return  # %load_ext twice, or %reload_ext after unload failed: keep the connections
    magic = StateMagic(shell=shell, parent=shell)
    shell.register_magics(magic)
    if magic not in shell.configurables:  # Magics.__init__ adds itself (IPython 8+)
        shell.configurables.append(magic)
    magic.matcher = make_matcher(magic.connections)
    shell.Completer.custom_matchers.append(magic.matcher)


def unload_ipython_extension(shell: Any) -> None:
    """Close every connection and remove ``%state`` from the shell."""
    magic = _registered(shell)
    if magic is None:
        return
    magic.close_all()
    del shell.magics_manager.registry["StateMagic"]
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("state", None)
    shell.configurables[:] = [c for c in shell.configurables if c is not magic]
    if magic.matcher in shell.Completer.custom_matchers:
        shell.Completer.custom_matchers.remove(magic.matcher)
