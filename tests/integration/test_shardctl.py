"""shardctl against real servers: stats (table, JSON, watch), slots, info, ping, errors.

Every shardctl run is a subprocess with a timeout; every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from shardserver.cli import STATS_SECTIONS, Client, Sample, build_stats
from shardserver.slots import key_slot
from tests.integration.helpers import keys_on
from tests.servers import ServerProc, free_port, shardserver

pytestmark = pytest.mark.timeout(60)

N = 2
KEYS0 = keys_on(0, N, "a", 3)  # db0, shard 0
KEYS1 = keys_on(1, N, "b", 5)  # db0, shard 1
VOLATILE1 = keys_on(1, N, "v", 2)  # db2, shard 1, with a TTL
INJECT_DIR = Path(__file__).parent / "_inject_restart"


def shardctl(*args: str, timeout: float = 20, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shardserver.cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver(shards=N) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        for k in KEYS0 + KEYS1:
            r.set(k, "value")
        r2 = redis.Redis(port=s.port, db=2, socket_timeout=5)
        for k in VOLATILE1:
            r2.set(k, "v", ex=1000)
        yield s


def _info_shards(port: int) -> dict[str, Any]:
    return redis.Redis(port=port, socket_timeout=5).info("shards")  # type: ignore[no-any-return]


# ---------------------------------------------------------------- ping, info


def test_ping(server: ServerProc) -> None:
    p = shardctl("-p", str(server.port), "ping")
    assert (p.returncode, p.stdout.strip()) == (0, "PONG")
    p = shardctl("ping", "-p", str(server.port), "--json")  # options after the subcommand too
    out = json.loads(p.stdout)
    assert p.returncode == 0 and out["ok"] is True and out["reply"] == "PONG"
    assert out["server"] == f"127.0.0.1:{server.port}"


def test_info_text_and_json(server: ServerProc) -> None:
    p = shardctl("-p", str(server.port), "info", "shards")
    assert p.returncode == 0
    assert p.stdout.startswith("# Shards\n") and "\r" not in p.stdout
    p = shardctl("-p", str(server.port), "--json", "info", "server", "shards")
    info = json.loads(p.stdout)
    assert info["server"]["tcp_port"] == server.port
    assert info["shards"]["shards"] == N
    assert info["shards"]["shard0"]["keys"] == len(KEYS0)
    assert info["shards"]["shard1"]["keys"] == len(KEYS1) + len(VOLATILE1)


# ---------------------------------------------------------------- stats


def test_stats_json_matches_what_was_written(server: ServerProc) -> None:
    p = shardctl("-p", str(server.port), "--json", "stats", "--interval", "0.2")
    assert p.returncode == 0, p.stderr
    model = json.loads(p.stdout)
    info = _info_shards(server.port)
    front_pid = redis.Redis(port=server.port).info("server")["front_process_id"]
    s0, s1 = model["shards"]
    assert [s0["pid"], s1["pid"]] == [int(info["shard0"]["pid"]), int(info["shard1"]["pid"])]
    assert s0["state"] == s1["state"] == "ready"
    assert (s0["slots"], s0["slot_ranges"]) == (8192, [[0, 8191]])
    assert (s1["slots"], s1["slot_ranges"]) == (8192, [[8192, 16383]])
    assert (s0["keys"], s0["keys_per_db"], s0["expires"]) == (3, {"0": 3}, 0)
    assert (s1["keys"], s1["keys_per_db"], s1["expires"]) == (7, {"0": 5, "2": 2}, 2)
    assert s1["expires_per_db"] == {"0": 0, "2": 2}
    for s in (s0, s1):
        assert s["rss_bytes"] > 1_000_000 and s["dataset_bytes"] >= 0
        assert s["ops_total"] >= 3 and s["ops_per_sec"] is not None and s["ops_per_sec"] >= 0
        assert s["cpu_seconds"] > 0 and s["cpu_percent"] is not None
        assert s["ring_req_bytes"] == 0 and s["ring_rep_bytes"] == 0 and s["backpressure_events"] == 0
        assert s["aof_size_bytes"] is None and s["aof_fsync_lag_seconds"] is None  # AOF off: never invented
        assert s["expired_keys"] == 0 and s["evicted_keys"] == 0
        assert s["restarted"] is False
    t = model["totals"]
    assert (t["keys"], t["expires"], t["slots"], t["shards_ready"]) == (10, 2, 16384, 2)
    assert t["keys_per_db"] == {"0": 8, "2": 2}
    assert model["aof_enabled"] is False
    assert model["interval"] == pytest.approx(0.2, abs=0.15)
    front = model["front"]
    assert front["pid"] == front_pid and front["connections"] >= 1
    assert front["ops_per_sec"] is not None and front["cpu_percent"] is not None and front["rss_bytes"] > 0


def test_stats_single_sample_has_no_rates(server: ServerProc) -> None:
    p = shardctl("-p", str(server.port), "--json", "stats", "--interval", "0")
    model = json.loads(p.stdout)
    assert model["interval"] is None
    assert all(s["ops_per_sec"] is None and s["cpu_percent"] is None for s in model["shards"])
    assert model["totals"]["keys"] == 10


def test_stats_rates_count_the_commands_between_samples(server: ServerProc) -> None:
    r = redis.Redis(port=server.port, socket_timeout=5)
    r.ping()  # connect (and redis-py's CLIENT SETINFO) before the first sample
    client = Client(port=server.port)
    try:
        first = Sample(client.info(*STATS_SECTIONS))
        pipe = r.pipeline(transaction=False)
        for _ in range(200):
            pipe.get(KEYS0[0])
        pipe.execute()
        second = Sample(client.info(*STATS_SECTIONS))
    finally:
        client.close()
    model = build_stats(second, first, client.target)
    dt = second.time - first.time
    s0, s1 = model["shards"]
    # 200 GETs, plus the first sample's own internal commands (one or two per shard)
    assert 200 <= s0["ops_total"] - int(first.shards[0]["ops"]) <= 203
    assert s1["ops_total"] - int(first.shards[1]["ops"]) <= 3
    assert s0["ops_per_sec"] == pytest.approx((s0["ops_total"] - int(first.shards[0]["ops"])) / dt, abs=0.1)
    # the front: 200 GETs and the second sample's INFO
    assert model["front"]["commands_total"] - first.commands == 201
    assert model["front"]["ops_per_sec"] == pytest.approx(201 / dt, abs=0.1)


def test_stats_table(server: ServerProc) -> None:
    p = shardctl("-p", str(server.port), "stats", "--interval", "0.1")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    info = _info_shards(server.port)
    front_pid = redis.Redis(port=server.port).info("server")["front_process_id"]
    header = next(line for line in out.splitlines() if line.split()[:2] == ["shard", "pid"])
    for column in ("pid", "state", "slots", "keys", "keys/db", "expires", "rss", "dataset", "ops/s", "cpu%",
                   "ring req/rep", "bp", "aof", "fsync lag", "expired", "evicted", "conns"):
        assert column in header
    assert re.search(rf"^\s*0\s+{info['shard0']['pid']}\s+ready\s+8192\s+3\s+db0:3\s+0\s", out, re.M), out
    assert re.search(rf"^\s*1\s+{info['shard1']['pid']}\s+ready\s+8192\s+7\s+db0:5 db2:2\s+2\s", out, re.M), out
    assert re.search(r"^\s*total\s+2/2 ready\s+16384\s+10\s+db0:8 db2:2\s+2\s", out, re.M), out
    assert re.search(rf"^\s*front\s+{front_pid}\s", out, re.M), out
    assert "AOF off" in out


# ---------------------------------------------------------------- slots


def test_slots(server: ServerProc) -> None:
    p = shardctl("-p", str(server.port), "slots")
    info = _info_shards(server.port)
    lines = p.stdout.splitlines()
    assert lines == [
        f"shard0  pid {info['shard0']['pid']}  ready  8192 slots  0-8191",
        f"shard1  pid {info['shard1']['pid']}  ready  8192 slots  8192-16383",
    ]


def test_slots_keys_per_slot(server: ServerProc) -> None:
    expected: dict[str, dict[str, int]] = {"0": {}, "2": {}}
    for db, keys in (("0", KEYS0 + KEYS1), ("2", VOLATILE1)):
        for k in keys:
            slot = str(key_slot(k.encode()))
            expected[db][slot] = expected[db].get(slot, 0) + 1
    p = shardctl("-p", str(server.port), "--json", "slots", "--keys")
    shards = json.loads(p.stdout)["shards"]
    merged: dict[str, dict[str, int]] = {}
    for s in shards:
        for db, counts in s["keys_per_slot"].items():
            for slot, n in counts.items():
                lo, hi = s["ranges"][0]
                assert lo <= int(slot) <= hi, "a slot is listed under the shard that owns it"
                merged.setdefault(db, {})[slot] = n
    assert merged == expected
    p = shardctl("-p", str(server.port), "slots", "--keys", "--db", "2")
    text = p.stdout
    for k in VOLATILE1:
        assert re.search(rf"^  slot\s+{key_slot(k.encode())}  db2  \d+ keys$", text, re.M), text
    assert "db0" not in text
    assert text.splitlines()[1] == "  (no keys)"  # shard 0 has nothing in db2


def test_slotkeys_is_not_part_of_info_all(server: ServerProc) -> None:
    client = Client(port=server.port)
    try:
        assert "slotkeys" not in client.info("all") and "slotkeys" not in client.info("everything")
        slotkeys = client.info("slotkeys")["slotkeys"]
    finally:
        client.close()
    assert set(slotkeys) == {"db0", "db2"}


def test_check_aof_without_a_manifest_is_an_error(tmp_path: Path) -> None:
    p = shardctl("check-aof", str(tmp_path))
    assert p.returncode == 1 and "no shardserver.manifest in" in p.stderr
    p = shardctl("check-aof")
    assert p.returncode == 2  # DIR is required


# ---------------------------------------------------------------- errors


def test_server_down_is_exit_3_naming_the_address() -> None:
    port = free_port()  # nothing listens there any more
    p = shardctl("-p", str(port), "stats")
    assert p.returncode == 3
    assert f"127.0.0.1:{port}" in p.stderr and "refused" in p.stderr
    p = shardctl("-p", str(port), "--json", "ping")
    assert p.returncode == 3 and json.loads(p.stdout)["exit_code"] == 3


def test_silent_host_times_out_with_exit_3() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        start = time.monotonic()
        p = shardctl("-p", str(port), "--timeout", "0.3", "ping")
        assert time.monotonic() - start < 10
    assert p.returncode == 3
    assert f"127.0.0.1:{port} did not answer within 0.3s" in p.stderr


def test_usage_error_is_exit_2() -> None:
    assert shardctl("stats", "--no-such-option").returncode == 2
    assert shardctl().returncode == 2


def test_password_and_unix_socket() -> None:
    path = os.path.join(tempfile.mkdtemp(prefix="shardctl-"), "s.sock")
    with shardserver("--requirepass", "s3cret", "--unixsocket", path, shards=1) as s:
        port = str(s.port)
        p = shardctl("-p", port, "-a", "wrong", "ping")
        assert p.returncode == 1
        assert f"authentication failed at 127.0.0.1:{port}" in p.stderr and "WRONGPASS" in p.stderr
        p = shardctl("-p", port, "stats", "--interval", "0")
        assert p.returncode == 1 and "requires a password" in p.stderr
        p = shardctl("-p", port, "ping", env={"REDISCLI_AUTH": "s3cret"})
        assert (p.returncode, p.stdout.strip()) == (0, "PONG")
        p = shardctl("-s", path, "-a", "s3cret", "--json", "stats", "--interval", "0")
        assert p.returncode == 0, p.stderr
        model = json.loads(p.stdout)
        assert model["server"] == f"unix:{path}" and model["shards"][0]["slots"] == 16384
    p = shardctl("-s", path, "ping")
    assert p.returncode == 3 and f"unix:{path}" in p.stderr


# ---------------------------------------------------------------- --watch


@pytest.fixture(scope="module")
def restart_server() -> Iterator[ServerProc]:
    """Restarted shards wait 0.8 s before their hello, so `restarting` lasts long enough to see."""
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in (str(INJECT_DIR), os.environ.get("PYTHONPATH", "")) if p),
        "SHARDSERVER_TEST_RESTART_HELLO_DELAY": "0.8",
    }
    with shardserver(shards=N, env=env) as s:
        yield s


def _read_json_lines(proc: subprocess.Popen[str], deadline: float) -> Iterator[dict[str, Any]]:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            return
        yield json.loads(line)
    raise AssertionError("shardctl stats --watch produced no more lines before the deadline")


def test_watch_json_shows_a_killed_shard_restarting_then_ready(restart_server: ServerProc) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "shardserver.cli", "-p", str(restart_server.port), "--json",
         "stats", "--watch", "--interval", "0.1", "--count", "150"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen: list[tuple[str, int | None, bool]] = []
        victim = 0
        for frame in _read_json_lines(proc, time.monotonic() + 20):
            shard = frame["shards"][1]
            if not victim:
                assert shard["state"] == "ready"
                victim = shard["pid"]
                os.kill(victim, signal.SIGKILL)
                continue
            seen.append((shard["state"], shard["pid"], shard["restarted"]))
            if shard["state"] == "restarting":  # its slots are still its own, from the front's slot map
                assert shard["slot_ranges"] == [[8192, 16383]] and shard["keys"] is None
            if shard["state"] == "ready" and shard["pid"] != victim:
                break
        states = [state for state, _, _ in seen]
        assert "restarting" in states, seen
        first_restarting = states.index("restarting")
        assert seen[first_restarting][1] is None  # the new pid is unknown until its hello
        assert seen[-1][0] == "ready" and seen[-1][2] is True  # flagged in the frame it came back
        assert frame["shards"][0]["state"] == "ready"
    finally:
        proc.kill()
        proc.wait(5)


def test_watch_on_a_terminal_uses_a_live_view_and_shows_the_restart(restart_server: ServerProc) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shardserver.cli", "-p", str(restart_server.port),
         "stats", "--watch", "--interval", "0.1", "--count", "25"],
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "220", "LINES": "50"},
    )
    os.close(slave)
    out = bytearray()
    killed = False
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not killed and b"ready" in out:
                pid = int(_info_shards(restart_server.port)["shard0"]["pid"])
                os.kill(pid, signal.SIGKILL)
                killed = True
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
    text = out.decode(errors="replace")
    assert "\x1b[" in text  # rich drew on a terminal (colours, cursor movement)
    assert "restarting" in text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    after = plain[plain.rindex("restarting"):]
    assert re.search(r"^\s*0\s+\d+\s+ready", after, re.M), after[-3000:]


# ---------------------------------------------------------------- the model, without a server


def _sample(t: float, shard1: str, commands: int = 10) -> Sample:
    line0 = "pid=10,state=ready,slots=0-8191,keys=1,expires=0,db_keys=0:1,db_expires=0:0,ops=100,cpu_user=1.0,cpu_sys=0.5"
    text = (
        f"# Server\r\nserver_time_usec:{int(t * 1e6)}\r\nfront_process_id:9\r\n# Stats\r\ntotal_commands_processed:{commands}\r\n"
        f"# Shards\r\nshards:2\r\nshard0:{line0}\r\nshard1:{shard1}\r\n"
    )
    from shardserver.cli import parse_info

    return Sample(parse_info(text))


def test_model_marks_restarts_and_gives_no_rate_across_them() -> None:
    ready_a = "pid=11,state=ready,slots=8192-16383,keys=5,expires=0,ops=500,cpu_user=2.0,cpu_sys=0"
    restarting = "pid=0,state=restarting,slots=8192-16383,keys=0,expires=0,ops=0,ring_req_bytes=0"
    ready_b = "pid=12,state=ready,slots=8192-16383,keys=0,expires=0,ops=3,cpu_user=0.1,cpu_sys=0"
    a, b, c = _sample(100.0, ready_a), _sample(101.0, restarting, 20), _sample(102.0, ready_b, 40)
    mid = build_stats(b, a, "t")["shards"][1]
    assert (mid["state"], mid["pid"], mid["keys"], mid["ops_per_sec"], mid["restarted"]) == ("restarting", None, None, None, False)
    assert mid["slots"] == 8192 and mid["ring_req_bytes"] == 0
    end = build_stats(c, b, "t")
    assert (end["shards"][1]["restarted"], end["shards"][1]["ops_per_sec"]) == (True, None)
    assert end["shards"][0]["ops_per_sec"] == 0.0 and end["shards"][0]["restarted"] is False
    assert end["front"]["ops_per_sec"] == 20.0
    # a pid change between two ready samples (a restart faster than the interval) is a restart too
    assert build_stats(c, a, "t")["shards"][1]["restarted"] is True
    # a counter that went back (CONFIG RESETSTAT) gives no rate
    assert build_stats(a, _sample(99.0, ready_a.replace("ops=500", "ops=900")), "t")["shards"][1]["ops_per_sec"] is None


def test_stats_shows_each_shards_aof(tmp_path: Path) -> None:
    with shardserver("--appendonly", "yes", "--appendfsync", "always", shards=N) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        for k in KEYS0 + KEYS1:
            r.set(k, "value")
        p = shardctl("-p", str(s.port), "--json", "stats", "--interval", "0")
        assert p.returncode == 0, p.stderr
        model = json.loads(p.stdout)
        assert model["aof_enabled"] is True
        files = {f: os.path.getsize(os.path.join(s.dir, "appendonlydir", f)) for f in os.listdir(os.path.join(s.dir, "appendonlydir")) if f.endswith(".aof")}
        for i, sh in enumerate(model["shards"]):
            assert sh["aof_size_bytes"] == sum(size for name, size in files.items() if f".s{i}." in name) > 0
            assert sh["aof_fsync_lag_seconds"] == 0  # always: nothing waits for an fsync
        assert model["totals"]["aof_size_bytes"] == sum(files.values())
        table = shardctl("-p", str(s.port), "stats", "--interval", "0")
        assert "AOF on" in table.stdout
