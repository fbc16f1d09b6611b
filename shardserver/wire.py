"""Frames between the front and the shards (the payload of ``ipc`` messages).

Ownership: this module owns the frame layout; ``ipc`` moves the bytes without
looking inside, the front and the shards call these functions.

Request message (front -> shard): msgpack ``[sent_ns, runs]`` (``sent_ns`` the
front's CLOCK_MONOTONIC at sending, so a shard knows how long the message
waited in the ring), each run ``[run_id, db, flags, cmds, client_id]`` where ``cmds`` is a list of argv (``argv[0]``
the canonical command name) or the raw RESP bytes of the commands as the
client sent them (already validated by the front).  ``flags``: bit 0 = RESP3
client, bit 1 = internal run (the reply is values, not RESP bytes), bit 2 =
the reply also carries each reply's length (the front interleaves replies of
several shards), bit 3 = the client set CLIENT NO-TOUCH (reads do not update
access times), bit 4 = the run is one shard's part of a command the front split
over shards (the front counts the command in its statistics; the shard does not),
bit 5 = a part of a write spanning shards under an intent (persistence/intents.py):
the raw commands start with ``__tx <id> <intent file seq>``, which the shard
strips and does not answer; bit 6 is the shard's own mark on the rest of such
a run (its C loop stops after it, so the part's AOF group can be closed).

Reply message (shard -> front): msgpack array ``[run_id, payload, ...]``
flattened.  For a client run ``payload`` is the RESP bytes of every reply of
the run, concatenated (with bit 2: ``[joined, lengths]``, lengths a native
u32 array); for an internal run it is the list of reply values,
where errors travel as ext type 1 and simple strings as ext type 2.
Run id 0 is reserved for a shard's hello: ``[0, [pid]]`` once it is ready.
Run id -1 (``READY_RUN``) closes a reply message in which a write created a key
some client is blocked on: ``[-1, [[db, key], ...]]`` (absent otherwise, so the
message costs nothing more when nobody is blocked; see front/blocking.py).
"""

from __future__ import annotations

from typing import Any

import msgpack

from shardserver.resp import NULL_ARRAY, ErrorReply, SetReply, Simple

RESP3 = 1
INTERNAL = 2
LENGTHS = 4
NO_TOUCH = 8
SPLIT_PART = 16
TX = 32
TX_BODY = 64
HELLO_RUN = 0  # a shard is serving: [pid]
LOAD_RUN = -1  # a shard is loading its AOF: [bytes done, bytes total]
READY_RUN = -2  # keys a write created that clients are blocked on (last in its message)

_EXT_ERROR = 1
_EXT_SIMPLE = 2
_EXT_NULL_ARRAY = 3


def _default(obj: Any) -> Any:
    if isinstance(obj, ErrorReply):
        return msgpack.ExtType(_EXT_ERROR, obj.text.encode("utf-8", "surrogateescape"))
    if isinstance(obj, Simple):
        return msgpack.ExtType(_EXT_SIMPLE, obj.encode())
    if obj is NULL_ARRAY:
        return msgpack.ExtType(_EXT_NULL_ARRAY, b"")
    if isinstance(obj, SetReply):
        return list(obj)
    raise TypeError(f"cannot pack {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_ERROR:
        return ErrorReply(data.decode("utf-8", "surrogateescape"))
    if code == _EXT_SIMPLE:
        return Simple(data.decode())
    if code == _EXT_NULL_ARRAY:
        return NULL_ARRAY
    return msgpack.ExtType(code, data)


_packer = msgpack.Packer(default=_default, use_bin_type=True)


def pack(obj: Any) -> bytes:
    return _packer.pack(obj)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=True, ext_hook=_ext_hook, strict_map_key=False, use_list=True)
