"""Storage configuration, URL parsing and password redaction.

:class:`StorageConfig` mirrors the original design's ``StorageConfig`` with its
option blocks (:class:`FileOptions`, :class:`RedisOptions`,
:class:`PostgreSQLOptions`), in Python style. It is usually built from a URL::

    StorageConfig.from_url("file:///var/lib/agui-state")
    StorageConfig.from_url("sqlite:///state.db")
    StorageConfig.from_url("postgresql+psycopg://user:pw@db/app?schema=agui")
    StorageConfig.from_url("redis://:pw@cache:6379/0?key_prefix=app:state:")

Query parameters set configuration fields by name (``schema``,
``table_prefix``, ``checkpoint_interval``, ``connect_timeout``, any option
field such as ``shard_count`` or ``key_prefix``). Unknown parameters are a
:class:`~agui_state.errors.ConfigError`, except on PostgreSQL where they are
passed on to the driver.

Passwords never appear in ``repr``, ``stats()``, logs or error messages: use
:func:`redact_url` whenever a URL is shown.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from agui_state.errors import ConfigError

__all__ = [
    "BACKEND_TYPES",
    "FileOptions",
    "PostgreSQLOptions",
    "RedisOptions",
    "StorageConfig",
    "parse_options",
    "redact_url",
]

OptionsT = TypeVar("OptionsT")

BACKEND_TYPES = ("memory", "file", "sqlite", "postgresql", "redis")
"""Backend types known to the package itself (third parties may register more)."""

_SCHEME_TYPES = {
    "memory": "memory",
    "file": "file",
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "redis": "redis",
    "rediss": "redis",
    "redis+cluster": "redis",
    "rediss+cluster": "redis",
}

_REDACTED = "***"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def redact_url(url: str | None) -> str:
    """Return ``url`` with any password replaced by ``***``.

    Works on URLs with or without a user name (``redis://:pw@host``) and leaves
    URLs without credentials unchanged. Query parameters named ``password``
    are redacted too.
    """
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    has_password_param = "password=" in parts.query.lower()
    if ":" not in netloc.rpartition("@")[0] and not has_password_param:
        return url  # nothing secret in it: show it exactly as given
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{_REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() == "password" for k, _ in pairs):
            query = urlencode([(k, _REDACTED if k.lower() == "password" else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass(slots=True)
class FileOptions:
    """Options of the file backend.

    Attributes:
        base_dir: Folder holding ``states/``, ``versions/`` and ``snapshots/``.
        enable_sharding: Spread files over ``shard_N/`` sub-folders.
        shard_count: Number of shards (1..4096).
        file_mode: Permission bits of created files (e.g. ``0o644``).
        enable_backups: Keep rotated backups of checkpoint files.
        backup_count: Number of backup generations kept (>= 1 when enabled).
        fsync: Flush data to disk before acknowledging a write. Turning it off
            trades durability on power loss for speed (tests, scratch data).
    """

    base_dir: str = "./agui-state-data"
    enable_sharding: bool = True
    shard_count: int = 16
    file_mode: int = 0o644
    enable_backups: bool = True
    backup_count: int = 5
    fsync: bool = True


@dataclass(slots=True)
class RedisOptions:
    """Options of the Redis backend.

    Attributes:
        pool_size: Maximum connections in the pool.
        min_idle_conns: Connections opened eagerly at start.
        max_retries: Retries on connection errors and timeouts.
        password: Password (taken from the URL when given there); never shown.
        db: Database number (ignored on Redis Cluster).
        key_prefix: Prefix of every key this backend writes.
        ttl_seconds: Expire a whole state this long after its last write
            (``None``: never).
        cluster: Use Redis Cluster (also chosen by ``redis+cluster://``).
        ssl: Use TLS (also chosen by ``rediss://``).
    """

    pool_size: int = 10
    min_idle_conns: int = 0
    max_retries: int = 3
    password: str | None = field(default=None, repr=False)
    db: int = 0
    key_prefix: str = "agui:state:"
    ttl_seconds: int | None = None
    cluster: bool = False
    ssl: bool = False

    def __repr__(self) -> str:
        def show(name: str) -> str:
            if name == "password" and self.password:
                return repr(_REDACTED)
            return repr(getattr(self, name))

        shown = ", ".join(f"{f.name}={show(f.name)}" for f in dataclasses.fields(self))
        return f"RedisOptions({shown})"


@dataclass(slots=True)
class PostgreSQLOptions:
    """Options of the PostgreSQL backend.

    Attributes:
        ssl_mode: libpq ``sslmode`` (``disable``, ``prefer``, ``require``...).
        application_name: Shown in ``pg_stat_activity``.
    """

    ssl_mode: str = "prefer"
    application_name: str = "agui-state"


_CONFIG_FIELDS = {
    "schema",
    "table_prefix",
    "max_connections",
    "connect_timeout",
    "read_timeout",
    "write_timeout",
    "max_retries",
    "checkpoint_interval",
    "auto_setup",
}


_OPTION_BLOCKS: dict[str, type[Any]] = {
    "file_options": FileOptions,
    "redis_options": RedisOptions,
    "postgresql_options": PostgreSQLOptions,
}


@dataclass(slots=True)
class StorageConfig:
    """Configuration of one storage backend.

    Attributes:
        type: Backend type (``memory``, ``file``, ``sqlite``, ``postgresql``,
            ``redis`` or a registered third-party name).
        connection_url: URL of the backend (holds the password, if any; never
            shown unredacted).
        schema: SQL schema (PostgreSQL) for the tables.
        table_prefix: Prefix of the SQL table names.
        max_connections: Connection pool size (SQL).
        connect_timeout: Seconds to wait for a connection.
        read_timeout: Seconds a read may take.
        write_timeout: Seconds a write may take (statement timeout on PostgreSQL).
        max_retries: Retries on transient errors, with exponential backoff.
        checkpoint_interval: ``K``: only every K-th version may carry a full
            checkpoint (the store's size-aware cadence picks which; see
            :class:`~agui_state.store.StoreOptions`).
        auto_setup: Create tables / run migrations on first use (SQL).
        file_options: Options of the file backend.
        redis_options: Options of the Redis backend.
        postgresql_options: Options of the PostgreSQL backend.
        extra: Backend-specific settings for third-party backends.
    """

    type: str = "memory"
    connection_url: str | None = field(default=None, repr=False)
    schema: str | None = None
    table_prefix: str = "agui_"
    max_connections: int = 10
    connect_timeout: float = 10.0
    read_timeout: float = 5.0
    write_timeout: float = 5.0
    max_retries: int = 3
    checkpoint_interval: int = 100
    auto_setup: bool = True
    file_options: FileOptions = field(default_factory=FileOptions)
    redis_options: RedisOptions = field(default_factory=RedisOptions)
    postgresql_options: PostgreSQLOptions = field(default_factory=PostgreSQLOptions)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A dict of options is accepted (and checked key by key); anything
        # else that is not the options class is refused here, not later with
        # an AttributeError deep inside a backend.
        for block, kind in _OPTION_BLOCKS.items():
            value = getattr(self, block)
            if isinstance(value, dict):
                known = {f.name for f in dataclasses.fields(kind)}
                for key in value:
                    if key not in known:
                        raise ConfigError(f"{block}.{key}", "unknown option")
                setattr(self, block, kind(**value))
            elif not isinstance(value, kind):
                raise ConfigError(
                    block, f"must be a {kind.__name__} or a dict, got {type(value).__name__}"
                )

    def __repr__(self) -> str:
        return (
            f"StorageConfig(type={self.type!r}, "
            f"connection_url={redact_url(self.connection_url)!r}, "
            f"schema={self.schema!r}, table_prefix={self.table_prefix!r}, "
            f"max_connections={self.max_connections}, connect_timeout={self.connect_timeout}, "
            f"read_timeout={self.read_timeout}, write_timeout={self.write_timeout}, "
            f"max_retries={self.max_retries}, checkpoint_interval={self.checkpoint_interval}, "
            f"file_options={self.file_options!r}, redis_options={self.redis_options!r}, "
            f"postgresql_options={self.postgresql_options!r})"
        )

    @property
    def redacted_url(self) -> str:
        """The connection URL with its password replaced by ``***``."""
        return redact_url(self.connection_url)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> StorageConfig:
        """Build a configuration from a backend URL.

        Args:
            url: ``memory://``, ``file:///path``, ``sqlite:///path``,
                ``sqlite://`` (in memory), ``postgresql[+psycopg]://...``,
                ``redis://[:password@]host:port/db``, ``rediss://...`` or
                ``redis+cluster://host:port``.
            **overrides: Configuration fields to set after parsing.

        Returns:
            A validated configuration.

        Raises:
            ConfigError: The URL or one of its parameters is invalid.
        """
        if not isinstance(url, str) or "://" not in url:
            raise ConfigError("connection_url", f"not a backend URL: {redact_url(str(url))!r}")
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ConfigError("connection_url", f"unparseable URL {redact_url(url)!r}") from exc
        scheme = parts.scheme.lower()
        btype = _SCHEME_TYPES.get(scheme)
        if btype is None:
            # A third-party backend registered under its scheme name.
            btype = scheme
        cfg = cls(type=btype, connection_url=url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        passthrough: list[tuple[str, str]] = []
        for key, value in params:
            if not cfg._set_param(key, value):
                if btype == "postgresql":
                    passthrough.append((key, value))
                elif btype not in BACKEND_TYPES:
                    cfg.extra[key] = value
                else:
                    raise ConfigError(key, f"unknown URL parameter for {btype} backend")
        if btype == "file":
            path = unquote(parts.netloc + parts.path) if parts.netloc else unquote(parts.path)
            if not path:
                raise ConfigError("file_options.base_dir", "file:// URL has no path")
            cfg.file_options.base_dir = path
        elif btype == "redis":
            ro = cfg.redis_options
            if parts.password is not None:
                ro.password = unquote(parts.password)
            if scheme.endswith("+cluster"):
                ro.cluster = True
            if scheme.startswith("rediss"):
                ro.ssl = True
            db_text = parts.path.lstrip("/")
            if db_text:
                if not db_text.isdigit():
                    raise ConfigError("redis_options.db", f"not a database number: {db_text!r}")
                ro.db = int(db_text)
        elif btype == "sqlite":
            # Every parameter was ours (unknown ones raised above): the driver
            # must not see them (pysqlite warns about, or rejects, each one).
            cfg.connection_url = url.split("?", 1)[0]
        elif btype == "postgresql":
            cfg.connection_url = urlunsplit(
                (parts.scheme, parts.netloc, parts.path, urlencode(passthrough), parts.fragment)
            )
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise ConfigError(key, "unknown configuration field")
            setattr(cfg, key, value)
        cfg.validate()
        return cfg

    def _set_param(self, key: str, value: str) -> bool:
        """Set a field from a URL query parameter; return False if unknown."""
        if key in _CONFIG_FIELDS:
            setattr(self, key, _coerce(key, value, getattr(self, key)))
            return True
        aliases = {"sslmode": ("postgresql_options", "ssl_mode")}
        if key in aliases:
            block, name = aliases[key]
            setattr(getattr(self, block), name, value)
            return True
        for block in ("file_options", "redis_options", "postgresql_options"):
            opts = getattr(self, block)
            if key in {f.name for f in dataclasses.fields(opts)}:
                setattr(opts, key, _coerce(f"{block}.{key}", value, getattr(opts, key)))
                return True
        return False

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check every field.

        Raises:
            ConfigError: Naming the first invalid field.
        """
        for block, kind in _OPTION_BLOCKS.items():
            if not isinstance(getattr(self, block), kind):
                raise ConfigError(block, f"must be a {kind.__name__}")
        if not isinstance(self.type, str) or not self.type:
            raise ConfigError("type", f"must be a non-empty string, got {self.type!r}")
        _positive("max_connections", self.max_connections)
        for name in ("connect_timeout", "read_timeout", "write_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(name, f"must be a positive number of seconds, got {value!r}")
        _non_negative("max_retries", self.max_retries)
        _positive("checkpoint_interval", self.checkpoint_interval)
        if self.schema is not None and not _IDENT.match(self.schema):
            raise ConfigError("schema", f"must be a plain SQL identifier, got {self.schema!r}")
        if not isinstance(self.table_prefix, str) or not re.match(
            r"^[A-Za-z0-9_]{0,40}$", self.table_prefix
        ):
            raise ConfigError(
                "table_prefix", f"letters, digits and _ only, got {self.table_prefix!r}"
            )
        fo = self.file_options
        if self.type == "file" and not str(fo.base_dir):
            raise ConfigError("file_options.base_dir", "must not be empty")
        if not isinstance(fo.shard_count, int) or not 1 <= fo.shard_count <= 4096:
            raise ConfigError(
                "file_options.shard_count", f"must be 1..4096, got {fo.shard_count!r}"
            )
        if not isinstance(fo.file_mode, int) or not 0 <= fo.file_mode <= 0o777:
            raise ConfigError("file_options.file_mode", f"must be 0..0o777, got {fo.file_mode!r}")
        if fo.enable_backups:
            _positive("file_options.backup_count", fo.backup_count)
        else:
            _non_negative("file_options.backup_count", fo.backup_count)
        ro = self.redis_options
        _positive("redis_options.pool_size", ro.pool_size)
        _non_negative("redis_options.min_idle_conns", ro.min_idle_conns)
        if ro.min_idle_conns > ro.pool_size:
            raise ConfigError("redis_options.min_idle_conns", "must not exceed pool_size")
        _non_negative("redis_options.max_retries", ro.max_retries)
        _non_negative("redis_options.db", ro.db)
        if not isinstance(ro.key_prefix, str):
            raise ConfigError("redis_options.key_prefix", "must be a string")
        if any(ch in ro.key_prefix for ch in "{}"):
            raise ConfigError("redis_options.key_prefix", "must not contain '{' or '}' (hash tags)")
        if ro.ttl_seconds is not None:
            _positive("redis_options.ttl_seconds", ro.ttl_seconds)
        po = self.postgresql_options
        modes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
        if po.ssl_mode not in modes:
            raise ConfigError(
                "postgresql_options.ssl_mode",
                f"must be one of {sorted(modes)}, got {po.ssl_mode!r}",
            )
        if len(po.application_name) > 63:
            raise ConfigError("postgresql_options.application_name", "longer than 63 characters")

    def base_path(self) -> Path:
        """Return the file backend's base folder as a :class:`~pathlib.Path`."""
        return Path(self.file_options.base_dir)


def parse_options(options_type: type[OptionsT], values: Mapping[str, Any]) -> OptionsT:
    """Build a backend's own typed options from its URL parameters.

    For third-party backends: :meth:`StorageConfig.from_url` keeps the URL
    parameters it does not know in ``config.extra`` as strings; the backend
    turns them into its options dataclass (every field with a default)::

        @dataclass(frozen=True)
        class S3Options:
            region: str = "us-east-1"
            part_size: int = 8 * 2**20

        self.options = parse_options(S3Options, config.extra)

    Strings are converted to the type of the field's default (bool accepts
    ``true/false/1/0/yes/no/on/off``; int accepts ``0x`` prefixes); other
    values are taken as they are. The dataclass's ``__post_init__`` may
    check ranges and raise :class:`~agui_state.errors.ConfigError`.

    Args:
        options_type: A dataclass whose fields all have defaults.
        values: Parameter name to value (usually ``config.extra``).

    Returns:
        The options, defaults overridden by ``values``.

    Raises:
        ConfigError: An unknown parameter, or a value of the wrong type.
    """
    if not dataclasses.is_dataclass(options_type):
        raise TypeError(f"{options_type!r} is not a dataclass")
    defaults = options_type()
    known = {f.name for f in dataclasses.fields(options_type)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                key, f"unknown URL parameter for this backend; known: {', '.join(sorted(known))}"
            )
        current = getattr(defaults, key)
        changes[key] = _coerce(key, value, current) if isinstance(value, str) else value
    return dataclasses.replace(defaults, **changes)


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(name, f"must be a positive integer, got {value!r}")


def _non_negative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(name, f"must be a non-negative integer, got {value!r}")


def _coerce(name: str, text: str, current: Any) -> Any:
    """Convert a URL parameter to the type of the field's current value."""
    try:
        if isinstance(current, bool):
            lowered = text.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if isinstance(current, int):
            return int(text, 0)
        if isinstance(current, float):
            return float(text)
    except ValueError as exc:
        raise ConfigError(name, f"cannot parse {text!r} as {type(current).__name__}") from exc
    if current is None and name.endswith("ttl_seconds"):
        try:
            return int(text)
        except ValueError as exc:
            raise ConfigError(name, f"cannot parse {text!r} as int") from exc
    return text
