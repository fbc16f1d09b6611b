"""WAIT and WAITAOF through the real server: blocked clients, CLIENT UNBLOCK, reply
order, disconnects and the fsync that WAITAOF numlocal 1 asks for.

Every wait is on an event (INFO blocked_clients reaching N, a reply arriving)
with a deadline; no sleep is used to synchronise.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
import redis

from tests.integration.helpers import connect, key_on, read_replies, resp
from tests.integration.test_blocking import Call, _client_fields, wait_blocked
from tests.servers import shardserver, valkey


def _waits(port: int) -> list[Any]:
    """Waits that only a timeout or CLIENT UNBLOCK ends (no replicas): what a client and
    an operator see, the same run on both servers."""
    r = redis.Redis(port=port, socket_timeout=20)
    r.flushall()
    r.config_resetstat()
    seen: list[Any] = []
    call = Call(port, "WAIT", "1", "0")
    wait_blocked(r, 1)
    f = _client_fields(r, call.id)
    seen.append(("blocked", f["flags"], f["cmd"], r.info("clients")["total_blocking_keys"]))
    assert r.client_unblock(call.id)
    seen.append(("unblocked", call.result()))
    call = Call(port, "WAITAOF", "0", "1", "0")
    wait_blocked(r, 1)
    assert r.client_unblock(call.id, error=True)
    with pytest.raises(redis.ResponseError) as err:
        call.result()
    seen.append(("unblock error", str(err.value)))
    assert not r.client_unblock(call.id)  # no longer blocked
    # the commands a client sent after a wait run once it ends, in order
    sock = connect(port)
    sock.sendall(resp("CLIENT", "ID"))
    (client_id,) = read_replies(sock, 1)
    sock.sendall(resp("WAIT", "2", "0") + resp("SET", "k", "v") + resp("GET", "k"))
    wait_blocked(r, 1)
    seen.append(("held back", r.get("k")))
    assert r.client_unblock(client_id)
    seen.append(("after the wait", read_replies(sock, 3)))
    # a client that goes away while waiting stops waiting
    sock.sendall(resp("WAITAOF", "0", "3", "0"))
    wait_blocked(r, 1)
    sock.close()
    wait_blocked(r, 0)
    stats = r.info("commandstats")
    seen.append(("wait", stats["cmdstat_wait"]["calls"], stats["cmdstat_wait"]["rejected_calls"]))
    seen.append(("waitaof", stats["cmdstat_waitaof"]["calls"], stats["cmdstat_waitaof"]["rejected_calls"]))
    seen.append(("errors", r.info("stats")["total_error_replies"], r.info("errorstats")))
    call.client.close()
    r.close()
    return seen


def test_waits_block_unblock_and_keep_order_as_valkey() -> None:
    with shardserver(shards=2) as s:
        ours = _waits(s.port)
    with valkey() as vport:
        theirs = _waits(vport)
    assert ours == theirs
    assert ours[0][1] == "b" and ours[1] == ("unblocked", 0)


def test_waitaof_numlocal_fsyncs_every_shard_at_once_under_everysec() -> None:
    """The everysec thread fsyncs once a second; WAITAOF 1 has each shard fsync now, so
    right after it no shard has a record waiting for its fsync (lag 0) and every shard
    that took a write counted one more fsync."""
    with shardserver("--appendonly", "yes", "--appendfsync", "everysec", shards=2, dir=tempfile.mkdtemp(prefix="shardserver-test-")) as s:
        r = redis.Redis(port=s.port, socket_timeout=20)
        before = r.info("persistence")
        for shard in (0, 1):
            r.set(key_on(shard, 2), "v" * 100)
        assert r.execute_command("WAITAOF", "1", "0", "0") == [1, 0]
        after = r.info("persistence")
        for shard in (0, 1):
            a = after[f"shard{shard}_aof"]
            assert a["fsync_lag_ms"] == 0
            assert a["fsyncs"] > before[f"shard{shard}_aof"]["fsyncs"]
        assert r.execute_command("WAITAOF", "0", "0", "0") == [1, 0]  # nothing written since
