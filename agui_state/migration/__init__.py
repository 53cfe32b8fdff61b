"""Export, import and backend-to-backend migration of whole states, on top of the backend contract.

Modules: ``transfer`` (:func:`export_data`, :func:`import_data`,
:func:`migrate` and their reports; the dump format is described there),
``dump`` (parsing and checking a dump), ``copying`` and ``writes`` (copying
one state between backends).
"""

from agui_state.migration.transfer import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    BackendLike,
    ImportReport,
    MigrationReport,
    ProgressCallback,
    export_data,
    import_data,
    migrate,
)

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "BackendLike",
    "ImportReport",
    "MigrationReport",
    "ProgressCallback",
    "export_data",
    "import_data",
    "migrate",
]
