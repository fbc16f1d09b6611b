"""Checking and repairing AOF files offline (``shardctl check-aof [--fix] DIR``).

Ownership: reads the manifest and the files it names, like
``valkey-check-aof``; it never talks to a server.  With ``--fix`` a truncated
or corrupt file is cut at the start of its first bad record (what follows is
lost, as with ``valkey-check-aof --fix``), but only the last file of a shard:
a damaged earlier file cannot be cut without dropping the records of the files
after it, which the server would then replay onto an incomplete state.  As
``valkey-check-aof``, ``--fix`` then cuts nothing at all, and neither when a
file is missing: what is wrong needs a backup, not a cut.
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
    last: bool = False  # the last file of its shard (in its layout): the only one --fix may cut
    fixed: bool = False
    not_fixed: str = ""  # why --fix left a bad file as it is


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
    try:
        manifest = mf.read(aofdir)
    except mf.ManifestError as exc:  # the CLI reports ValueError as a plain error, not a traceback
        raise ValueError(str(exc)) from None
    assert manifest is not None
    reports = []
    # the old layout's files and (while the shard count changes) the new one's are separate sets
    for entries in (manifest.files, manifest.pending):
        last = {entry.shard: entry for entry in entries}
        for entry in entries:
            reports.append(_check_file(aofdir, entry, last[entry.shard] is entry))
    if fix:
        _fix(aofdir, reports)
    return aofdir, reports


def _check_file(aofdir: str, entry: mf.FileEntry, last: bool) -> FileReport:
    full = os.path.join(aofdir, entry.name)
    report = FileReport(entry.name, entry.shard, "ok", last=last)
    if not os.path.exists(full):
        report.status = "missing"
        return report
    try:
        result = read_records(full, lambda db, records: None)
        report.records, report.size = result.records, result.size
        if result.truncated_at >= 0:
            report.status, report.offset = "truncated", result.truncated_at
    except AofCorrupt as exc:
        report.status, report.offset, report.reason = "corrupt", exc.offset, exc.reason
    return report


def _fix(aofdir: str, reports: list[FileReport]) -> None:
    """Cut the bad last files, or nothing at all when some other file cannot be fixed."""
    bad = [r for r in reports if r.status in ("truncated", "corrupt")]
    blocked = any(r.status == "missing" for r in reports)
    for r in bad:
        if not r.last:
            r.not_fixed = f"not the last file of shard {r.shard}: the files after it build on all of it, so it is not cut; restore it from a backup"
            blocked = True
    for r in bad:
        if r.not_fixed:
            continue
        if blocked:
            r.not_fixed = "--fix cuts nothing while another file cannot be fixed"
        else:
            truncate(os.path.join(aofdir, r.name), r.offset)
            r.fixed = True


def describe(r: FileReport) -> str:
    where = f"shard {r.shard}: {r.name}"
    if r.status == "ok":
        return f"{where}: valid ({r.records} records, {r.size} bytes)"
    if r.status == "missing":
        return f"{where}: missing (named in the manifest)"
    what = f"truncated at byte {r.offset}" if r.status == "truncated" else f"corrupt at byte {r.offset}: {r.reason}"
    if r.fixed:
        what += f"; fixed: cut to {r.offset} bytes"
    elif r.not_fixed:
        what += f"; not fixed: {r.not_fixed}"
    return f"{where}: {what}"
