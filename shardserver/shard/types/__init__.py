"""Value types other than strings: the contract every type module follows.

Ownership: a type module owns the in-memory representation of one data type
(its compact and large encodings and the switch between them).  It knows
nothing of commands, the front or the AOF; the command handlers that use it
live next to it (``shardserver/shard/<type>_cmds.py``).

A value class provides:

- ``TYPE``: the name TYPE and SCAN ... TYPE use (``hash``, ``list``, ...);
- ``encoding() -> str``: OBJECT ENCODING, under Valkey's names;
- ``state() -> list`` and ``from_state(state) -> value`` (a classmethod): the
  value as builtin data msgpack can carry (bytes, ints, floats, str, lists,
  None), self-contained: it must carry everything the value holds (hash field
  TTLs included); AOF base files embed it in their bulk records;
- ``dump_value`` / ``load_value`` below pack and unpack that state with
  msgpack (cross-shard RENAME/COPY/MOVE, ``copy`` of some types);
- ``copy() -> value``: an independent deep copy (COPY);
- ``memory_usage() -> int``: estimated bytes (MEMORY USAGE);
- ``__len__``: the number of elements; a handler deletes a key whose
  collection became empty, as Valkey does.

Register a class with ``@value_type`` so ``load_value`` finds it by ``TYPE``.
"""

from __future__ import annotations

from typing import Any

import msgpack

VALUE_TYPES: dict[bytes, Any] = {}


def value_type(cls: Any) -> Any:
    name = cls.TYPE.encode()
    if name in VALUE_TYPES:
        raise RuntimeError(f"duplicate value type {cls.TYPE}")
    VALUE_TYPES[name] = cls
    return cls


def dump_value(value: Any) -> bytes:
    """A value's state packed: self-contained bytes ``load_value`` turns back into the value."""
    return msgpack.packb(value.state(), use_bin_type=True)  # type: ignore[no-any-return]


def load_value(kind: bytes, payload: bytes) -> Any:
    cls = VALUE_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown value type {kind!r}")
    return cls.from_state(msgpack.unpackb(payload, raw=True, use_list=True))
