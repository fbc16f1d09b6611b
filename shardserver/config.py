"""Configuration directives for shardserver: definitions, parsing and validation.

Ownership rule: config owns directive definitions, parsing and validation; it
knows nothing of sockets or processes.  It never binds, forks, daemonizes,
changes directory or writes pid files -- it only turns config files, command
lines and ``CONFIG GET``/``CONFIG SET`` arguments into validated, typed values
(and formats them back the way Valkey shows them).  Other modules read the
typed values through :class:`Config` and act on them.

Behaviour follows valkey-server 9.x, verified against the real binary:

* command line ``shardserver [config-file] [--directive value ...]``; the
  options are turned into extra lines appended after the file contents, exactly
  as valkey-server does, so errors report line numbers of that virtual file;
* config file: one directive per line, ``#`` comments, arguments split like
  Valkey's ``sdssplitargs`` (double quotes with ``\\n \\t \\xHH`` escapes,
  single quotes), directive names case-insensitive;
* integers parse like Valkey's ``string2ll`` (no ``+``, no leading zeros),
  memory values like ``memtoull`` (``b k kb m mb g gb``, case-insensitive,
  ``k`` = 1000 and ``kb`` = 1024), octal like ``strtoll(..., 8)``;
* error reasons are Valkey's own texts, e.g.
  ``argument couldn't be parsed into an integer``.

To add a directive, add an entry to ``_DIRECTIVE_LIST`` built with one of the
``_int``/``_memory``/``_octal``/``_bool``/``_enum``/``_string``/... factories.
"""

from __future__ import annotations

import copy
import errno
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from shardserver import VALKEY_VERSION

__all__ = [
    "DIRECTIVES",
    "Config",
    "ConfigError",
    "Directive",
    "format_fatal",
    "parse_args",
    "split_args",
]

LLONG_MAX = 2**63 - 1
ULLONG_MAX = 2**64 - 1
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
UINT_MAX = 2**32 - 1
CONFIG_BINDADDR_MAX = 16
HZ_MIN = 1
HZ_MAX = 500

# Valkey's generic reasons (exact texts).
ERR_BAD_DIRECTIVE = "Bad directive or wrong number of arguments"
ERR_WRONG_ARGS = "wrong number of arguments"
ERR_UNBALANCED = "Unbalanced quotes in configuration line"
ERR_NOT_INTEGER = "argument couldn't be parsed into an integer"
ERR_NOT_MEMORY = "argument must be a memory value"
ERR_NOT_OCTAL = "argument couldn't be parsed as an octal number"
ERR_NOT_BOOL = "argument must be 'yes' or 'no'"
ERR_IMMUTABLE = "can't set immutable config"
ERR_DUPLICATE = "duplicate parameter"
ERR_INVALID_SAVE = "Invalid save parameters"
ERR_TOO_MANY_BIND = "Too many bind addresses specified."
ERR_DIR_EMPTY = "dir can't be empty"
# Our own (shardserver-specific) reason.
ERR_DAEMONIZE = (
    "daemonize yes is not supported: shardserver always runs in the foreground "
    "(run it under systemd or another supervisor); use 'daemonize no'"
)


class ConfigError(Exception):
    """A configuration problem; ``str(err)`` is a message fit to print at start-up.

    Attributes:
        reason: Valkey's bare reason text (e.g. ``wrong number of arguments``).
        directive: the directive involved, if known.
        lineno: line number in the (virtual) config file, for start-up errors.
        line: that line, trimmed, as Valkey echoes it after ``>>>``.
        path: the config file path for "can't open config file" errors.

    For :meth:`Config.config_set` errors ``str(err)`` is the exact RESP error
    text (``ERR ...``) to send to the client.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        directive: str | None = None,
        lineno: int | None = None,
        line: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason if reason is not None else message
        self.directive = directive
        self.lineno = lineno
        self.line = line
        self.path = path

    def __str__(self) -> str:
        return self.message


class _Invalid(Exception):
    """Internal: a value was rejected; ``args[0]`` is Valkey's reason text."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------
# Low-level parsers mirroring Valkey's C helpers
# --------------------------------------------------------------------------

_STRING2LL_RE = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")
_OCTAL_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-7]+)\Z")
_STRTOLL10_RE = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+\Z")
_MEMORY_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def _string2ll(s: str) -> int:
    """Strict integer parse like Valkey's string2ll (no '+', spaces or leading zeros)."""
    if not _STRING2LL_RE.match(s):
        raise _Invalid(ERR_NOT_INTEGER)
    value = int(s)
    if not -LLONG_MAX - 1 <= value <= LLONG_MAX:
        raise _Invalid(ERR_NOT_INTEGER)
    return value


