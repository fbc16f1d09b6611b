"""The value types' loaders in C, where built: ``from_state`` twins and replay makers.

Ownership: none of its own; it only hands out, for each type or command name,
the C function that builds a value.  ``_build.c`` builds the same objects as
the classes' ``from_state`` and as the handlers of HSET, SADD, ZADD, RPUSH and
LPUSH for a new key (the twins, compared in tests/unit/test_build.py) without a
Python frame per value: loading makes one per key.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Any

from shardserver.shard.types import hash as hash_type
from shardserver.shard.types import list as list_type
from shardserver.shard.types import set as set_type
from shardserver.shard.types import zset as zset_type
from shardserver.shard.types.hash import Hash
from shardserver.shard.types.list import ListValue
from shardserver.shard.types.listpack import entries_size
from shardserver.shard.types.scanlist import ScanList

Loader = Callable[[list[Any]], Any]


@functools.cache
def _built() -> Any:
    """The C module, configured with this process's classes and limits; None when not built."""
    try:
        from shardserver.shard.types import _build
    except ImportError:
        return None
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
        hash_type.LIMITS,
        set_type.LIMITS,
        zset_type.LIMITS,
        list_type.FILL,
        entries_size,
    )
    return _build


def c_loaders() -> dict[bytes, Loader]:
    """Type name -> the C loader; empty when the module is not built."""
    build = _built()
    if build is None:
        return {}
    return {
        b"zset": build.zset_from_state,
        b"set": build.set_from_state,
        b"hash": build.hash_from_state,
        b"list": build.list_from_state,
    }


def c_makers() -> dict[bytes, Loader]:
    """Command name, as AOF records spell it -> the C maker of the value that record
    creates for a new key (None: the handler must run it); empty when not built.
    For ``load_plain_sets``: the twins are the handlers themselves."""
    build = _built()
    if build is None:
        return {}
    makers = {
        b"hset": build.hset_new,
        b"hmset": build.hset_new,
        b"sadd": build.sadd_new,
        b"zadd": build.zadd_new,
        b"rpush": build.rpush_new,
        b"lpush": build.lpush_new,
    }
    return {**makers, **{name.upper(): maker for name, maker in makers.items()}}
