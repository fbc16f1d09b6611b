"""The value types' loaders: their ``from_state``, or its C twin where built.

Ownership: none of its own; it only picks, for each type name, the function
that turns a state back into a value.  ``_build.c`` builds the same objects as
the classes' ``from_state`` (the twins, compared in tests/unit/test_build.py)
without a Python frame per value: loading a snapshot makes one per key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from shardserver.shard.types import set as set_type
from shardserver.shard.types import zset as zset_type
from shardserver.shard.types.hash import Hash
from shardserver.shard.types.list import ListValue
from shardserver.shard.types.scanlist import ScanList

Loader = Callable[[list[Any]], Any]


def c_loaders() -> dict[bytes, Loader]:
    """Type name -> the C loader; empty when the module is not built."""
    try:
        from shardserver.shard.types import _build
    except ImportError:
        return {}
    _build.configure(
        zset_type.ZSetValue,
        zset_type.RankedList,
        ScanList,
        set_type.SetValue,
        Hash,
        ListValue,
        deque,
        zset_type._ENCODINGS,
        set_type._ENCODINGS,
    )
    return {
        b"zset": _build.zset_from_state,
        b"set": _build.set_from_state,
        b"hash": _build.hash_from_state,
        b"list": _build.list_from_state,
    }