def parse_memory(s: str) -> int:
    """Parse a memory value like Valkey's memtoull: ``512mb``, ``1gb``, ``1k``, ``100``.

    Units are case-insensitive; ``k``/``m``/``g`` are powers of 1000 and
    ``kb``/``mb``/``gb`` powers of 1024; ``b`` or no unit means bytes.  The
    digits may be empty (value 0), as in Valkey.  Raises ``ValueError``.
    """
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        i += 1
    digits, unit = s[:i], s[i:].lower()
    if s.startswith("-") or unit not in _MEMORY_UNITS:
        raise ValueError(ERR_NOT_MEMORY)
    value = int(digits) if digits else 0
    if value > ULLONG_MAX:
        raise ValueError(ERR_NOT_MEMORY)
    # Like Valkey, a product overflowing 64 bits is then rejected by the range check.
    return value * _MEMORY_UNITS[unit]


def _strtoll_octal(s: str) -> int:
    """``strtoll(s, &end, 8)`` requiring the whole string to be consumed."""
    if s == "":
        return 0  # strtoll leaves end at the (empty) start: Valkey accepts it as 0
    m = _OCTAL_RE.match(s)
    if not m:
        raise _Invalid(ERR_NOT_OCTAL)
    value = int(m.group(2), 8)
    if m.group(1) == "-":
        value = -value
    if not -LLONG_MAX - 1 <= value <= LLONG_MAX:
        raise _Invalid(ERR_NOT_OCTAL)
    return value


def _strtoll10_lenient(s: str) -> int | None:
    """``strtoll(s, &end, 10)`` with ``*end == 0`` required; ``""`` gives 0."""
    if s == "":
        return 0
    if not _STRTOLL10_RE.match(s):
        return None
    return int(s)


_SPLIT_ENDS = b" \n\r\t"
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"
_ISSPACE = b" \t\n\v\f\r"


