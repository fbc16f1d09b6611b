"""Cross-shard atomicity on a 2-shard server, observed by concurrent clients."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import redis

from tests.integration.helpers import key_on, keys_on, shard_of
from tests.servers import ServerProc, shardserver

N = 2


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver(shards=N) as s:
        yield s
        assert "Traceback" not in s.text()


def _client(s: ServerProc) -> redis.Redis:
    return redis.Redis(port=s.port, socket_timeout=10)


def _run(*workers: Callable[[], None]) -> None:
    """Run the workers in threads; re-raise the first failure."""
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)

        return body

    threads = [threading.Thread(target=wrap(w)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "worker hung"
    if errors:
        raise errors[0]


def test_mset_is_never_seen_half_done(server: ServerProc) -> None:
    a, b = key_on(0, N, "msa"), key_on(1, N, "msb")
    assert (shard_of(a, N), shard_of(b, N)) == (0, 1)
    _client(server).mset({a: 0, b: 0})
    rounds = 3000
    done = threading.Event()
    seen: list[int] = []

    def writer() -> None:
        c = _client(server)
        try:
            for v in range(1, rounds + 1):
                assert c.mset({a: v, b: v}) is True
        finally:
            done.set()

    def reader() -> None:
        c = _client(server)
        reads = 0
        while not done.is_set() or reads < 10:
            va, vb = c.mget(a, b)
            assert va == vb, f"MGET saw a half-done MSET: {va!r} != {vb!r}"
            seen.append(int(va))
            reads += 1
            if reads >= rounds:
                break

    _run(writer, reader)
    assert seen == sorted(seen), "values went backwards"
    assert len(set(seen)) > 1, "the reader never overlapped the writer"
    assert _client(server).mget(a, b) == [str(rounds).encode()] * 2


def test_mset_with_several_keys_per_shard_and_del(server: ServerProc) -> None:
    """MSET of 6 keys over both shards vs. a reader; DEL of all of them is all-or-nothing too."""
    keys = keys_on(0, N, "mk", 3) + keys_on(1, N, "mk", 3)
    rounds = 800
    done = threading.Event()

    def writer() -> None:
        c = _client(server)
        try:
            for v in range(rounds):
                if v % 4 == 3:
                    assert c.delete(*keys) == len(keys)
                else:
                    c.mset({k: v for k in keys})
        finally:
            done.set()

    def reader() -> None:
        c = _client(server)
        while not done.is_set():
            values = c.mget(*keys)
            assert len(set(values)) == 1, f"torn multi-key write seen: {values}"

    _run(writer, reader)


def test_msetnx_all_or_nothing_with_racing_clients(server: ServerProc) -> None:
    rounds = 300
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, list[int]] = {"A": [], "B": []}
    # per round: A sets {x, y}, B sets {y, z}; y is shared; x and z on shard 0, y on shard 1
    def keys(r: int) -> tuple[str, str, str]:
        return key_on(0, N, f"nx{r}x-"), key_on(1, N, f"nx{r}y-"), key_on(0, N, f"nx{r}z-")

    plan = [keys(r) for r in range(rounds)]
    for x, y, z in plan[:5]:
        assert (shard_of(x, N), shard_of(y, N), shard_of(z, N)) == (0, 1, 0)

    def racer(name: str) -> None:
        c = _client(server)
        for r, (x, y, z) in enumerate(plan):
            barrier.wait()
            if name == "A":
                results[name].append(c.msetnx({x: f"A{r}", y: f"A{r}"}))
            else:
                results[name].append(c.msetnx({y: f"B{r}", z: f"B{r}"}))

    _run(lambda: racer("A"), lambda: racer("B"))
    c = _client(server)
    a_wins = 0
    for r, (x, y, z) in enumerate(plan):
        won_a, won_b = bool(results["A"][r]), bool(results["B"][r])
        assert won_a != won_b, f"round {r}: A={won_a} B={won_b}"
        vx, vy, vz = c.mget(x, y, z)
        if won_a:
            a_wins += 1
            assert (vx, vy, vz) == (f"A{r}".encode(), f"A{r}".encode(), None)
        else:
            assert (vx, vy, vz) == (None, f"B{r}".encode(), f"B{r}".encode())
    # both sides won sometimes: the race was real (with 300 rounds anything else is a bug)
    assert 0 < a_wins < rounds


def test_msetnx_refuses_when_any_key_exists_on_any_shard(server: ServerProc) -> None:
    c = _client(server)
    a, b = key_on(0, N, "nxe"), key_on(1, N, "nxe")
    c.delete(a, b)
    c.set(b, "old")
    assert c.msetnx({a: "new", b: "new"}) is False
    assert c.mget(a, b) == [None, b"old"]
    c.delete(b)
    assert c.msetnx({a: "new", b: "new"}) is True
    assert c.mget(a, b) == [b"new", b"new"]


def test_rename_across_shards_shows_exactly_one_key(server: ServerProc) -> None:
    src, dst = key_on(0, N, "rsrc"), key_on(1, N, "rdst")
    assert (shard_of(src, N), shard_of(dst, N)) == (0, 1)
    c = _client(server)
    c.delete(src, dst)
    c.set(src, "payload")
    rounds = 1500
    done = threading.Event()
    observed = {"exists": 0, "mget": 0}

    def renamer() -> None:
        c = _client(server)
        try:
            for i in range(rounds):
                if i % 2 == 0:
                    assert c.rename(src, dst) is True
                else:
                    assert c.rename(dst, src) is True
        finally:
            done.set()

    def reader() -> None:
        c = _client(server)
        i = 0
        while not done.is_set():
            if i % 2:
                n = c.exists(src, dst)
                assert n == 1, f"EXISTS src dst = {n} during a cross-shard RENAME"
                observed["exists"] += 1
            else:
                values = c.mget(src, dst)
                assert sorted(values, key=lambda v: v is None) == [b"payload", None], values
                observed["mget"] += 1
            i += 1

    _run(renamer, reader)
    assert observed["exists"] > 10 and observed["mget"] > 10
    assert c.mget(src, dst) == [b"payload", None]  # an even number of renames


def test_renamenx_and_copy_across_shards_under_a_reader(server: ServerProc) -> None:
    src, dst = key_on(0, N, "cpsrc"), key_on(1, N, "cpdst")
    c = _client(server)
    c.delete(src, dst)
    c.set(src, "v")
    rounds = 500
    done = threading.Event()

    def worker() -> None:
        c = _client(server)
        try:
            for _ in range(rounds):
                assert c.renamenx(src, dst) is True
                assert c.copy(dst, src) is True  # now both exist
                assert c.renamenx(dst, src) is False  # src exists: refused
                assert c.delete(dst) == 1
        finally:
            done.set()

    def reader() -> None:
        c = _client(server)
        while not done.is_set():
            values = c.mget(src, dst)
            assert values != [None, None], "the value vanished during RENAMENX/COPY"
            assert all(v in (None, b"v") for v in values), values

    _run(worker, reader)
    assert c.mget(src, dst) == [b"v", None]
