"""The optional Prometheus exporter (``metrics-port``): the numbers of ``shardctl stats``.

Ownership: a process of its own, forked by the supervisor once the server is
ready (``start_metrics``), that serves prometheus_client's text format on
``127.0.0.1:metrics-port``.  It is a client like shardctl: every scrape opens a
connection to the server's own port (or unix socket), sends INFO and turns the
``# Shards``, ``# Stats``, ``# CPU``... fields into metric families, so it sees
exactly what INFO and shardctl show and never touches shared memory.  A scrape
that cannot reach the server reports ``shardserver_up 0`` and nothing else.

The exporter does not serve the data path: if it dies the server goes on (its
own log line says why, e.g. the port is taken); it gets SIGTERM with the
supervisor (PR_SET_PDEATHSIG).  The password is the ``requirepass`` of start-up:
after ``CONFIG SET requirepass`` scrapes fail (up 0) until a restart.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shardserver import log
from shardserver.cli import STATS_SECTIONS, Client, CtlError, parse_info, parse_ranges, shard_lines

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from shardserver.config import Config
    from shardserver.supervisor import Supervisor

LISTEN_ADDR = "127.0.0.1"
SCRAPE_TIMEOUT = 3.0
STATES = ("loading", "ready", "restarting")

_exporter_pid = 0  # in the supervisor: the running exporter, so a second "ready" forks none


def start_metrics(supervisor: Supervisor, server_port: int) -> int:
    """Fork the exporter when ``metrics-port`` is set; the supervisor calls this when ready.

    Returns the exporter's pid (0 when off).  The supervisor reaps it like any
    child and ignores its exit: metrics are not worth stopping the server for.
    """
    global _exporter_pid
    port = int(supervisor.config.get("metrics-port"))
    if not port or (_exporter_pid and _alive(_exporter_pid)):
        return _exporter_pid if port else 0
    config = supervisor.config
    _exporter_pid = supervisor._fork("metrics exporter", lambda: metrics_main(config, server_port))
    return _exporter_pid


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def server_address(config: Config, server_port: int) -> tuple[str, int, str]:
    """(host, port, unix socket) the exporter queries: the TCP port if any, else the socket."""
    unix = str(config.get("unixsocket"))
    if not server_port and unix:
        return "", 0, unix
    bind = config.get("bind")
    addrs = [a.lstrip("-") for a in (bind if isinstance(bind, list) else str(bind).split()) if a]
    host = addrs[0] if addrs else "127.0.0.1"
    # A wildcard bind listens on loopback too.
    host = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::*": "::1", "::": "::1"}.get(host, host)
    return host, server_port, ""


class ShardserverCollector:
    """A custom collector: one INFO per scrape, per-shard families labelled ``shard``."""

    def __init__(self, host: str, port: int, unix: str, password: str, timeout: float = SCRAPE_TIMEOUT) -> None:
        self.host, self.port, self.unix, self.password, self.timeout = host, port, unix, password, timeout
        self._last_error = ""

    def fetch(self) -> dict[str, dict[str, str]]:
        client = Client(self.host, self.port, self.unix, self.password, self.timeout)
        try:
            reply = client.call("INFO", *STATS_SECTIONS)
        finally:
            client.close()
        return parse_info(reply.decode("utf-8", "replace"))

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        start = time.monotonic()
        try:
            info = self.fetch()
            shards = shard_lines(info)
        except CtlError as exc:
            if str(exc) != self._last_error:  # log a change of trouble, not every scrape
                log.warning(f"metrics: scrape failed: {exc}")
                self._last_error = str(exc)
            yield GaugeMetricFamily("shardserver_up", "1 if the server answered INFO", value=0)
            return
        self._last_error = ""
        yield GaugeMetricFamily("shardserver_up", "1 if the server answered INFO", value=1)
        yield from self._front(info)
        yield from self._shards(shards)
        yield GaugeMetricFamily(
            "shardserver_scrape_duration_seconds", "time to query the server for this scrape", value=time.monotonic() - start
        )

    def _front(self, info: dict[str, dict[str, str]]) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        def num(section: str, field: str) -> float:
            return float(info.get(section, {}).get(field, 0) or 0)

        yield GaugeMetricFamily("shardserver_uptime_seconds", "seconds since the server started", value=num("server", "uptime_in_seconds"))
        yield GaugeMetricFamily("shardserver_front_connected_clients", "client connections", value=num("clients", "connected_clients"))
        yield CounterMetricFamily("shardserver_front_connections_received", "connections accepted", value=num("stats", "total_connections_received"))
        yield CounterMetricFamily("shardserver_front_commands_processed", "commands received from clients", value=num("stats", "total_commands_processed"))
        yield GaugeMetricFamily("shardserver_front_instantaneous_ops_per_sec", "the front's commands per second (1 s window)", value=num("stats", "instantaneous_ops_per_sec"))
        yield GaugeMetricFamily("shardserver_front_rss_bytes", "the front process's resident memory", value=num("memory", "used_memory_front"))
        cpu = CounterMetricFamily("shardserver_front_cpu_seconds", "the front process's CPU time", labels=["mode"])
        cpu.add_metric(["user"], num("cpu", "used_cpu_user_front"))
        cpu.add_metric(["system"], num("cpu", "used_cpu_sys_front"))
        yield cpu
        yield GaugeMetricFamily("shardserver_aof_enabled", "1 if the append-only file is on (not implemented yet: 0)", value=num("persistence", "aof_enabled"))

    def _shards(self, shards: list[dict[str, str]]) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            StateSetMetricFamily,
        )

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"shardserver_shard_{name}", doc, labels=["shard", *labels])

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
            return CounterMetricFamily(f"shardserver_shard_{name}", doc, labels=["shard", *labels])

        families: dict[str, Any] = {
            "state": StateSetMetricFamily("shardserver_shard_state", "the shard's state", labels=["shard"]),
            "pid": gauge("pid", "process id (0 while restarting)"),
            "slots": gauge("slots", "hash slots owned"),
            "keys": gauge("keys", "keys in every database"),
            "expires": gauge("expires", "keys with a TTL in every database"),
            "db_keys": gauge("db_keys", "keys per database", ("db",)),
            "db_expires": gauge("db_expires", "keys with a TTL per database", ("db",)),
            "ops": counter("ops", "commands executed (internal ones included)"),
            "cpu": counter("cpu_seconds", "CPU time", ("mode",)),
            "rss": gauge("rss_bytes", "resident memory (psutil, measured by the front)"),
            "dataset": gauge("dataset_bytes", "anonymous memory grown since the shard started (data + allocator slack)"),
            "ring": gauge("ring_depth_bytes", "bytes waiting in the shard's shared-memory ring", ("ring",)),
            "queued": gauge("ring_queued_bytes", "request bytes the front holds back because the ring is full"),
            "inflight": gauge("ring_inflight", "runs sent to the shard and not answered yet"),
            "bp": counter("backpressure_events", "times the request ring was full and the front paused reading"),
            "expired": counter("expired_keys", "keys removed because their TTL passed"),
            "evicted": counter("evicted_keys", "keys evicted (always 0: no maxmemory, nothing is evicted)"),
        }
        for i, row in enumerate(shards):
            shard = str(i)
            state = row.get("state", "")
            families["state"].add_metric([shard], {s: s == state for s in STATES})
            families["pid"].add_metric([shard], float(row.get("pid", 0) or 0))
            families["slots"].add_metric([shard], sum(hi - lo + 1 for lo, hi in parse_ranges(row.get("slots", ""))))
            families["ring"].add_metric([shard, "requests"], float(row.get("ring_req_bytes", 0)))
            families["ring"].add_metric([shard, "replies"], float(row.get("ring_rep_bytes", 0)))
            families["queued"].add_metric([shard], float(row.get("ring_queued_bytes", 0)))
            families["inflight"].add_metric([shard], float(row.get("ring_inflight", 0)))
            families["bp"].add_metric([shard], float(row.get("backpressure_events", 0)))
            if state != "ready":
                continue  # no numbers from a shard that is not serving: absent, not 0
            families["keys"].add_metric([shard], float(row["keys"]))
            families["expires"].add_metric([shard], float(row["expires"]))
            for key, fam in (("db_keys", "db_keys"), ("db_expires", "db_expires")):
                for part in row.get(key, "").split():
                    db, _, n = part.partition(":")
                    families[fam].add_metric([shard, db], float(n))
            families["ops"].add_metric([shard], float(row["ops"]))
            families["cpu"].add_metric([shard, "user"], float(row["cpu_user"]))
            families["cpu"].add_metric([shard, "system"], float(row["cpu_sys"]))
            families["rss"].add_metric([shard], float(row.get("rss", 0)))
            families["dataset"].add_metric([shard], float(row.get("dataset", 0)))
            families["expired"].add_metric([shard], float(row.get("expired_keys", 0)))
            families["evicted"].add_metric([shard], float(row.get("evicted_keys", 0)))
        yield from families.values()


def metrics_main(config: Config, server_port: int) -> int:
    """Entry point in the forked exporter process; returns the exit code."""
    from prometheus_client import CollectorRegistry, start_http_server

    log.set_role("M")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides about Ctrl-C
    port = int(config.get("metrics-port"))
    host, sport, unix = server_address(config, server_port)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ShardserverCollector(host, sport, unix, str(config.get("requirepass"))))  # type: ignore[arg-type]
    try:
        start_http_server(port, addr=LISTEN_ADDR, registry=registry)
    except OSError as exc:
        log.warning(f"Metrics exporter cannot listen on {LISTEN_ADDR}:{port}: {exc.strerror or exc}; no metrics")
        return 1
    log.notice(f"Prometheus metrics on http://{LISTEN_ADDR}:{port}/metrics")
    # The HTTP server runs in a daemon thread; SIGTERM (default action) ends the process.
    threading.Event().wait()
    return 0