def _split_args_bytes(line: bytes) -> list[bytes] | None:
    """Valkey 9 ``sdssplitargs``: split a line into arguments; None if quotes are unbalanced.

    Quotes may open and close anywhere inside an argument (``a"b c"d`` is one
    argument ``ab cd``); double quotes understand ``\\xHH``, ``\\n``, ``\\r``,
    ``\\t``, ``\\b``, ``\\a`` and ``\\<char>``; single quotes only ``\\'``.
    """
    out: list[bytes] = []
    n = len(line)
    p = 0
    while True:
        while p < n and line[p] in _ISSPACE:
            p += 1
        if p >= n:
            return out
        cur = bytearray()
        state = ""  # "", '"' or "'"
        while True:
            c = line[p] if p < n else None
            if state == '"':
                if c is None:
                    return None
                if (
                    c == 0x5C
                    and p + 3 < n
                    and line[p + 1] == ord("x")
                    and line[p + 2] in _HEX
                    and line[p + 3] in _HEX
                ):
                    cur.append(int(line[p + 2 : p + 4], 16))
                    p += 4
                elif c == 0x5C and p + 1 < n:
                    nxt = line[p + 1]
                    cur += _ESCAPES.get(nxt, bytes([nxt]))
                    p += 2
                elif c == ord('"'):
                    state = ""
                    p += 1
                else:
                    cur.append(c)
                    p += 1
            elif state == "'":
                if c is None:
                    return None
                if c == 0x5C and p + 1 < n and line[p + 1] == ord("'"):
                    cur.append(ord("'"))
                    p += 2
                elif c == ord("'"):
                    state = ""
                    p += 1
                else:
                    cur.append(c)
                    p += 1
            else:
                if c is None or c in _SPLIT_ENDS:
                    break
                if c == ord('"'):
                    state = '"'
                elif c == ord("'"):
                    state = "'"
                else:
                    cur.append(c)
                p += 1
        out.append(bytes(cur))


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _encode(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def split_args(line: str) -> list[str] | None:
    """Split a config line like Valkey's ``sdssplitargs``; None on unbalanced quotes."""
    parts = _split_args_bytes(_encode(line))
    return None if parts is None else [_decode(x) for x in parts]


def _repr_arg(s: bytes) -> bytes:
    """Valkey's ``sdscatrepr``: quote a string with C-style escapes."""
    out = bytearray(b'"')
    for c in s:
        if c in (0x5C, 0x22):
            out += b"\\" + bytes([c])
        elif c == 0x0A:
            out += b"\\n"
        elif c == 0x0D:
            out += b"\\r"
        elif c == 0x09:
            out += b"\\t"
        elif c == 0x07:
            out += b"\\a"
        elif c == 0x08:
            out += b"\\b"
        elif 0x20 <= c < 0x7F:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    out += b'"'
    return bytes(out)


def _stringmatch(pattern: str, string: str, nocase: bool = True) -> bool:
    """Glob match like Valkey's ``stringmatchlen``: ``*``, ``?``, ``[a-z]``, ``[^x]``, ``\\x``."""

    def low(ch: str) -> str:
        return ch.lower() if nocase else ch

    def match(pi: int, si: int, depth: int) -> bool:
        if depth > 1000:
            return False
        plen, slen = len(pattern), len(string)
        while pi < plen and si < slen:
            pc = pattern[pi]
            if pc == "*":
                while pi + 1 < plen and pattern[pi + 1] == "*":
                    pi += 1
                if pi + 1 == plen:
                    return True
                return any(match(pi + 1, k, depth + 1) for k in range(si, slen))
            if pc == "?":
                si += 1
            elif pc == "[":
                pi += 1
                negate = pi < plen and pattern[pi] == "^"
                if negate:
                    pi += 1
                matched = False
                sc = string[si]
                while True:
                    if pi < plen and pattern[pi] == "\\" and plen - pi >= 2:
                        pi += 1
                        if pattern[pi] == sc:
                            matched = True
                    elif pi < plen and pattern[pi] == "]":
                        break
                    elif pi >= plen:
                        pi -= 1
                        break
                    elif plen - pi >= 3 and pattern[pi + 1] == "-":
                        start, end = sorted((pattern[pi], pattern[pi + 2]))
                        if low(start) <= low(sc) <= low(end):
                            matched = True
                        pi += 2
                    elif low(pattern[pi]) == low(sc):
                        matched = True
                    pi += 1
                if negate:
                    matched = not matched
                if not matched:
                    return False
                si += 1
            else:
                if pc == "\\" and plen - pi >= 2:
                    pi += 1
                    pc = pattern[pi]
                if low(pc) != low(string[si]):
                    return False
                si += 1
            pi += 1
            if si == slen:
                while pi < plen and pattern[pi] == "*":
                    pi += 1
                break
        return pi >= len(pattern) and si == len(string)

    return match(0, 0, 0)


# --------------------------------------------------------------------------
# Directive definitions
# --------------------------------------------------------------------------

ParseFn = Callable[[list[str], Any], Any]
CheckFn = Callable[[Any, Any], Any]
FormatFn = Callable[[Any], str]


@dataclass(frozen=True)
class Directive:
    """One configuration directive.

    ``kind`` is one of ``int``, ``octal``, ``memory``, ``bool``, ``enum``,
    ``string``, ``dir``, ``list`` (bind) and ``save``.  ``default`` is the typed
    default (``dir`` holds ``"./"``, resolved to an absolute path when a
    :class:`Config` is created).

    * ``parse(args, current)`` turns the argument strings of one directive line
      into a typed value (``current`` is the value being replaced; ``dir`` uses
      it to resolve relative paths); it raises ``_Invalid(reason)``.
    * ``check(value, current)`` validates and normalises a typed value.
    * ``format(value)`` renders the value as ``CONFIG GET`` shows it.
    * ``multi_arg``: takes a variable number of arguments (``bind``, ``save``).
    * ``combine(old, new)``: set for directives whose repeated lines accumulate
      while loading the config (Valkey does this for ``save``).
    """

    name: str
    kind: str
    default: Any
    mutable: bool
    parse: ParseFn
    check: CheckFn
    format: FormatFn
    multi_arg: bool = False
    combine: Callable[[Any, Any], Any] | None = None
    default_factory: Callable[[], Any] | None = None
    doc: str = ""

    def default_value(self) -> Any:
        """A fresh copy of the default value (resolved, for ``dir``)."""
        if self.default_factory is not None:
            return self.default_factory()
        return copy.copy(self.default)

    def parse_strings(self, args: list[str], current: Any) -> Any:
        """Parse one config-file/command-line line's arguments (Valkey's arity rules)."""
        if not self.multi_arg:
            if len(args) != 1:
                raise _Invalid(ERR_WRONG_ARGS)
        elif len(args) == 1 and args[0] != "":
            # Valkey splits a single argument of a multi-arg config: --bind "a b".
            split = split_args(args[0])
            args = split if split is not None else []
        return self.parse(args, current)

    def parse_config_set(self, value: str, current: Any) -> Any:
        """Parse a ``CONFIG SET`` value (multi-arg values are split on single spaces)."""
        if self.multi_arg:
            return self.parse(value.split(" ") if value else [], current)
        return self.parse([value], current)


def _range_reason(lo: int, hi: int, octal: bool = False) -> str:
    if octal:
        return f"argument must be between {lo:o} and {hi:o} inclusive"
    return f"argument must be between {lo} and {hi} inclusive"


def _bounded(lo: int, hi: int, octal: bool, post: Callable[[int], int] | None) -> CheckFn:
    def check(value: Any, current: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(ERR_NOT_OCTAL if octal else ERR_NOT_INTEGER)
        if not lo <= value <= hi:
            raise _Invalid(_range_reason(lo, hi, octal))
        return post(value) if post is not None else value

    return check


def _int(
    name: str,
    default: int,
    lo: int,
    hi: int,
    *,
    mutable: bool,
    post: Callable[[int], int] | None = None,
    doc: str = "",
) -> Directive:
    """An integer directive with Valkey's strict parsing and inclusive bounds [lo, hi]."""
    check = _bounded(lo, hi, False, post)
    return Directive(
        name,
        "int",
        default,
        mutable,
        parse=lambda args, cur: check(_string2ll(args[0]), cur),
        check=check,
        format=str,
        doc=doc,
    )


def _octal(name: str, default: int, lo: int, hi: int, *, mutable: bool, doc: str = "") -> Directive:
    """An integer written in octal (e.g. ``unixsocketperm 700``); CONFIG GET shows octal."""
    check = _bounded(lo, hi, True, None)
    return Directive(
        name,
        "octal",
        default,
        mutable,
        parse=lambda args, cur: check(_strtoll_octal(args[0]), cur),
        check=check,
        format=lambda v: f"{v:o}",
        doc=doc,
    )


def _memory(
    name: str, default: int, lo: int, hi: int, *, mutable: bool, doc: str = ""
) -> Directive:
    """A byte count accepting Valkey memory units; CONFIG GET shows plain bytes."""
    check = _bounded(lo, hi, False, None)

    def parse(args: list[str], cur: Any) -> int:
        try:
            value = parse_memory(args[0])
        except ValueError:
            raise _Invalid(ERR_NOT_MEMORY) from None
        return check(value, cur)

    return Directive(
        name, "memory", default, mutable, parse=parse, check=check, format=str, doc=doc
    )


def _bool(
    name: str,
    default: bool,
    *,
    mutable: bool,
    reject: dict[bool, str] | None = None,
    doc: str = "",
) -> Directive:
    """A yes/no directive; ``reject`` maps unsupported values to the reason given."""
    rejects = reject or {}

    def check(value: Any, cur: Any) -> bool:
        if not isinstance(value, bool):
            raise _Invalid(ERR_NOT_BOOL)
        if value in rejects:
            raise _Invalid(rejects[value])
        return value

    def parse(args: list[str], cur: Any) -> bool:
        word = args[0].lower()
        if word not in ("yes", "no"):
            raise _Invalid(ERR_NOT_BOOL)
        return check(word == "yes", cur)

    return Directive(
        name,
        "bool",
        default,
        mutable,
        parse=parse,
        check=check,
        format=lambda v: "yes" if v else "no",
        doc=doc,
    )


def _enum(
    name: str, default: str, choices: Iterable[str], *, mutable: bool, doc: str = ""
) -> Directive:
    """One of a fixed set of words (case-insensitive); stored lower-case."""
    options = tuple(choices)
    reason = "argument(s) must be one of the following: " + ", ".join(options)

    def check(value: Any, cur: Any) -> str:
        if not isinstance(value, str) or value.lower() not in options:
            raise _Invalid(reason)
        return value.lower()

    return Directive(
        name,
        "enum",
        default,
        mutable,
        parse=lambda args, cur: check(args[0], cur),
        check=check,
        format=str,
        doc=doc,
    )


def _string(name: str, default: str, *, mutable: bool, doc: str = "", valid: Callable[[str], str | None] | None = None) -> Directive:
    """A free-form string (empty allowed); ``valid`` returns a reason to refuse a value."""

    def check(value: Any, cur: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid("argument must be a string")
        reason = valid(value) if valid is not None else None
        if reason is not None:
            raise _Invalid(reason)
        return value

    return Directive(
        name,
        "string",
        default,
        mutable,
        parse=lambda args, cur: check(args[0], cur),
        check=check,
        format=str,
        doc=doc,
    )


def _resolve_dir(path: str, current: Any) -> str:
    """Resolve ``path`` like ``chdir`` from ``current`` would; Valkey's errors if it can't."""
    if not isinstance(path, str):
        raise _Invalid("argument must be a string")
    if path == "":
        raise _Invalid(ERR_DIR_EMPTY)
    base = current if isinstance(current, str) and current else os.getcwd()
    target = os.path.realpath(os.path.join(base, path))
    try:
        st = os.stat(target)
    except OSError as e:
        raise _Invalid(os.strerror(e.errno or errno.ENOENT)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise _Invalid(os.strerror(errno.ENOTDIR))
    if not os.access(target, os.X_OK):
        raise _Invalid(os.strerror(errno.EACCES))
    return target


def _dir(name: str, default: str, *, mutable: bool, doc: str = "") -> Directive:
    """A working directory: must exist; stored (and shown) as an absolute path."""
    return Directive(
        name,
        "dir",
        default,
        mutable,
        parse=lambda args, cur: _resolve_dir(args[0], cur),
        check=_resolve_dir,
        format=str,
        default_factory=lambda: _resolve_dir(default, os.getcwd()),
        doc=doc,
    )


def _bind(name: str, default: list[str], *, mutable: bool, doc: str = "") -> Directive:
    """Listen addresses (``-`` prefix = optional); zero addresses means no TCP."""

    def check(value: Any, cur: Any) -> list[str]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _Invalid("argument must be a list of addresses")
        addrs = list(value)
        if len(addrs) > CONFIG_BINDADDR_MAX:
            raise _Invalid(ERR_TOO_MANY_BIND)
        if len(addrs) == 1 and addrs[0] == "":
            addrs = []  # a single empty argument means "no addresses", as in Valkey
        return addrs

    return Directive(
        name,
        "list",
        list(default),
        mutable,
        parse=lambda args, cur: check(args, cur),
        check=check,
        format=" ".join,
        multi_arg=True,
        doc=doc,
    )


def _save_check(value: Any, cur: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(ERR_INVALID_SAVE)
    return _save_parse(value.split(" ") if value else [], cur)


def _save_parse(args: list[str], cur: Any) -> str:
    if len(args) == 1 and args[0] == "":
        args = []
    if len(args) % 2:
        raise _Invalid(ERR_INVALID_SAVE)
    numbers: list[int] = []
    for j, arg in enumerate(args):
        v = _strtoll10_lenient(arg)
        if v is None or (j % 2 == 0 and v < 1) or (j % 2 == 1 and v < 0):
            raise _Invalid(ERR_INVALID_SAVE)
        numbers.append(v)
    return " ".join(str(v) for v in numbers)


def _save_combine(old: str, new: str) -> str:
    # Valkey: repeated save lines in a config accumulate; 'save ""' resets.
    return f"{old} {new}" if old and new else new


def parse_save_points(value: str) -> list[tuple[int, int]]:
    """The ``save`` directive as stored ("3600 1 300 100"): its (seconds, changes) pairs."""
    nums = [int(x) for x in value.split()]
    return list(zip(nums[::2], nums[1::2], strict=True))


def _save(name: str, default: str, *, mutable: bool, doc: str = "") -> Directive:
    """Save points as ``"<seconds> <changes> ..."``: each shard runs a BGSAVE when one is due
    (ShardPersistence.cron)."""
    return Directive(
        name,
        "save",
        default,
        mutable,
        parse=_save_parse,
        check=_save_check,
        format=str,
        multi_arg=True,
        combine=_save_combine,
        doc=doc,
    )


def _clamp_hz(v: int) -> int:
    return max(HZ_MIN, min(HZ_MAX, v))


MB = 1024 * 1024

_DIRECTIVE_LIST: list[Directive] = [
    _int("port", 6379, 0, 65535, mutable=False, doc="TCP port; 0 = pick a free port"),
    _bind("bind", ["127.0.0.1", "-::1"], mutable=False, doc="listen addresses"),
    _string("unixsocket", "", mutable=False, doc="unix socket path ('' = none)"),
    _octal("unixsocketperm", 0, 0, 0o777, mutable=False, doc="unix socket permissions"),
    # at most 255: the front's C router records a command's shard in one byte
    _int("shards", min(os.cpu_count() or 1, 255), 1, 255, mutable=False, doc="shard processes"),
    _dir("dir", "./", mutable=True, doc="working directory"),
    _int("databases", 16, 1, INT_MAX, mutable=False, doc="number of logical databases"),
    _enum("loglevel", "notice", ("debug", "verbose", "notice", "warning", "nothing"), mutable=True),
    _string("logfile", "", mutable=False, doc="log file ('' = stdout)"),
    _int("timeout", 0, 0, INT_MAX, mutable=True, doc="idle client timeout, seconds (0 = off)"),
    _int("maxclients", 10000, 1, UINT_MAX, mutable=True),
    _memory("proto-max-bulk-len", 512 * MB, MB, LLONG_MAX, mutable=True),
    _memory("client-query-buffer-limit", 1024 * MB, MB, LLONG_MAX, mutable=True),
    _bool("daemonize", False, mutable=False, reject={True: ERR_DAEMONIZE}),
    _string("pidfile", "", mutable=False, doc="pid file ('' = none)"),
    _string("requirepass", "", mutable=True, doc="default user's password ('' = none)"),
    _int("hz", 10, 0, INT_MAX, mutable=True, post=_clamp_hz, doc="clamped to 1..500 like Valkey"),
    # data types: encodings switch where Valkey's do
    _int("list-max-listpack-size", -2, INT_MIN, INT_MAX, mutable=True, doc="negative: node bytes 4/8/16/32/64 KB; positive: entries"),
    # data types: encoding thresholds (the shards act on them)
    _memory("hll-sparse-max-bytes", 3000, 0, LLONG_MAX, mutable=True, doc="a sparse HyperLogLog longer than this turns dense"),
    # durability: each shard's own AOF (shardserver/shard/persist.py)
    _bool("appendonly", False, mutable=True, doc="each shard appends its writes to its own AOF files"),
    _enum("appendfsync", "everysec", ("everysec", "always", "no"), mutable=True),  # Valkey's order, which its error lists
    _string(
        "appenddirname", "appendonlydir", mutable=False, doc="AOF directory under dir",
        valid=lambda v: "appenddirname can't be a path, just a dirname" if "/" in v or v in ("", ".", "..") else None,
    ),
    _int("auto-aof-rewrite-percentage", 100, 0, INT_MAX, mutable=True, doc="growth that triggers a rewrite (0 = off)"),
    _memory("auto-aof-rewrite-min-size", 64 * MB, 0, LLONG_MAX, mutable=True),
    _bool("aof-load-truncated", True, mutable=True),
    _bool("aof-timestamp-enabled", False, mutable=True),
    # Accepted so Valkey config files load; the supervisor warns that nothing is saved.
    _save("save", "", mutable=True, doc="save points: a shard with that many changes since its last snapshot, older than that, runs a BGSAVE (a base file)"),
    # introspection (operations issue)
    _int("slowlog-log-slower-than", 10000, -1, LLONG_MAX, mutable=True, doc="microseconds; -1 off, 0 logs all"),
    _int("slowlog-max-len", 128, 0, LLONG_MAX, mutable=True, doc="entries kept per process"),
    _int("latency-monitor-threshold", 0, 0, LLONG_MAX, mutable=True, doc="milliseconds; 0 = off"),
    # data structures (the shards hear about changes; see Front.SHARD_DIRECTIVES)
    _memory("stream-node-max-bytes", 4096, 0, LLONG_MAX, mutable=True, doc="bytes of one stream node"),
    _int("stream-node-max-entries", 100, 0, LLONG_MAX, mutable=True, doc="entries of one stream node"),
    _enum("enable-debug-command", "no", ("no", "yes", "local"), mutable=False),
    # hashes: the listpack encoding's limits (shards act on them)
    _int("hash-max-listpack-entries", 512, 0, LLONG_MAX, mutable=True, doc="fields a listpack hash holds"),
    _memory("hash-max-listpack-value", 64, 0, LLONG_MAX, mutable=True, doc="longest field or value in a listpack hash"),
    # value encodings (the shards switch compact -> large encodings at these sizes)
    _int("set-max-intset-entries", 512, 0, LLONG_MAX, mutable=True),
    _int("set-max-listpack-entries", 128, 0, LLONG_MAX, mutable=True),
    _int("set-max-listpack-value", 64, 0, LLONG_MAX, mutable=True),
    _int("zset-max-listpack-entries", 128, 0, LLONG_MAX, mutable=True),
    _memory("zset-max-listpack-value", 64, 0, LLONG_MAX, mutable=True),
    # operations: the Prometheus exporter process (shardserver/metrics.py)
    _int("metrics-port", 0, 0, 65535, mutable=False, doc="Prometheus /metrics on 127.0.0.1 (0 = off)"),
]

DIRECTIVES: dict[str, Directive] = {d.name: d for d in _DIRECTIVE_LIST}

# Old names Valkey still accepts (CONFIG GET lists them too): alias -> directive name.
ALIASES: dict[str, str] = {
    "hash-max-ziplist-entries": "hash-max-listpack-entries",
    "hash-max-ziplist-value": "hash-max-listpack-value",
    "zset-max-ziplist-entries": "zset-max-listpack-entries",
    "list-max-ziplist-size": "list-max-listpack-size",
    "zset-max-ziplist-value": "zset-max-listpack-value",
}


def _lookup(name: str) -> Directive | None:
    low = name.lower()
    return DIRECTIVES.get(ALIASES.get(low, low))


def canonical_name(name: str) -> str:
    """The directive name for ``name`` (an alias or any case)."""
    low = name.lower()
    return ALIASES.get(low, low)


# --------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------


class Config:
    """Typed configuration values: defaults overridden by ``values``."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.file: str | None = None  # the config file it was read from (CONFIG REWRITE, reload)
        self._values: dict[str, Any] = {}
        for d in DIRECTIVES.values():
            self._values[d.name] = d.default_value()
        for name, value in (values or {}).items():
            d = _lookup(name)
            if d is None:
                raise ConfigError(
                    f"unknown config directive '{name}'",
                    reason=ERR_BAD_DIRECTIVE,
                    directive=name,
                )
            try:
                self._values[d.name] = d.check(value, self._values[d.name])
            except _Invalid as e:
                raise ConfigError(
                    f"invalid value for '{d.name}': {e.reason}", reason=e.reason, directive=d.name
                ) from None

    def get(self, name: str) -> Any:
        """The typed value of a directive (case-insensitive name); KeyError if unknown."""
        d = _lookup(name)
        if d is None:
            raise KeyError(name)
        return self._values[d.name]

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _lookup(name) is not None

    def set_from_strings(self, name: str, args: list[str]) -> None:
        """Set a directive from its config-line arguments (start-up semantics).

        Mutability is not checked (this is how the config file and command
        line are applied).  Raises ConfigError with Valkey's reason.
        """
        d = _lookup(name)
        if d is None:
            raise ConfigError(
                f"{ERR_BAD_DIRECTIVE}: '{name}'", reason=ERR_BAD_DIRECTIVE, directive=name
            )
        try:
            self._values[d.name] = d.parse_strings(list(args), self._values[d.name])
        except _Invalid as e:
            raise ConfigError(
                f"'{d.name}': {e.reason}", reason=e.reason, directive=d.name
            ) from None

    def config_get(self, patterns: list[str]) -> list[tuple[str, str]]:
        """``CONFIG GET``: (name, formatted value) pairs for all matching directives.

        Patterns are Valkey globs matched case-insensitively.  A pattern with no
        glob characters is a direct lookup and, like Valkey, the reply uses the
        name as the client typed it.  Each directive appears once, in directive
        order.
        """
        found: dict[str, str] = {}  # canonical name -> reply name
        aliases: dict[str, str] = {}  # alias -> directive name, for aliases a glob matched
        for pattern in patterns:
            if not any(ch in pattern for ch in "[*?"):
                d = _lookup(pattern)
                if d is not None and d.name not in found:
                    found[d.name] = pattern
                continue
            for d in DIRECTIVES.values():
                if d.name not in found and _stringmatch(pattern, d.name, nocase=True):
                    found[d.name] = d.name
            for alias, target in ALIASES.items():
                if _stringmatch(pattern, alias, nocase=True):
                    aliases[alias] = target
        pairs = [
            (found[d.name], d.format(self._values[d.name]))
            for d in DIRECTIVES.values()
            if d.name in found
        ]
        pairs.extend((alias, DIRECTIVES[target].format(self._values[target])) for alias, target in aliases.items())
        return pairs

    def config_set(self, pairs: list[tuple[str, str]]) -> None:
        """``CONFIG SET name value [name value ...]``: all or nothing.

        Raises ConfigError whose str() is Valkey's exact error reply text.
        Checks happen in Valkey's order: names first (unknown, immutable,
        duplicate -- the first problem wins), then values in order.
        """
        chosen: list[Directive] = []
        names: set[str] = set()  # as spelled: Valkey takes an alias and its directive together
        for name, _value in pairs:
            d = _lookup(name)
            if d is None:
                raise ConfigError(
                    f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'",
                    reason=ERR_BAD_DIRECTIVE,
                    directive=name,
                )
            if not d.mutable:
                raise _set_failed(name, ERR_IMMUTABLE)
            if name.lower() in names:
                raise _set_failed(name, ERR_DUPLICATE)
            names.add(name.lower())
            chosen.append(d)
        staged: dict[str, Any] = {}
        for d, (_name, value) in zip(chosen, pairs, strict=True):
            try:
                staged[d.name] = d.parse_config_set(value, self._values[d.name])
            except _Invalid as e:
                raise _set_failed(d.name, e.reason) from None
        self._values.update(staged)

    def restore(self, values: dict[str, Any]) -> None:
        """Put back typed values taken with ``to_dict`` (a CONFIG SET whose effect failed)."""
        self._values.update(values)

    def snapshot_at_exit(self) -> bool:
        """Whether a plain SHUTDOWN or SIGTERM takes a snapshot first, as Valkey's: save points
        are set and the AOF is off (with it on, the files already hold every write)."""
        return bool(str(self.get("save"))) and not self.get("appendonly")

    def to_dict(self) -> dict[str, Any]:
        """All typed values keyed by directive name, in directive order (copies)."""
        return {name: copy.copy(value) for name, value in self._values.items()}

    def copy(self) -> Config:
        """An independent copy of this configuration."""
        new = Config.__new__(Config)
        new._values = self.to_dict()
        new.file = self.file
        return new

    def __repr__(self) -> str:
        changed = {n: v for n, v in self._values.items() if v != DIRECTIVES[n].default_value()}
        return f"Config({changed!r})"


def _set_failed(name: str, reason: str) -> ConfigError:
    return ConfigError(
        f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}",
        reason=reason,
        directive=name,
    )


# --------------------------------------------------------------------------
# Start-up: config file + command line
# --------------------------------------------------------------------------


def _options_text(args: list[str]) -> bytes:
    """Turn ``--name value ...`` options into config lines exactly like valkey-server's main()."""
    options = bytearray()
    handled_last = True
    for j, arg in enumerate(args):
        if handled_last and arg.startswith("--"):
            if options:
                options += b"\n"
            options += _encode(arg[2:]) + b" "
            tokens = _split_args_bytes(_encode(arg))
            if tokens is not None and len(tokens) == 1:
                # A bare option name: the next argument is its value even if it starts with --.
                handled_last = False
                is_save = arg.lower() == "--save"
                if is_save and j != len(args) - 1 and args[j + 1].startswith("--"):
                    options += b'""'  # `--save --port 1` means `save ""`
                    handled_last = True
                elif is_save and j == len(args) - 1:
                    options += b'""'
            else:
                handled_last = True  # "--port 6380" passed as one argument
        else:
            options += _repr_arg(_encode(arg)) + b" "
            handled_last = True
    return bytes(options)


def _load_text(text: bytes, cfg: Config) -> None:
    """Apply config text line by line (Valkey's loadServerConfigFromString)."""
    seen: set[str] = set()
    for index, raw in enumerate(text.split(b"\n")):
        line = raw.strip(b" \t\r\n")
        if not line or line.startswith(b"#"):
            continue
        lineno = index + 1
        shown = _decode(line)
        parts = _split_args_bytes(line)
        if parts is None:
            raise _line_error(lineno, shown, ERR_UNBALANCED, None)
        if not parts:
            continue
        args = [_decode(p) for p in parts]
        d = _lookup(args[0])
        if d is None:
            raise _line_error(lineno, shown, ERR_BAD_DIRECTIVE, args[0])
        current = cfg._values[d.name]
        try:
            value = d.parse_strings(args[1:], current)
        except _Invalid as e:
            raise _line_error(lineno, shown, e.reason, d.name) from None
        if d.combine is not None and d.name in seen:
            value = d.combine(current, value)
        seen.add(d.name)
        cfg._values[d.name] = value


def _line_error(lineno: int, line: str, reason: str, directive: str | None) -> ConfigError:
    return ConfigError(
        f"config error at line {lineno} ('{line}'): {reason}",
        reason=reason,
        directive=directive,
        lineno=lineno,
        line=line,
    )


def parse_args(argv: list[str]) -> Config:
    """Build a Config from ``[config-file] [--directive value ...]`` (argv without program name).

    The config file (first argument, if it does not start with ``-``) is read
    first, then the command-line options, which are appended to it as extra
    lines exactly like valkey-server does -- so later settings win, and errors
    report line numbers of that combined text (options start at the file's
    line count + 2).  ``--name v1 v2`` takes every argument up to the next
    ``--``; the argument right after a bare ``--name`` is always its value.
    ``--help``/``--version`` are not handled here.  Raises ConfigError.
    """
    argv = list(argv)
    if (argv and argv[0] == "-") or (len(argv) > 1 and argv[-1] == "-"):
        raise ConfigError(
            "Reading the configuration from stdin ('-') is not supported",
            reason="Reading the configuration from stdin ('-') is not supported",
        )
    text = b""
    path = ""
    argv_had_file = bool(argv) and not argv[0].startswith("-")
    if argv and not argv[0].startswith("-"):
        path = os.path.abspath(argv[0])
        try:
            with open(argv[0], "rb") as f:
                text = f.read()
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise ConfigError(
                f"Fatal error, can't open config file '{path}': {reason}",
                reason=reason,
                path=path,
            ) from None
        argv = argv[1:]
    cfg = Config()
    _load_text(text + b"\n" + _options_text(argv), cfg)
    cfg.file = path if argv_had_file else None
    return cfg


def format_fatal(err: ConfigError) -> str:
    """The fatal start-up text valkey-server prints for ``err`` (without surrounding newlines).

    For a bad config line (file or command line)::

        *** FATAL CONFIG FILE ERROR (Version 9.0.0) ***
        Reading the configuration file, at line 2
        >>> 'port "abc"'
        argument couldn't be parsed into an integer

    valkey-server writes a blank line before it; to reproduce its stderr byte
    for byte write ``"\\n" + format_fatal(err) + "\\n"``.  An unreadable
    config file gives Valkey's one-line message instead.
    """
    if err.path is not None:
        return err.message
    lines = [f"*** FATAL CONFIG FILE ERROR (Version {VALKEY_VERSION}) ***"]
    if err.lineno is not None:
        lines.append(f"Reading the configuration file, at line {err.lineno}")
        lines.append(f">>> '{err.line}'")
    lines.append(err.reason)
    return "\n".join(lines)
