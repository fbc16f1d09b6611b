"""Anonymous-after-creation POSIX shared memory regions.

Ownership rule: the process that calls ``SharedRegion.create`` (the supervisor)
owns the segment's *name* for only a few microseconds: the name is unlinked right
after the mmap, so the kernel frees the memory when the last process holding the
mapping exits, however it exits (even SIGKILL). Children created by ``os.fork``
inherit the mapping; nobody can attach by name later, by design.

``sweep_stale`` covers the one window that is not crash-proof: a process killed
between ``shm_open`` and ``shm_unlink`` leaves its name behind in /dev/shm.
"""

from __future__ import annotations

import mmap
import os
import secrets

import posix_ipc
import psutil

SHM_DIR = "/dev/shm"
DEFAULT_PREFIX = "shardserver"

# psutil derives create_time from the boot time, which /proc/stat gives in whole
# seconds, so a process start time can be off by up to ~1 s: allow some slack
# before deciding that a live pid is a *different* (reused) process.
_PID_REUSE_SLACK = 2.0


class SharedRegion:
    """A MAP_SHARED mapping of an already-unlinked POSIX shm segment.

    Ownership rule: whoever created it (or inherited it through fork) may use
    ``buf``; each process closes its own mapping. Views onto ``buf`` (e.g. the
    memoryviews held by a :class:`ipc.ring.Ring`) must be released first.
    """

    __slots__ = ("buf", "size", "name")

    def __init__(self, buf: mmap.mmap, size: int, name: str) -> None:
        self.buf = buf
        self.size = size
        # Only kept for diagnostics: the name no longer exists in /dev/shm.
        self.name = name

    @classmethod
    def create(cls, size: int, tag: str, prefix: str = DEFAULT_PREFIX) -> SharedRegion:
        """Create, map and immediately unlink ``/<prefix>.<pid>.<tag>.<hex>``."""
        if size <= 0:
            raise ValueError("size must be positive")
        if "/" in tag or not tag:
            raise ValueError(f"invalid tag {tag!r}")
        name = f"/{prefix}.{os.getpid()}.{tag}.{secrets.token_hex(8)}"
        # O_CREX: never attach to (and then unlink) somebody else's segment.
        shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=size)
        try:
            buf = mmap.mmap(
                shm.fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE
            )
        finally:
            # The mapping keeps the memory alive; neither the fd nor the name is needed,
            # and dropping the name now is what makes crashes leak-free.
            shm.close_fd()
            shm.unlink()
        return cls(buf, size, name)

    def close(self) -> None:
        """Unmap this process's view (raises BufferError while views are exported)."""
        if not self.buf.closed:
            self.buf.close()

    def __repr__(self) -> str:
        return f"SharedRegion(name={self.name!r}, size={self.size})"


def _pid_alive(pid: int, entry_ctime: float) -> bool:
    """True if ``pid`` is running and plausibly the process that made the entry."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # cannot tell: err on the side of not deleting
    # A process that started after the entry was created cannot have created it:
    # the pid was reused, so the entry is stale.
    return started <= entry_ctime + _PID_REUSE_SLACK


def sweep_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Unlink ``/dev/shm/<prefix>.<pid>.*`` entries whose pid is dead.

    Returns the removed entry names as listed in /dev/shm (no leading slash).
    Entries of live processes, of other users, or that vanish concurrently are
    left alone.
    """
    removed: list[str] = []
    try:
        entries = os.listdir(SHM_DIR)
    except FileNotFoundError:
        return removed
    for entry in entries:
        parts = entry.split(".", 2)
        if len(parts) < 3 or parts[0] != prefix or not parts[1].isdigit():
            continue
        try:
            ctime = os.stat(os.path.join(SHM_DIR, entry)).st_ctime
        except FileNotFoundError:
            continue
        if _pid_alive(int(parts[1]), ctime):
            continue
        try:
            posix_ipc.unlink_shared_memory("/" + entry)
        except (posix_ipc.ExistentialError, posix_ipc.PermissionsError):
            continue
        removed.append(entry)
    return removed
