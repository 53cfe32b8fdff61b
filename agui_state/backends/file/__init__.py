"""The file backend: the embedded default, one folder of append-only logs (see ``backend``).

Modules: ``backend`` (``FileBackend``), ``store`` (one state's files),
``write`` (planning and committing a batch), ``log`` (the version log),
``index`` (the state index), ``journal`` (the batch journal), ``locks``
(thread and process locks), ``names`` (safe file names) and ``io`` (durable
file operations).
"""

from agui_state.backends.file.backend import FileBackend

__all__ = ["FileBackend"]
