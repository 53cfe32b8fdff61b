"""The public surface: ``agui_state.__all__`` is exactly what we promise, and every name exists."""

from __future__ import annotations

import agui_state
from agui_state import errors

EXPECTED = {
    # stores
    "StateStore", "StoreTransaction", "StateChange", "StoreOptions", "StoreLimits",
    "PersistentStateStore", "PersistentTransaction",
    # data shapes and configuration
    "StateVersion", "StateSnapshot",
    "StorageConfig", "FileOptions", "RedisOptions", "PostgreSQLOptions",
    # backends and migration
    "StorageBackend", "create_backend", "register_backend",
    "export_data", "import_data", "migrate",
    # errors
    *errors.__all__,
    "__version__",
}  # fmt: skip


def test_all_is_exactly_the_promised_surface() -> None:
    assert set(agui_state.__all__) == EXPECTED
    assert len(agui_state.__all__) == len(set(agui_state.__all__))


def test_every_exported_name_resolves() -> None:
    for name in agui_state.__all__:
        assert getattr(agui_state, name) is not None, name


def test_migrate_is_the_function_and_migration_the_module() -> None:
    import agui_state.migration as migration

    assert callable(agui_state.migrate)
    assert agui_state.migrate is migration.migrate
    assert agui_state.export_data is migration.export_data


def test_public_classes_have_docstrings() -> None:
    for name in agui_state.__all__:
        obj = getattr(agui_state, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"


def test_import_paths_survive_the_restructure() -> None:
    # The subpackages re-export their classes: these paths are documented.
    from agui_state.backends.file import FileBackend
    from agui_state.backends.redis import RedisBackend
    from agui_state.backends.sql import SQLBackend
    from agui_state.migration import ImportReport, MigrationReport
    from agui_state.persistent import PersistentStateStore, PersistentTransaction
    from agui_state.store import StateStore, StoreLimits, StoreOptions, StoreTransaction

    assert FileBackend.backend_type == "file"
    assert SQLBackend.__module__ == "agui_state.backends.sql.backend"
    assert RedisBackend.__module__ == "agui_state.backends.redis.backend"
    assert PersistentStateStore is agui_state.PersistentStateStore
    assert PersistentTransaction is agui_state.PersistentTransaction
    assert StateStore is agui_state.StateStore
    assert StoreTransaction is agui_state.StoreTransaction
    assert (StoreLimits, StoreOptions) == (agui_state.StoreLimits, agui_state.StoreOptions)
    assert ImportReport.__module__ == MigrationReport.__module__ == "agui_state.migration.transfer"
