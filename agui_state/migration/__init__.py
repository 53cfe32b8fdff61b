"""Export, import and backend-to-backend migration of whole states, on top of the backend contract.

Modules: ``transfer`` (:func:`export_data`, :func:`import_data`,
:func:`migrate` and their reports; the dump format is described there),
``dump`` (parsing and checking a dump), ``copying`` and ``writes`` (copying
one state between backends). The public names are ``transfer``'s.
"""

from agui_state.migration import transfer
from agui_state.migration.transfer import *  # noqa: F403

__all__ = transfer.__all__
