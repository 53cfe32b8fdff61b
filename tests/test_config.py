"""StorageConfig: URL parsing, validation naming the field, password redaction."""

from __future__ import annotations

import pytest

from agui_state.config import FileOptions, RedisOptions, StorageConfig, redact_url
from agui_state.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "btype"),
    [
        ("memory://", "memory"),
        ("file:///var/lib/agui", "file"),
        ("sqlite:///state.db", "sqlite"),
        ("sqlite://", "sqlite"),
        ("postgresql://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("redis://h:6379/0", "redis"),
        ("rediss://h:6379/0", "redis"),
        ("redis+cluster://h:7000", "redis"),
    ],
)
def test_from_url_picks_backend_type(url: str, btype: str) -> None:
    assert StorageConfig.from_url(url).type == btype


def test_file_url_sets_base_dir() -> None:
    cfg = StorageConfig.from_url("file:///var/lib/agui%20state?shard_count=8&enable_backups=false")
    assert cfg.file_options.base_dir == "/var/lib/agui state"
    assert cfg.file_options.shard_count == 8
    assert cfg.file_options.enable_backups is False


def test_redis_url_parts() -> None:
    cfg = StorageConfig.from_url("rediss://:s3cret@cache:6380/4?key_prefix=app:state:&pool_size=3")
    ro = cfg.redis_options
    assert (ro.password, ro.db, ro.ssl, ro.cluster) == ("s3cret", 4, True, False)
    assert (ro.key_prefix, ro.pool_size) == ("app:state:", 3)
    assert StorageConfig.from_url("redis+cluster://h:7000").redis_options.cluster is True


def test_postgres_url_options_and_passthrough() -> None:
    cfg = StorageConfig.from_url(
        "postgresql://u:pw@h/db?sslmode=require&schema=agui&application_name=x&target_session_attrs=any"
    )
    assert cfg.schema == "agui"
    assert cfg.postgresql_options.ssl_mode == "require"
    assert cfg.postgresql_options.application_name == "x"
    assert cfg.connection_url is not None
    assert "target_session_attrs=any" in cfg.connection_url
    assert "schema=" not in cfg.connection_url


def test_overrides_apply_after_parsing() -> None:
    cfg = StorageConfig.from_url("sqlite:///x.db", checkpoint_interval=7)
    assert cfg.checkpoint_interval == 7
    with pytest.raises(ConfigError) as info:
        StorageConfig.from_url("sqlite:///x.db", no_such_field=1)
    assert info.value.field == "no_such_field"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("not a url", "connection_url"),
        ("file://", "file_options.base_dir"),
        ("redis://h/notanumber", "redis_options.db"),
        ("sqlite:///x.db?bogus=1", "bogus"),
        ("sqlite:///x.db?checkpoint_interval=zero", "checkpoint_interval"),
        ("sqlite:///x.db?checkpoint_interval=0", "checkpoint_interval"),
        ("file:///x?shard_count=0", "file_options.shard_count"),
        ("redis://h?key_prefix=a{b}", "redis_options.key_prefix"),
        ("postgresql://h/db?sslmode=sometimes", "postgresql_options.ssl_mode"),
        ("postgresql://h/db?schema=x;drop", "schema"),
        ("sqlite:///x.db?table_prefix=a-b", "table_prefix"),
    ],
)
def test_invalid_config_names_the_field(url: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        StorageConfig.from_url(url)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("attr", "value", "field"),
    [
        ("max_connections", 0, "max_connections"),
        ("connect_timeout", -1, "connect_timeout"),
        ("read_timeout", True, "read_timeout"),
        ("max_retries", -1, "max_retries"),
    ],
)
def test_validate_rejects_bad_fields(attr: str, value: object, field: str) -> None:
    cfg = StorageConfig()
    setattr(cfg, attr, value)
    with pytest.raises(ConfigError) as info:
        cfg.validate()
    assert info.value.field == field


def test_option_blocks_validated() -> None:
    cfg = StorageConfig(file_options=FileOptions(file_mode=0o1777))
    with pytest.raises(ConfigError, match="file_mode"):
        cfg.validate()
    cfg = StorageConfig(redis_options=RedisOptions(pool_size=2, min_idle_conns=3))
    with pytest.raises(ConfigError, match="min_idle_conns"):
        cfg.validate()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://alice:hunter2@db/app", "postgresql://alice:***@db/app"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("memory://", "memory://"),
        ("postgresql://db/app?password=hunter2", "postgresql://db/app?password=%2A%2A%2A"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url)


def test_password_never_in_repr() -> None:
    cfg = StorageConfig.from_url("redis://:hunter2@cache:6379/0")
    assert cfg.redis_options.password == "hunter2"
    assert "hunter2" not in repr(cfg)
    assert "hunter2" not in repr(cfg.redis_options)
    assert "hunter2" not in str(cfg)
    assert "hunter2" not in cfg.redacted_url
    pg = StorageConfig.from_url("postgresql://alice:hunter2@db/app")
    assert "hunter2" not in repr(pg)


def test_third_party_scheme_keeps_params_as_extra() -> None:
    cfg = StorageConfig.from_url("s3://bucket/prefix?region=eu")
    assert cfg.type == "s3"
    assert cfg.extra == {"region": "eu"}
