"""WAIT and WAITAOF: shardserver against Valkey 9 (no replicas on either side).

The shared pair runs without an AOF; the fsync policies get their own pair of
servers with ``appendonly yes``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from tests.differential.conftest import Pair, call
from tests.servers import shardserver, valkey


def test_arguments_errors_and_answers_without_an_aof(pair: Pair) -> None:
    pair.exact_many([
        ("wait", "0", "0"), ("wait", "-1", "0"), ("WAIT", "0", "100"), ("wait", "a", "0"), ("wait", "1.5", "0"),
        ("wait", "0", "-1"), ("wait", "0", "-0"), ("wait", "0", "1.5"), ("wait", "0", "+5"),
        ("wait", "0", "99999999999999999999"), ("wait", "0", "9223372036854775806"), ("wait", "0", "9223372036854775807"),
        ("wait",), ("wait", "1"), ("wait", "1", "2", "3"),
        ("waitaof", "0", "0", "0"), ("waitaof", "1", "0", "0"), ("waitaof", "2", "0", "0"), ("waitaof", "-1", "0", "0"),
        ("waitaof", "00", "0", "0"), ("waitaof", "a", "a", "a"), ("waitaof", "99999999999999999999", "0", "0"),
        ("waitaof", "0", "a", "a"), ("waitaof", "1", "a", "a"), ("waitaof", "0", "-1", "0"),
        ("waitaof", "0", "99999999999999999999", "0"), ("waitaof", "1", "0", "a"), ("waitaof", "1", "0", "-1"),
        ("waitaof", "0", "0", "0x10"), ("waitaof", "0", "0", "9223372036854775806"),
        ("waitaof", "0", "0"), ("waitaof", "1", "2", "3", "4"),
        ("set", "k", "v"), ("waitaof", "0", "0", "0"), ("wait", "0", "0"),
        ("command", "getkeys", "wait", "1", "1"), ("command", "getkeys", "waitaof", "0", "0", "0"),
        ("command", "info", "wait", "waitaof"), ("command", "docs", "wait"), ("command", "docs", "waitaof"),
    ])  # fmt: skip


def test_waits_for_replicas_last_until_the_timeout(pair: Pair) -> None:
    # Valkey keeps the count in a C int: 2**32 + 1 waits, 2**31 and 2**32 do not
    waiting = [("wait", "1", "300"), ("waitaof", "0", "1", "300"), ("wait", "4294967297", "300"), ("waitaof", "0", "2147483647", "300")]
    at_once = [(c, n, "300") for n in ("2147483648", "4294967296", "9223372036854775807", "6442450944") for c in ("wait", "waitaof 0")]
    for cmd in [*waiting, *[tuple(" ".join(c).split()) for c in at_once]]:
        took: list[object] = []
        for r in (pair.s, pair.v):
            t = time.monotonic()
            took.append(call(r, *cmd))
            took.append(time.monotonic() - t)
        assert took[0] == took[2], f"{cmd}: shard {took[0]!r}, valkey {took[2]!r}"
        if cmd in waiting:
            assert took[1] >= 0.29 and took[3] >= 0.29, f"{cmd} answered after {took[1]:.3f} s / {took[3]:.3f} s"
        else:  # answered at once, not after the timeout
            assert took[1] < 0.2 and took[3] < 0.2, f"{cmd} answered after {took[1]:.3f} s / {took[3]:.3f} s"


@pytest.fixture(params=["always", "everysec", "no"])
def aof_pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, redis.Redis, redis.Redis]]:
    policy = request.param
    with valkey("--appendonly", "yes", "--appendfsync", policy) as vport:
        with shardserver("--appendonly", "yes", "--appendfsync", policy, shards=2, timeout=60) as s:
            yield policy, redis.Redis(port=s.port, socket_timeout=10), redis.Redis(port=vport, socket_timeout=10)


def _run(r: redis.Redis, cmds: list[tuple[str, ...]]) -> list[object]:
    p = r.pipeline(transaction=False)
    for c in cmds:
        p.execute_command(*c)
    return p.execute(raise_on_error=False)


def test_waitaof_under_each_fsync_policy(aof_pair: tuple[str, redis.Redis, redis.Redis]) -> None:
    """Each step on both servers: the counts of local AOFs in sync, and how long a
    wait that cannot be met lasts (``appendfsync no`` never fsyncs: numlocal 1
    waits out its timeout)."""
    policy, s, v = aof_pair
    steps: list[list[tuple[str, ...]]] = [
        [("set", "a", "1"), ("set", "x", "1")],  # keys on both shards
        [("waitaof", "1", "0", "150")],
        [("waitaof", "0", "0", "0")],
        [("waitaof", "1", "1", "60")],
        [("waitaof", "2", "0", "0")],
    ]
    if policy == "no":
        steps.append([("set", "a", "2"), ("waitaof", "0", "0", "0"), ("waitaof", "1", "0", "80")])
    else:
        steps.append([("set", "a", "2")])
        steps.append([("waitaof", "1", "0", "0"), ("waitaof", "0", "0", "0")])
    for cmds in steps:
        got = []
        for r in (s, v):
            t = time.monotonic()
            got.append((_run(r, cmds), time.monotonic() - t))
        (rs, ts), (rv, tv) = got
        assert repr(rs) == repr(rv), f"{policy} {cmds}: shard {rs!r}, valkey {rv!r}"
        waits = any(c[0] == "waitaof" and c[2] != "0" for c in cmds) or (policy == "no" and any(c[:2] == ("waitaof", "1") for c in cmds))
        if waits:  # both waited out the timeout
            least = min(int(c[3]) for c in cmds if c[0] == "waitaof" and (c[2] != "0" or c[1] == "1")) / 1000
            assert ts >= least * 0.9 and tv >= least * 0.9, f"{policy} {cmds}: {ts:.3f} s / {tv:.3f} s"
