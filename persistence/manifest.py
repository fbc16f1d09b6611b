"""The AOF manifest: which files hold each shard's data, in replay order.

Ownership: this module owns the manifest file's format and its atomic
updates; it knows nothing of commands or sockets.

File ``<appenddirname>/shardserver.manifest`` (text, ``#`` starts a comment)::

    format 1
    layout <generation> shards <N>
    file <name> shard <i> seq <n> type base|incr slots <lo>-<hi>[,<lo>-<hi>...]
    ...
    next <generation> shards <M>              (only while the shard count changes)
    pending <name> shard <j> seq <n> type base|incr slots ...

- A shard's data is its ``file`` lines, replayed in the order listed: at most
  one base (a snapshot), then its incremental files.  ``slots`` records the
  slots the shard owned when it wrote the file.
- Sequence numbers grow per shard; names are ``shardserver.g<gen>.s<i>.<seq>.<type>.aof``.
- Changing the shard count: each new shard replays the old files that hold
  any of its slots, keeps its own keys, writes a new base and adds its
  ``pending`` lines; the shard that completes the set promotes them to the
  new layout and the old files are deleted.  Until then the old layout stays
  the one loaded, so a crash at any point loses nothing.  A start with the
  old count drops the ``next`` and ``pending`` lines and their files: its
  writes go to the old files, which the pending ones would no longer match.
- Every update writes ``shardserver.manifest.tmp``, fsyncs it, renames it over
  the manifest and fsyncs the directory, under an ``flock`` on
  ``shardserver.manifest.lock`` (shards update their own lines concurrently).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

NAME = "shardserver.manifest"
LOCK = NAME + ".lock"
Ranges = list[tuple[int, int]]


class ManifestError(Exception):
    """The manifest cannot be read; the text names the file and the line."""


@dataclass
class FileEntry:
    name: str
    shard: int
    seq: int
    kind: str  # "base" or "incr"
    slots: Ranges

    def line(self, head: str = "file") -> str:
        ranges = ",".join(f"{lo}-{hi}" for lo, hi in self.slots)
        return f"{head} {self.name} shard {self.shard} seq {self.seq} type {self.kind} slots {ranges}"


@dataclass
class Manifest:
    generation: int = 0
    shards: int = 0
    files: list[FileEntry] = field(default_factory=list)
    next_generation: int = 0
    next_shards: int = 0
    pending: list[FileEntry] = field(default_factory=list)

    def shard_files(self, shard: int) -> list[FileEntry]:
        return [f for f in self.files if f.shard == shard]

    def next_seq(self, shard: int) -> int:
        seqs = [f.seq for f in self.files + self.pending if f.shard == shard]
        return max(seqs, default=0) + 1

    def render(self) -> str:
        lines = ["# shardserver AOF manifest: written by the shards, do not edit while running", "format 1"]
        lines.append(f"layout {self.generation} shards {self.shards}")
        lines.extend(f.line() for f in self.files)
        if self.next_shards:
            lines.append(f"next {self.next_generation} shards {self.next_shards}")
            lines.extend(f.line("pending") for f in self.pending)
        return "\n".join(lines) + "\n"


def file_name(generation: int, shard: int, seq: int, kind: str) -> str:
    return f"shardserver.g{generation}.s{shard}.{seq}.{kind}.aof"


def _ranges(text: str) -> Ranges:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.append((int(lo), int(hi)))
    return out


def parse(text: str, where: str = NAME) -> Manifest:
    m = Manifest()
    seen_format = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        try:
            head = words[0]
            if head == "format":
                if words[1] != "1":
                    raise ManifestError(f"{where}:{number}: unknown manifest format {words[1]}")
                seen_format = True
            elif head == "layout":
                m.generation, m.shards = int(words[1]), int(words[3])
            elif head == "next":
                m.next_generation, m.next_shards = int(words[1]), int(words[3])
            elif head in ("file", "pending"):
                opts = dict(zip(words[2::2], words[3::2], strict=False))
                kind = opts["type"]
                if kind not in ("base", "incr") or "/" in words[1]:
                    raise ValueError(kind)
                entry = FileEntry(words[1], int(opts["shard"]), int(opts["seq"]), kind, _ranges(opts["slots"]))
                (m.files if head == "file" else m.pending).append(entry)
            else:
                raise ValueError(head)
        except (IndexError, KeyError, ValueError) as exc:
            raise ManifestError(f"{where}:{number}: invalid manifest line {raw!r}") from exc
    if not seen_format:
        raise ManifestError(f"{where}: not a shardserver manifest (no format line)")
    return m


def read(dirpath: str) -> Manifest | None:
    """The manifest in ``dirpath``, or None when there is none."""
    path = os.path.join(dirpath, NAME)
    try:
        with open(path, encoding="utf-8") as f:
            return parse(f.read(), path)
    except FileNotFoundError:
        return None


def fsync_dir(dirpath: str) -> None:
    fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(dirpath: str, manifest: Manifest) -> None:
    """Replace the manifest atomically (temp file, fsync, rename, directory fsync)."""
    tmp = os.path.join(dirpath, NAME + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(manifest.render())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(dirpath, NAME))
    fsync_dir(dirpath)


@contextlib.contextmanager
def locked(dirpath: str) -> Iterator[Manifest]:
    """Read-modify-write under the manifest lock; the yielded manifest is written back."""
    fd = os.open(os.path.join(dirpath, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        manifest = read(dirpath) or Manifest()
        before = manifest.render()
        yield manifest
        if manifest.render() != before:
            write(dirpath, manifest)
    finally:
        os.close(fd)  # closing releases the lock
