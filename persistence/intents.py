"""Intents: what makes a write split over shards all-or-nothing after a crash.

Ownership: the front appends intents and deletes files it no longer needs;
shards only read them (at load) and fsync them (before their own files).
Knows nothing of sockets, and of commands only that a part is a list of them.

Each shard fsyncs its own AOF file, so a crash can leave one shard's part of a
cross-shard write on disk and another's not.  The front therefore appends the
whole write (every shard's part) here *before* it queues the parts, and a
shard logs its part together with a ``__txmark <id>`` record as one
``MULTI``/``EXEC`` group, after fsyncing the intent file its part names.  So a
part on disk implies its intent on disk.  After replaying its own files a
shard applies the parts of the intents it has no marker for (ids above its
last marker: parts reach each shard in id order, because the front queues a
write's parts in the step that gives it its id, once no other operation holds
those shards), which rolls a half-logged write
forward, after a crash of the whole tree as after a restart of one shard.

Files ``shardserver.intents.<seq>`` in the AOF directory.  Records are RESP
multibulks, as in the AOF files:

    __intents <shards> <highest id before this file>        (the first record)
    __intentraw <id> <parts> <shard> <db> <commands> ...     (one per write)

``<shards>`` is the shard count of the front that wrote the file (a shard's
slots follow from it and its index); each of the ``<parts>`` parts names its
shard and database, then holds its commands as one argument: their RESP
multibulks, back to back, as the shard receives them.  (Files of the first
version wrote ``__intent <id> <parts>`` with each part as ``<shard> <db> <n>``
and ``<n>`` commands of ``<argc> <arg>...``; they are still read.)  One
record holds the whole write, so a partial last record (a crash while the
front appends; nothing of it was queued) is ignored whole.  The front
starts a new file past ``ROTATE_BYTES`` and deletes an old one once every
intent in it is answered and every shard has fsynced its own file since; the
newest file is never deleted, so its header keeps ids growing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from persistence.aof import AofCorrupt, read_records
from shardserver.resp import RequestParser, encode_command

PREFIX = "shardserver.intents."
ROTATE_BYTES = 4 << 20
_NAME = re.compile(r"^shardserver\.intents\.(\d+)$")

Part = tuple[int, int, list[list[bytes]]]  # shard, db, commands
RawPart = tuple[int, int, bytes]  # shard, db, the commands' RESP


@dataclass
class Intent:
    id: int
    shards: int  # the shard count of the front that wrote it
    seq: int  # of its file
    parts: list[Part] = field(default_factory=list)


def file_name(seq: int) -> str:
    return f"{PREFIX}{seq}"


def existing(dirpath: str) -> list[tuple[int, str]]:
    """(seq, path) of the intent files in ``dirpath``, oldest first."""
    try:
        names = os.listdir(dirpath)
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), os.path.join(dirpath, n)) for n in names if (m := _NAME.match(n))]
    return sorted(found)


def raw_part(part: Part | RawPart) -> RawPart:
    shard, db, cmds = part
    return part if isinstance(cmds, bytes) else (shard, db, b"".join(encode_command(c) for c in cmds))  # type: ignore[return-value]


def encode_intent(txid: int, parts: list[Part] | list[RawPart]) -> bytes:
    argv = [b"__intentraw", b"%d" % txid, b"%d" % len(parts)]
    for shard, db, raw in map(raw_part, parts):
        argv += [b"%d" % shard, b"%d" % db, raw]
    return encode_command(argv)


def _decode_raw_intent(argv: list[bytes]) -> tuple[int, list[Part]]:
    txid, nparts = int(argv[1]), int(argv[2])
    if len(argv) != 3 + 3 * nparts:
        raise ValueError("argument counts do not add up")
    parts: list[Part] = []
    for at in range(3, len(argv), 3):
        parser = RequestParser()
        parser.feed(argv[at + 2])
        cmds = parser.drain()
        if not cmds or not parser.at_boundary():
            raise ValueError("a part's commands are not whole")
        parts.append((int(argv[at]), int(argv[at + 1]), cmds))
    return txid, parts


def _decode_intent(argv: list[bytes]) -> tuple[int, list[Part]]:
    """A record of the first version (``__intent``)."""
    txid, nparts = int(argv[1]), int(argv[2])
    parts: list[Part] = []
    at = 3
    for _ in range(nparts):
        shard, db, n = (int(x) for x in argv[at : at + 3])
        at += 3
        cmds: list[list[bytes]] = []
        for _ in range(n):
            argc = int(argv[at])
            cmds.append(argv[at + 1 : at + 1 + argc])
            at += 1 + argc
        parts.append((shard, db, cmds))
    if at != len(argv) or any(not c for _, _, cmds in parts for c in cmds):
        raise ValueError("argument counts do not add up")
    return txid, parts


def read_intents(dirpath: str) -> tuple[int, list[Intent]]:
    """The highest id any intent file knows of, and every whole intent, by id.

    Raises AofCorrupt for a damaged record that is not a partial last one.
    """
    high = 0
    by_id: dict[int, Intent] = {}
    for seq, path in existing(dirpath):
        shards = 0

        def apply(db: int, records: list[list[bytes]], path: str = path, seq: int = seq) -> None:
            nonlocal high, shards
            for argv in records:
                try:
                    if argv[0] == b"__intents":
                        shards, high = int(argv[1]), max(high, int(argv[2]))
                    elif argv[0] in (b"__intentraw", b"__intent") and shards:
                        txid, parts = (_decode_raw_intent if argv[0] == b"__intentraw" else _decode_intent)(argv)
                        high = max(high, txid)
                        by_id[txid] = Intent(txid, shards, seq, parts)
                    else:
                        raise ValueError(f"unexpected record {argv[0][:32]!r}")
                except (ValueError, IndexError) as exc:
                    raise AofCorrupt(path, -1, f"bad intent record: {exc}") from None

        read_records(path, apply)  # a partial last record is left out (truncated_at)
    return high, [by_id[i] for i in sorted(by_id)]


class IntentLog:
    """The front's open intent file; ids grow across files and restarts."""

    def __init__(self, dirpath: str, shards: int) -> None:
        self.dir = dirpath
        self.shards = shards
        self.last_id, _ = read_intents(dirpath)
        files = existing(dirpath)
        self.seq = (files[-1][0] if files else 0) + 1
        self.fd = -1
        self.size = 0
        self._open()

    def _open(self) -> None:
        path = os.path.join(self.dir, file_name(self.seq))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        try:
            self._write(fd, encode_command([b"__intents", b"%d" % self.shards, b"%d" % self.last_id]))
            os.fsync(fd)  # the header carries the ids past deleted files: on disk before any intent
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        self.size = os.fstat(fd).st_size

    @staticmethod
    def _write(fd: int, data: bytes) -> int:
        done = 0
        while done < len(data):
            done += os.write(fd, data[done:])
        return done

    def append(self, parts: list[Part] | list[RawPart]) -> tuple[int, int]:
        """Write one intent (to the OS, not fsynced: shards fsync it before their part);
        its (id, file seq).  OSError when it cannot be written: queue nothing then."""
        txid = self.last_id + 1
        data = encode_intent(txid, parts)
        size = self.size
        try:
            self.size += self._write(self.fd, data)
        except OSError:
            os.ftruncate(self.fd, size)  # no partial intent before a later whole one
            self.size = size
            raise
        self.last_id = txid
        return txid, self.seq

    def rotate(self) -> int:
        """Continue in a new file; the seq of the one left."""
        old_fd, old_seq = self.fd, self.seq
        self.seq += 1
        try:
            self._open()
        except OSError:
            self.seq = old_seq
            self.fd = old_fd
            raise
        os.close(old_fd)
        return old_seq

    def remove_before(self, seq: int) -> None:
        """Delete the files older than ``seq`` (every shard holds their parts on disk)."""
        for s, path in existing(self.dir):
            if s < seq:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
