"""The SQL backend: SQLite and PostgreSQL through SQLAlchemy (see ``backend``).

Modules: ``backend`` (``SQLBackend``), ``schema`` (tables and versioned
migrations), ``engine`` (engines and pools), ``driver`` and ``retry``
(transactions and their retries), ``errors`` (driver errors mapped to ours),
``codec``, ``queries``, ``writes``, ``hot`` (the single-update fast path) and
``checkpoints``.
"""

from agui_state.backends.sql.backend import SQLBackend, prefix_upper_bound

__all__ = ["SQLBackend", "prefix_upper_bound"]
