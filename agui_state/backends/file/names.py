"""Safe file names for arbitrary ids, and the stable hashes behind shards and locks.

A state id (or snapshot id) may be any string: ``../../etc/passwd``, ``CON``,
``a/b\\c``, emoji, 1024 characters, ids that differ only in case. None of it
may reach the file system as a path. :func:`encode_name` turns an id into
``<readable prefix>-<hash>``:

* the prefix keeps only ``[A-Za-z0-9_]`` of the id's first characters (others
  become ``_``), capped at :data:`PREFIX_CHARS`, so ``ls`` stays readable;
* the hash is 128 bits of BLAKE2b over the exact id, in lowercase hex, so two
  ids never share a name, not even on case-insensitive file systems (the hex
  part differs and has no case), and no name has a separator, a dot, a
  Windows device name or a length problem.

Names are one-way: the real id is stored inside each file (log header,
checkpoint, snapshot), and readers check it, so ``list_states`` returns exact
ids and a (theoretical) hash collision is reported instead of mixing states.

Alternatives rejected: percent/base32 encoding of the whole id (reversible,
but 1024-character ids need a length cap plus a hash anyway, and percent
encoding keeps case, which collides on case-insensitive file systems);
Python's ``hash()`` for shards (randomized per process).
"""

from __future__ import annotations

import functools
import hashlib
import re

__all__ = ["LOCK_STRIPES", "PREFIX_CHARS", "encode_name", "id_digest", "lock_stripe", "shard_of"]

PREFIX_CHARS = 32
"""Longest readable prefix kept from an id in its file name."""

LOCK_STRIPES = 1024
"""Number of lock files writers are spread over (see ``locks``)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_PERSON = b"agui-state"


def id_digest(text: str) -> bytes:
    """Return the 16-byte BLAKE2b digest of ``text`` (stable across processes).

    Lone surrogates are hashed too (``surrogatepass``): ids are any ``str``.
    """
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16, person=_PERSON).digest()


def encode_name(text: str) -> str:
    """Return the file-system-safe name of an id (no extension).

    Example: ``"user/42 thread"`` -> ``"user_42_thread-1f0c...e9"``.
    """
    prefix = _UNSAFE.sub("_", text[: PREFIX_CHARS * 2])[:PREFIX_CHARS].strip("_")
    digest = id_digest(text).hex()
    return f"{prefix}-{digest}" if prefix else digest


def shard_of(text: str, shard_count: int) -> int:
    """Return the shard (``0..shard_count-1``) of an id, stable across runs."""
    return int.from_bytes(id_digest(text)[:8], "big") % shard_count


@functools.lru_cache(maxsize=65536)  # called on every write; hashing costs ~1.5 us
def lock_stripe(text: str) -> int:
    """Return the lock stripe (``0..LOCK_STRIPES-1``) of an id."""
    return int.from_bytes(id_digest(text)[8:], "big") % LOCK_STRIPES
