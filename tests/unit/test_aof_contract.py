"""The AOF propagation contract, checked over the handler registry.

Every internal (front-to-shard) command must be classified: a write is
logged (``@internal(name, writes=True)``), anything else must not change data.
A new internal command fails this test until someone decides which it is.
"""

from __future__ import annotations

from shardserver.commands.table import all_commands
from shardserver.shard import worker  # noqa: F401  (registers every handler)
from shardserver.shard.registry import HANDLERS, INTERNAL_WRITES

READ_ONLY_INTERNALS = {
    "__aofinfo", "__bgcancel", "__bgrewriteaof", "__bgsave", "__cmdstats", "__config", "__count_existing", "__exitsave",
    "__debugobject", "__dump", "__getstr", "__getstrs", "__info", "__latencyreset", "__lcs_with",
    "__pfbuild", "__pfregs", "__ping", "__resetstat", "__save", "__slotcounts", "__slowlog",
    "__xread", "__xread_check", "__lprobe", "__lpeekmove", "__waitaof", "__watch", "__unwatch", "__unpend", "__zprobe", "__xwatch",
    "__txmark", "__txsync",  # the marker is logged by the worker with its part, not as a write of its own
}  # fmt: skip


def test_every_internal_command_is_classified() -> None:
    internals = {n for n in HANDLERS if n.startswith("__")}
    assert internals == READ_ONLY_INTERNALS | INTERNAL_WRITES
    assert not READ_ONLY_INTERNALS & INTERNAL_WRITES


def test_logged_names_cover_every_write_command() -> None:
    names = worker._write_names()
    for cmd in all_commands():
        if "write" in cmd.flags and cmd.fullname in HANDLERS:
            assert cmd.fullname.encode() in names and cmd.fullname.upper().encode() in names
    assert b"get" not in names and b"__restore" in names
