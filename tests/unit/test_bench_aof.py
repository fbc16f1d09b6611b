"""The AOF benchmark's arithmetic: the goals of the durability issue are read off these ratios."""

from __future__ import annotations

import argparse

from bench.aof import MODES, Target, paired_ratio, render


def _target(name: str, kind: str, results: dict[tuple[str, int], list[float]]) -> Target:
    t = Target(name, kind, 1 if kind == "shardserver" else 0)
    t.results = results
    return t


def test_paired_ratio_pairs_each_round_with_its_own_off_run() -> None:
    # a slow second round halves every mode: the rounds' own ratios stay 0.9, 0.9, 0.6
    t = _target("s", "shardserver", {("off", 1): [100.0, 50.0, 100.0], ("everysec", 1): [90.0, 45.0, 60.0]})
    assert paired_ratio(t, "everysec", 1) == (0.9, 0.6, 0.9)


def test_render_divides_the_always_ratio_by_valkeys() -> None:
    def results(off: float, every: float, always: float) -> dict[tuple[str, int], list[float]]:
        return {(m, p): [v] * 3 for m, v in zip(MODES, (off, every, always), strict=True) for p in (1, 16)}

    valkey = _target("Valkey 9", "valkey", results(200.0, 190.0, 100.0))  # always / off 0.50
    ours = _target("shardserver 1 shard", "shardserver", results(100.0, 95.0, 60.0))  # 0.60
    text = render([valkey, ours], {}, argparse.Namespace(clients=50, requests=10, rounds=3, keys=0))
    row = next(line for line in text.splitlines() if line.startswith("| 1 | shardserver"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5:] == ["0.95 (0.95-0.95)", "0.60 (0.60-0.60)", "1.20", "0.60"]


def test_render_adds_the_mset_table_when_measured() -> None:
    def results(v: float) -> dict[tuple[str, int], list[float]]:
        return {(m, p): [v] * 3 for m in MODES for p in (1, 16)}

    valkey = _target("Valkey 9", "valkey", results(100.0))
    ours = _target("shardserver 2 shards", "shardserver", results(100.0))
    args = argparse.Namespace(clients=50, requests=10, rounds=3, keys=0)
    assert "MSET throughput" not in render([valkey, ours], {}, args)
    valkey.mset = {"off": [100.0, 100.0, 100.0], "everysec": [90.0, 95.0, 80.0], "always": [50.0, 50.0, 50.0]}
    ours.mset = {"off": [200.0, 100.0, 200.0], "everysec": [180.0, 95.0, 100.0], "always": [100.0, 60.0, 100.0]}
    row = next(line for line in render([valkey, ours], {}, args).splitlines() if line.startswith("| shardserver 2 shards | 200"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:] == ["0.90 (0.50-0.95)", "0.50 (0.50-0.60)", "2.00"]
