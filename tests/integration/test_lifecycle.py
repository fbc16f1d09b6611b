"""Process lifecycle: start-up, signals, crashes of any process, configuration errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import redis

from tests.integration.helpers import (
    connect,
    key_on,
    keys_on,
    process_gone,
    read_replies,
    read_until_closed,
    resp,
    server_cmd,
    shard_pids,
    shm_entries,
    wait_gone,
)
from tests.servers import READY_RE, shardserver


def _children(server_pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(server_pid).children(recursive=True)]


def test_start_prints_ready_line_and_port_0_picks_a_free_port() -> None:
    with shardserver(shards=2) as s:
        text = s.text()
        assert READY_RE.search(s.log)
        assert s.port != 0
        assert f"port {s.port}" in text
        # the port really is ours: a client gets an answer there
        assert redis.Redis(port=s.port, socket_timeout=5).ping() is True
        # and the port was free: nobody else can bind it now
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", s.port))
        # one front and two shards
        assert len(_children(s.proc.pid)) == 3
        # a second server with port 0 gets another free port
        with shardserver(shards=1) as other_server:
            assert other_server.port not in (0, s.port)
            assert redis.Redis(port=other_server.port, socket_timeout=5).ping() is True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(sig: signal.Signals) -> None:
    with shardserver(shards=2) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        r.set("a", "1")
        children = _children(s.proc.pid)
        assert len(children) == 3
        t0 = time.monotonic()
        s.proc.send_signal(sig)
        assert s.proc.wait(5) == 0
        assert time.monotonic() - t0 < 5
        s.wait_log(rb"ready to exit, bye bye", 5)
        assert wait_gone(children, 2) == []
        assert shm_entries(s.proc.pid) == []
        assert shm_entries() == []
        assert "Traceback" not in s.text()


def test_sigkill_of_supervisor_takes_children_down() -> None:
    with shardserver(shards=2) as s:
        # a round trip first: the front is past its start-up and in its event loop
        # (a kill during the front's start-up is a separate, known race: see the report)
        assert redis.Redis(port=s.port, socket_timeout=5).ping()
        children = _children(s.proc.pid)
        assert len(children) == 3
        old_port = s.port
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(5)
        # PR_SET_PDEATHSIG: every child gets SIGTERM when the supervisor dies
        assert wait_gone(children, 5) == []
        assert shm_entries(s.proc.pid) == []
        assert "Traceback" not in s.text()
        # the dead front's listener is gone with it
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", old_port), timeout=2).close()
    with shardserver(shards=2) as s2:
        r = redis.Redis(port=s2.port, socket_timeout=5)
        assert r.set("x", "y") and r.get("x") == b"y"
        assert len(_children(s2.proc.pid)) == 3


INJECT_DIR = Path(__file__).parent / "_inject"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_signal_while_the_front_is_still_starting(sig: signal.Signals) -> None:
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in (str(INJECT_DIR), os.environ.get("PYTHONPATH", "")) if p),
        "SHARDSERVER_TEST_START_DELAY": "2.0",
    }
    with shardserver(shards=2, env=env) as s:
        # the front has said it is ready and is now 2 s inside start(): signal it there
        s.wait_log(rb"TEST-INJECT: front start\(\) delayed", 10)
        children = _children(s.proc.pid)
        s.proc.send_signal(sig)
        code = s.proc.wait(10)
        if sig == signal.SIGTERM:
            assert code == 0
        assert wait_gone(children, 10) == []
        s.stop()  # every writer of the log pipe is gone: the whole log is in
        text = s.text()
        assert "Traceback" not in text
        assert "front crashed" not in text


def test_sigkill_of_one_shard_restarts_it_while_others_keep_serving() -> None:
    n = 2
    with shardserver(shards=n) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        victim_keys = keys_on(0, n, "v", 20)
        other_keys = keys_on(1, n, "o", 20)
        for k in victim_keys + other_keys:
            r.set(k, "before")
        victim_pid, other_pid = shard_pids(r.info("shards"), n)

        stop = threading.Event()
        problems: list[str] = []
        counts = {"victim_ok": 0, "victim_loading": 0, "other_ok": 0}

        def hammer_victim() -> None:
            c = redis.Redis(port=s.port, socket_timeout=5)
            i = 0
            while not stop.is_set():
                k = victim_keys[i % len(victim_keys)]
                i += 1
                try:
                    c.set(k, "during")
                    counts["victim_ok"] += 1
                except redis.exceptions.BusyLoadingError as exc:
                    assert str(exc).startswith("shard 0 is restarting"), exc
                    counts["victim_loading"] += 1
                except redis.exceptions.TimeoutError as exc:  # a hang is the bug we look for
                    problems.append(f"victim command hung: {exc!r}")
                    return
                except Exception as exc:
                    problems.append(f"victim command failed unexpectedly: {exc!r}")
                    return

        def hammer_other() -> None:
            c = redis.Redis(port=s.port, socket_timeout=5)
            i = 0
            while not stop.is_set():
                k = other_keys[i % len(other_keys)]
                i += 1
                try:
                    assert c.set(k, f"o{i}") is True
                    assert c.get(k) == f"o{i}".encode()
                    counts["other_ok"] += 1
                except Exception as exc:
                    problems.append(f"other shard's command failed: {exc!r}")
                    return

        threads = [threading.Thread(target=hammer_victim), threading.Thread(target=hammer_other)]
        for t in threads:
            t.start()
        try:
            mark = s.log_size()
            os.kill(victim_pid, signal.SIGKILL)
            s.wait_log(rb"Shard 0 \(pid %d\) killed by signal 9" % victim_pid, 10, start=mark)
            m = s.wait_log(rb"Restarted shard 0 as pid (\d+)", 10, start=mark)
            new_pid = int(m.group(1))
            s.wait_log(rb"%d:H0 .*Shard 0 ready: .*0 keys" % new_pid, 10, start=mark)
            # the restarted shard serves again (its hello may trail its log line)
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis(port=s.port, socket_timeout=5).get(victim_keys[0])
                    break
                except redis.exceptions.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)  # no event exposes "hello received"; poll with a deadline
            # let the other shard's client run a little past the restart too
            target = counts["other_ok"] + 200
            deadline = time.monotonic() + 10
            while counts["other_ok"] < target and not problems and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        assert not problems, problems
        assert counts["other_ok"] > 200

        info = r.info("shards")
        assert shard_pids(info, n) == [new_pid, other_pid]
        assert info["shard0"]["state"] == "ready"
        assert process_gone(victim_pid)
        # the restarted shard serves; the other shard kept its data
        r.delete(*victim_keys)
        assert r.set(victim_keys[0], "after") and r.get(victim_keys[0]) == b"after"
        assert r.get(other_keys[0]) is not None
        text = s.text()
        assert "starts empty" in text
        assert "Traceback" not in text
        assert len(_children(s.proc.pid)) == 3


def test_restarted_shard_is_empty() -> None:
    n = 2
    with shardserver(shards=n) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        k0, k1 = key_on(0, n), key_on(1, n)
        r.mset({k0: "a", k1: "b"})
        pid0 = shard_pids(r.info("shards"), n)[0]
        mark = s.log_size()
        os.kill(pid0, signal.SIGKILL)
        m = s.wait_log(rb"Restarted shard 0 as pid (\d+); it starts empty", 10, start=mark)
        new_pid = int(m.group(1))
        s.wait_log(rb"%d:H0 .*Shard 0 ready: slots 0-8191, 0 keys" % new_pid, 10, start=mark)
        deadline = time.monotonic() + 10
        while True:
            try:
                value = r.get(k0)
                break
            except redis.exceptions.BusyLoadingError:
                assert time.monotonic() < deadline
                time.sleep(0.01)  # poll: the hello has no client-visible event
        assert value is None
        assert r.get(k1) == b"b"
        assert r.dbsize() == 1


def test_commands_in_flight_to_a_dying_shard_get_loading() -> None:
    """Commands already sent to a shard that dies are answered LOADING, in order, never lost."""
    n = 2
    with shardserver(shards=n) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        k0, k1 = key_on(0, n), key_on(1, n)
        r.set(k1, "kept")
        pid0 = shard_pids(r.info("shards"), n)[0]
        os.kill(pid0, signal.SIGSTOP)  # the shard stops answering: the next commands stay in flight
        sock = connect(s.port)
        sock.sendall(resp("CLIENT", "ID"))
        (client_id,) = read_replies(sock, 1)
        sock.sendall(resp("SET", k0, "x") + resp("GET", k1) + resp("GET", k0) + resp("PING"))
        # wait until the front has routed all four (counted when routed)
        deadline = time.monotonic() + 10
        while True:
            (entry,) = r.client_list(client_id=[client_id])
            if entry["tot-cmds"] == "5":
                break
            assert time.monotonic() < deadline, entry
            time.sleep(0.01)  # poll: routing has no client-visible event
        os.kill(pid0, signal.SIGKILL)
        replies = read_replies(sock, 4, timeout=5)
        loading = "LOADING shard 0 is restarting and loading its data, retry shortly"
        assert [str(x) for x in replies] == [loading, "b'kept'", loading, "b'PONG'"]
        # until the new shard says hello its commands keep getting LOADING, then it serves
        deadline = time.monotonic() + 10
        while True:
            sock.sendall(resp("GET", k0))
            (reply,) = read_replies(sock, 1)
            if reply is None:
                break
            assert str(reply) == loading
            assert time.monotonic() < deadline
        sock.close()
        assert r.get(k1) == b"kept"


@pytest.mark.parametrize(
    ("args", "directive", "reason"),
    [
        (["--foo", "bar"], "foo", "Bad directive or wrong number of arguments"),
        (["--port", "abc"], "port", "argument couldn't be parsed into an integer"),
    ],
)
def test_bad_configuration_stops_start_up(tmp_path: Path, args: list[str], directive: str, reason: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shardserver.supervisor", "--shards", "1", *args],
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "FATAL CONFIG FILE ERROR" in err
    assert f">>> '{directive} " in err
    assert reason in err
    assert b"Ready to accept" not in proc.stdout


def test_config_file_with_command_line_override(tmp_path: Path) -> None:
    conf = tmp_path / "shardserver.conf"
    conf.write_text("# test configuration\nport 0\nshards 1\ndatabases 4\nmaxclients 7\nloglevel notice\n")
    with server_cmd(str(conf), "--maxclients", "9", "--dir", str(tmp_path), workdir=str(tmp_path)) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        assert r.config_get("maxclients") == {"maxclients": "9"}  # the command line wins
        assert r.config_get("databases") == {"databases": "4"}  # the file's setting holds
        assert r.info("shards")["shards"] == 1
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            r.select(4)
        # a mistake in the file is reported with the file's line number
    conf.write_text("port 0\nshards 1\nmaxclients lots\n")
    proc = subprocess.run([sys.executable, "-m", "shardserver.supervisor", str(conf)], capture_output=True, timeout=30, cwd=tmp_path)
    assert proc.returncode != 0
    assert "at line 3" in proc.stderr.decode() and ">>> 'maxclients lots'" in proc.stderr.decode()


def test_split_commands_in_flight_when_a_shard_dies_get_loading_never_a_hang() -> None:
    """MSET/MGET over both shards (queued and merged on the front's C path) sent to a
    stopped shard 0, which is then killed: the split commands in flight get -LOADING
    (never a hang, never half a reply), the other shard's command in the same pipeline
    its reply, and split commands work again once the shard is back."""
    n = 2
    with shardserver(shards=n) as s:
        r = redis.Redis(port=s.port, socket_timeout=5)
        keys = keys_on(0, n, "s0", 3) + keys_on(1, n, "s1", 3)
        other = key_on(1, n, "o")
        r.set(other, "kept")
        assert r.mset(dict.fromkeys(keys, "a")) and r.mget(keys) == [b"a"] * len(keys)
        victim_pid, _ = shard_pids(r.info("shards"), n)
        sock = connect(s.port)
        sock.sendall(resp("CLIENT", "SETNAME", "splitter"))
        assert read_replies(sock, 1) == [b"OK"]
        os.kill(victim_pid, signal.SIGSTOP)
        try:
            sock.sendall(resp("MSET", *[x for k in keys for x in (k, "b")]) + resp("MGET", *keys) + resp("GET", other))
            # the front counts a command when it routes it: then the split runs are in flight
            deadline = time.monotonic() + 10
            while not any(c["name"] == "splitter" and c["tot-cmds"] == "4" for c in r.client_list()):
                assert time.monotonic() < deadline, r.client_list()
                time.sleep(0.005)  # CLIENT LIST is the only view of the routing; poll it
            mark = s.log_size()
            os.kill(victim_pid, signal.SIGKILL)
        finally:
            if not process_gone(victim_pid):
                os.kill(victim_pid, signal.SIGCONT)
        mset, mget, get = read_replies(sock, 3)
        assert str(mset).startswith("LOADING shard 0 is restarting") and str(mget).startswith("LOADING shard 0 is restarting"), (mset, mget)
        assert get == b"kept"
        m = s.wait_log(rb"Restarted shard 0 as pid (\d+)", 10, start=mark)
        s.wait_log(rb"%d:H0 .*Shard 0 ready" % int(m.group(1)), 10, start=mark)
        deadline = time.monotonic() + 10
        while True:
            try:
                assert r.mset(dict.fromkeys(keys, "c"))
                break
            except redis.exceptions.BusyLoadingError:
                assert time.monotonic() < deadline
                time.sleep(0.01)  # no event exposes "hello received"; poll with a deadline
        assert r.mget(keys) == [b"c"] * len(keys) and r.exists(*keys) == len(keys)
        sock.close()


def test_shutdown_command_exits_0() -> None:
    with shardserver(shards=2) as s:
        children = _children(s.proc.pid)
        sock = connect(s.port)
        sock.sendall(b"SHUTDOWN\r\n")
        data, closed = read_until_closed(sock, 5)
        sock.close()
        assert closed and data == b""
        assert s.proc.wait(5) == 0
        s.wait_log(rb"User requested shutdown", 5)
        assert wait_gone(children, 2) == []
        assert shm_entries(s.proc.pid) == []


def test_unixsocket_with_redis_cli(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with shardserver("--unixsocket", path, "--unixsocketperm", "700", shards=2) as s:
        s.wait_log(rb"unix socket " + path.encode())
        assert oct(os.stat(path).st_mode & 0o777) == oct(0o700)
        run = subprocess.run(["redis-cli", "-s", path, "set", "ux", "hello"], capture_output=True, timeout=10)
        assert run.returncode == 0 and run.stdout == b"OK\n", run
        run = subprocess.run(["redis-cli", "-s", path, "get", "ux"], capture_output=True, timeout=10)
        assert run.stdout == b"hello\n"
        run = subprocess.run(["redis-cli", "-s", path], input=b"incr n\nincr n\nping\n", capture_output=True, timeout=10)
        assert run.stdout == b"1\n2\nPONG\n"
        # the same data over TCP
        assert redis.Redis(port=s.port, socket_timeout=5).get("ux") == b"hello"
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(5) == 0
    assert not os.path.exists(path)  # removed at shutdown


def test_client_info_of_a_unixsocket_client(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with shardserver("--unixsocket", path, shards=1) as s:
        s.wait_log(rb"unix socket ")
        run = subprocess.run(["redis-cli", "-s", path, "client", "info"], capture_output=True, timeout=10)
        fields = dict(kv.split("=", 1) for kv in run.stdout.decode().split())
        # like Valkey 9.1: flags=U, and the path formatted as an address
        assert fields["flags"] == "U"
        assert fields["addr"] == fields["laddr"] == f"[{path}:0]:0"


def test_second_server_on_a_taken_port_fails(tmp_path: Path) -> None:
    with shardserver(shards=1) as s:
        proc = subprocess.run(
            [sys.executable, "-m", "shardserver.supervisor", "--port", str(s.port), "--shards", "1"],
            capture_output=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert proc.returncode == 1
        out = proc.stdout.decode()
        assert "Could not listen" in out and "Ready to accept" not in out
        # the running server is unaffected
        assert redis.Redis(port=s.port, socket_timeout=5).ping()


def test_commands_spanning_a_dead_shard_get_loading_never_hang() -> None:
    """Commands whose keys span shards (split MGET/EXISTS/MSET/DEL, pipelined reads grouped
    over shards) while one shard dies or is dead: each gets the dead shard's LOADING error,
    in order, the live shard's commands are answered, and a split write sent while a shard
    is known dead is refused whole (no shard applies its part)."""
    n = 2
    with shardserver("--appendonly", "yes", "--appendfsync", "no", shards=n) as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        k0, k1 = key_on(0, n), key_on(1, n)
        for i in range(100):  # 100k keys on shard 0: its replacement takes a while to load them
            r.mset({f"{{{k0}}}:{i * 1000 + j}": "v" for j in range(1000)})
        r.set(k1, "kept")
        pid0 = shard_pids(r.info("shards"), n)[0]
        loading = "LOADING shard 0 is restarting and loading its data, retry shortly"
        mark = s.log_size()
        os.kill(pid0, signal.SIGSTOP)  # in flight: sent while the shard still looks alive
        sock = connect(s.port)
        sock.sendall(resp("MGET", k1, k0) + resp("EXISTS", k0, k1) + resp("GET", k1) + resp("GET", k0) + resp("GET", k1))
        os.kill(pid0, signal.SIGKILL)
        replies = [str(x) for x in read_replies(sock, 5, timeout=5)]
        assert replies == [loading, loading, "b'kept'", loading, "b'kept'"]
        # the replacement is held before it has loaded (and said hello): shard 0 stays down
        new_pid = int(s.wait_log(rb"Restarted shard 0 as pid (\d+)", 10, start=mark).group(1))
        os.kill(new_pid, signal.SIGSTOP)
        try:
            sock.sendall(resp("MSET", k1, "b", k0, "a") + resp("DEL", k1, k0) + resp("MGET", k1, k0) + resp("GET", k1) + resp("GET", k0))
            replies = [str(x) for x in read_replies(sock, 5, timeout=5)]
            assert replies == [loading, loading, loading, "b'kept'", loading]
            assert r.get(k1) == b"kept"  # neither the MSET nor the DEL touched the live shard's key
        finally:
            os.kill(new_pid, signal.SIGCONT)
        s.wait_log(rb"%d:H0 .*Shard 0 ready" % new_pid, 30, start=mark)
        deadline = time.monotonic() + 10
        while True:  # its hello may trail its log line
            sock.sendall(resp("MSET", k1, "b", k0, "a") + resp("MGET", k0, k1))
            replies = [str(x) for x in read_replies(sock, 2, timeout=5)]
            if replies[0] != loading:
                break
            assert time.monotonic() < deadline
            time.sleep(0.01)  # poll: the hello has no client-visible event
        assert replies == ["b'OK'", "[b'a', b'b']"]
        sock.close()
        assert "Traceback" not in s.text()
