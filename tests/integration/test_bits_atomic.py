"""Cross-shard BITOP and PFMERGE are atomic: concurrent clients never see them half done."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from tests.integration.helpers import key_on, keys_on, shard_of
from tests.integration.test_atomic import _run
from tests.servers import ServerProc, shardserver

N = 2


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver(shards=N) as s:
        yield s
        assert "Traceback" not in s.text()


def _client(s: ServerProc) -> redis.Redis:
    return redis.Redis(port=s.port, socket_timeout=10)


def test_bitop_reads_its_sources_at_one_instant(server: ServerProc) -> None:
    a, b, dest = key_on(0, N, "bxa"), key_on(1, N, "bxb"), key_on(1, N, "bxd")
    assert (shard_of(a, N), shard_of(b, N)) == (0, 1)
    _client(server).mset({a: b"\x00" * 4, b: b"\x00" * 4})
    rounds = 1500
    done = threading.Event()
    results: list[bytes] = []

    def writer() -> None:
        c = _client(server)
        try:
            for v in range(1, rounds + 1):
                value = v.to_bytes(4, "big")
                c.mset({a: value, b: value})  # atomic across the two shards
        finally:
            done.set()

    def bitop() -> None:
        c = _client(server)
        while not done.is_set() or len(results) < 10:
            assert c.bitop("XOR", dest, a, b) == 4
            results.append(c.get(dest))
            if len(results) >= rounds:
                break

    _run(writer, bitop)
    assert results and all(r == b"\x00" * 4 for r in results), "BITOP XOR of equal sources saw them differ"


def test_concurrent_pfmerges_lose_no_update(server: ServerProc) -> None:
    dest = key_on(0, N, "pfd")
    sources = keys_on(1, N, "pfs", 40)
    c = _client(server)
    for i, key in enumerate(sources):
        c.pfadd(key, *[f"{i}:{j}" for j in range(30)])
    c.delete(dest)

    def merger(part: list[str]) -> None:
        def body() -> None:
            cc = _client(server)
            for key in part:
                assert cc.pfmerge(dest, key)

        return body()

    _run(lambda: merger(sources[0::2]), lambda: merger(sources[1::2]))
    # every merge read the destination and wrote it back under one hold: nothing was lost
    assert c.pfcount(dest) == c.pfcount(*sources)
    for key in sources:
        assert c.pfcount(dest, key) == c.pfcount(dest)
