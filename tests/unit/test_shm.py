"""Tests of ipc.shm: nothing left in /dev/shm, fork sharing, stale-entry sweeping."""

from __future__ import annotations

import os
import secrets

import posix_ipc
import pytest

from ipc.shm import SHM_DIR, SharedRegion, sweep_stale


def own_entries() -> list[str]:
    return [e for e in os.listdir(SHM_DIR) if e.startswith(f"shardserver.{os.getpid()}.")]


def dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def make_entry(pid: int, tag: str = "test") -> str:
    name = f"shardserver.{pid}.{tag}.{secrets.token_hex(4)}"
    posix_ipc.SharedMemory("/" + name, posix_ipc.O_CREX, mode=0o600, size=4096).close_fd()
    return name


def test_create_leaves_nothing_in_dev_shm() -> None:
    regions = [SharedRegion.create(1 << 16, f"t{i}") for i in range(4)]
    try:
        assert own_entries() == []
        for r in regions:
            assert r.size == len(r.buf) == 1 << 16
            assert r.name.startswith(f"/shardserver.{os.getpid()}.t")
        regions[0].buf[:5] = b"hello"
        assert regions[0].buf[:5] == b"hello"
    finally:
        for r in regions:
            r.close()
    assert own_entries() == []


def test_create_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        SharedRegion.create(0, "x")
    with pytest.raises(ValueError):
        SharedRegion.create(4096, "a/b")


def test_mapping_is_shared_with_forked_child() -> None:
    region = SharedRegion.create(4096, "fork")
    try:
        region.buf[0:4] = b"ping"
        pid = os.fork()
        if pid == 0:
            try:
                ok = region.buf[0:4] == b"ping"
                region.buf[4:8] = b"pong"
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert region.buf[4:8] == b"pong"
    finally:
        region.close()
    region.close()  # idempotent


def test_sweep_stale_removes_dead_pid_entries_only() -> None:
    stale = make_entry(dead_pid())
    live = make_entry(os.getpid(), "live")
    other = f"otherapp.{dead_pid()}.x.{secrets.token_hex(4)}"
    posix_ipc.SharedMemory("/" + other, posix_ipc.O_CREX, size=4096).close_fd()
    try:
        removed = sweep_stale()
        assert stale in removed
        assert live not in removed and other not in removed
        listing = os.listdir(SHM_DIR)
        assert stale not in listing
        assert live in listing and other in listing
        assert sweep_stale("otherapp") == [other]
    finally:
        for name in (stale, live, other):
            try:
                posix_ipc.unlink_shared_memory("/" + name)
            except posix_ipc.ExistentialError:
                pass
