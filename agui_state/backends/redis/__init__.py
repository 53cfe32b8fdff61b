"""The Redis backend, through redis-py (see ``backend``).

Modules: ``backend`` (``RedisBackend``), ``conn`` (connections, retries and
error mapping), ``keys`` (the key layout), ``index`` (the state index),
``scripts`` (server-side Lua writes) and ``codec``.
"""

from agui_state.backends.redis.backend import RedisBackend

__all__ = ["RedisBackend"]
