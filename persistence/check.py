"""Checking and repairing AOF files offline (``shardctl check-aof [--fix] DIR``).

Ownership: reads the manifest and the files it names, like
``valkey-check-aof``; it never talks to a server.  With ``--fix`` a truncated
or corrupt file is cut at the start of its first bad record (what follows is
lost, as with ``valkey-check-aof --fix``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from persistence import manifest as mf
from persistence.aof import AofCorrupt, read_records, truncate


@dataclass
class FileReport:
    name: str
    shard: int
    status: str  # "ok", "truncated", "corrupt", "missing"
    records: int = 0
    size: int = 0
    offset: int = -1
    reason: str = ""
    fixed: bool = False


def find_dir(path: str) -> str:
    """The AOF directory from a path to it, to its manifest, or to a ``dir`` holding ``appendonlydir``."""
    if os.path.isfile(path) and os.path.basename(path) == mf.NAME:
        return os.path.dirname(path) or "."
    if os.path.isfile(os.path.join(path, mf.NAME)):
        return path
    nested = os.path.join(path, "appendonlydir")
    if os.path.isfile(os.path.join(nested, mf.NAME)):
        return nested
    raise FileNotFoundError(f"no {mf.NAME} in {path} (nor in {nested})")


def check(path: str, fix: bool = False) -> tuple[str, list[FileReport]]:
    aofdir = find_dir(path)
    manifest = mf.read(aofdir)
    assert manifest is not None
    reports = []
    for entry in manifest.files + manifest.pending:
        full = os.path.join(aofdir, entry.name)
        report = FileReport(entry.name, entry.shard, "ok")
        if not os.path.exists(full):
            report.status = "missing"
            reports.append(report)
            continue
        try:
            result = read_records(full, lambda db, records: None)
            report.records, report.size = result.records, result.size
            if result.truncated_at >= 0:
                report.status, report.offset = "truncated", result.truncated_at
        except AofCorrupt as exc:
            report.status, report.offset, report.reason = "corrupt", exc.offset, exc.reason
        if fix and report.status in ("truncated", "corrupt"):
            truncate(full, report.offset)
            report.fixed = True
        reports.append(report)
    return aofdir, reports


def describe(r: FileReport) -> str:
    where = f"shard {r.shard}: {r.name}"
    if r.status == "ok":
        return f"{where}: valid ({r.records} records, {r.size} bytes)"
    if r.status == "missing":
        return f"{where}: missing (named in the manifest)"
    what = f"truncated at byte {r.offset}" if r.status == "truncated" else f"corrupt at byte {r.offset}: {r.reason}"
    return f"{where}: {what}" + (f"; fixed: cut to {r.offset} bytes" if r.fixed else "")
