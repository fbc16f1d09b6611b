"""The Prometheus exporter (metrics-port) against a real server: numbers checked against INFO."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import keys_on, wait_gone
from tests.servers import ServerProc, free_port, shardserver

pytestmark = pytest.mark.timeout(60)

N = 2
PASSWORD = "metrics-pw"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerProc, int]]:
    port = free_port()
    with shardserver("--metrics-port", str(port), "--requirepass", PASSWORD, shards=N) as s:
        s.wait_log(rb"Prometheus metrics on http://127\.0\.0\.1:\d+/metrics", 10)
        yield s, port


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one GET /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_per_shard_numbers_match_info(server: tuple[ServerProc, int]) -> None:
    s, mport = server
    r = redis.Redis(port=s.port, password=PASSWORD, socket_timeout=5)
    for k in keys_on(0, N, "m", 4):
        r.set(k, "v")
    for k in keys_on(1, N, "n", 6):
        r.set(k, "v", ex=1000)
    r3 = redis.Redis(port=s.port, password=PASSWORD, db=3, socket_timeout=5)
    r3.set(keys_on(1, N, "x", 1)[0], "v")
    gone = keys_on(0, N, "gone", 1)[0]
    r.set(gone, "v", px=1)
    deadline = time.monotonic() + 5
    while r.get(gone) is not None:  # server-side expiry: nothing to await but the key
        assert time.monotonic() < deadline
        time.sleep(0.01)

    m = scrape(mport)
    info = r.info("shards")
    after = r.info("all")
    assert m[("shardserver_up", ())] == 1
    for i in range(N):
        row = info[f"shard{i}"]
        lab = (("shard", str(i)),)
        assert m[("shardserver_shard_keys", lab)] == row["keys"]
        assert m[("shardserver_shard_expires", lab)] == row["expires"]
        assert m[("shardserver_shard_pid", lab)] == row["pid"]
        assert m[("shardserver_shard_slots", lab)] == 8192
        assert m[("shardserver_shard_state", (("shard", str(i)), ("shardserver_shard_state", "ready")))] == 1
        assert m[("shardserver_shard_state", (("shard", str(i)), ("shardserver_shard_state", "restarting")))] == 0
        # counters: the scrape's INFO came first, so INFO now is a little ahead
        assert 0 <= row["ops"] - m[("shardserver_shard_ops_total", lab)] <= 3
        assert m[("shardserver_shard_cpu_seconds_total", (("mode", "user"), ("shard", str(i))))] <= row["cpu_user"]
        assert m[("shardserver_shard_expired_keys_total", lab)] == row["expired_keys"]
        assert m[("shardserver_shard_evicted_keys_total", lab)] == 0
        assert m[("shardserver_shard_backpressure_events_total", lab)] == row["backpressure_events"]
        assert m[("shardserver_shard_rss_bytes", lab)] > 1_000_000
        assert m[("shardserver_shard_ring_depth_bytes", (("ring", "requests"), ("shard", str(i))))] == 0
    assert m[("shardserver_shard_keys", (("shard", "0"),))] == 4
    assert m[("shardserver_shard_keys", (("shard", "1"),))] == 7
    assert m[("shardserver_shard_db_keys", (("db", "3"), ("shard", "1")))] == 1
    assert m[("shardserver_shard_db_expires", (("db", "0"), ("shard", "1")))] == 6
    assert m[("shardserver_shard_expired_keys_total", (("shard", "0"),))] == 1
    assert m[("shardserver_front_connected_clients", ())] >= 1
    assert 0 < m[("shardserver_front_commands_processed_total", ())] <= after["total_commands_processed"]
    assert m[("shardserver_front_cpu_seconds_total", (("mode", "user"),))] <= after["used_cpu_user_front"]
    assert m[("shardserver_aof_enabled", ())] == 0


def test_metrics_port_is_an_immutable_directive(server: tuple[ServerProc, int]) -> None:
    s, mport = server
    r = redis.Redis(port=s.port, password=PASSWORD, socket_timeout=5)
    assert r.config_get("metrics-port") == {"metrics-port": str(mport)}
    with pytest.raises(redis.ResponseError, match="immutable"):
        r.config_set("metrics-port", mport + 1)


def test_scrape_reports_down_when_the_server_refuses(server: tuple[ServerProc, int]) -> None:
    s, mport = server
    r = redis.Redis(port=s.port, password=PASSWORD, socket_timeout=5)
    r.config_set("requirepass", "changed")
    try:
        m = scrape(mport)
        assert m == {("shardserver_up", ()): 0}
    finally:
        redis.Redis(port=s.port, password="changed", socket_timeout=5).config_set("requirepass", PASSWORD)
    assert scrape(mport)[("shardserver_up", ())] == 1


def test_exporter_stops_with_the_server_and_a_taken_port_does_not_stop_the_server() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with shardserver("--metrics-port", str(taken.getsockname()[1]), shards=1) as s:
            s.wait_log(rb"Metrics exporter cannot listen on 127\.0\.0\.1:\d+", 10)
            assert redis.Redis(port=s.port, socket_timeout=5).ping()
    port = free_port()
    with shardserver("--metrics-port", str(port), shards=1) as s:
        m = s.wait_log(rb"(\d+):M [^\n]*Prometheus metrics on", 10)
        exporter = int(m.group(1))
        assert scrape(port)[("shardserver_up", ())] == 1
        assert s.stop() == 0
        assert wait_gone([exporter], 10) == []
