"""The state index of the Redis backend: one sorted set listing every state id.

All scores are 0, so ``ZRANGEBYLEX`` pages it in byte order, which for UTF-8
is code-point order: ``list_states`` never needs KEYS or SCAN. Entries can
outlive their state (TTL expiry, a cluster delete interrupted before its
index step); listings check that each listed state exists and drop stale
entries. A state can be missing from it only on a cluster, after a crash
between its write and its index step; :meth:`StateIndex.repair` finds those
with SCAN.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from agui_state.backends.redis.conn import Connector
from agui_state.backends.redis.keys import KeyLayout, id_bytes, id_from_bytes, lex_range
from agui_state.errors import StorageError

__all__ = ["StateIndex"]

_log = logging.getLogger("agui_state.backends.redis")
_PAGE = 500


class StateIndex:
    """Reads and maintains the index key of one prefix.

    Args:
        conn: The backend's connector (client, retries, error mapping).
        keys: The backend's key layout.
    """

    def __init__(self, conn: Connector, keys: KeyLayout) -> None:
        self._conn = conn
        self.keys = keys

    def page(self, prefix: str | None, limit: int, after: str | None) -> list[str]:
        """Return up to ``limit`` existing state ids, ascending (see ``list_states``)."""
        client = self._conn.client
        low, high = lex_range(prefix, after)
        out: list[str] = []
        while len(out) < limit:
            want = limit - len(out)
            page = self._conn.call(
                "list_states",
                partial(client.zrangebylex, self.keys.index, low, high, start=0, num=want),
            )
            if not page:
                break
            ids = [id_from_bytes(raw) for raw in page]
            alive = self.alive(ids)
            out.extend(sid for sid, ok in zip(ids, alive, strict=True) if ok)
            stale = [sid for sid, ok in zip(ids, alive, strict=True) if not ok]
            if stale:
                try:
                    self.drop_stale(stale)
                except StorageError as exc:  # a cleanup; the listing itself is right
                    _log.warning("redis: stale index entries not dropped: %s", exc)
            if len(page) < want:
                break
            low = b"(" + page[-1]
        return out

    def alive(self, state_ids: list[str]) -> list[bool]:
        """Whether each state exists (one pipelined round trip)."""
        client = self._conn.client

        def run() -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for sid in state_ids:
                pipe.exists(self.keys.state(sid).meta)
            return list(pipe.execute())

        return [bool(n) for n in self._conn.call("list_states", run)]

    def drop_stale(self, state_ids: list[str]) -> int:
        """Remove index entries of absent states; re-add any created meanwhile.

        Remove-then-recheck (not check-then-remove): a state created between
        the listing's check and the removal is seen by the recheck, so it
        can never end up missing from the index.

        Returns:
            How many entries stayed removed.
        """
        client = self._conn.client
        members = [id_bytes(s) for s in state_ids]
        removed = int(
            self._conn.call("index cleanup", lambda: client.zrem(self.keys.index, *members))
        )
        back = [sid for sid, ok in zip(state_ids, self.alive(state_ids), strict=True) if ok]
        if back:
            self._conn.call(
                "index cleanup",
                lambda: client.zadd(self.keys.index, {id_bytes(s): 0 for s in back}),
            )
        return removed - len(back)

    def repair(self) -> dict[str, int]:
        """Add every stored state missing from the index, drop entries of absent ones.

        Returns:
            ``{"scanned": meta keys seen, "added": entries added, "removed": entries removed}``.
        """
        client = self._conn.client
        pattern = self.keys.meta_pattern()
        found: list[str] = []
        scanned = added = 0

        def flush() -> int:
            mapping = {id_bytes(s): 0 for s in found}
            return int(
                self._conn.call(
                    "repair_index", lambda: client.zadd(self.keys.index, mapping, nx=True)
                )
            )

        for node in self._conn.call("repair_index", self._conn.node_clients):
            cursor = 0
            while True:
                cursor, keys = self._conn.call(
                    "repair_index", partial(node.scan, cursor=cursor, match=pattern, count=1000)
                )
                for key in keys:
                    state_id = self.keys.state_id_of_meta(key)
                    if state_id is not None:
                        scanned += 1
                        found.append(state_id)
                if len(found) >= _PAGE:
                    added += flush()
                    found = []
                if not cursor:
                    break
        if found:
            added += flush()
        removed = 0
        low = b"-"
        while True:
            page = self._conn.call(
                "repair_index",
                partial(client.zrangebylex, self.keys.index, low, "+", start=0, num=_PAGE),
            )
            if not page:
                break
            ids = [id_from_bytes(raw) for raw in page]
            stale = [sid for sid, ok in zip(ids, self.alive(ids), strict=True) if not ok]
            if stale:
                removed += self.drop_stale(stale)
            low = b"(" + page[-1]
        return {"scanned": scanned, "added": added, "removed": removed}
