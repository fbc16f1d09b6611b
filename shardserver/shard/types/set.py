"""The set value: intset, listpack and hashtable encodings, switched as Valkey does.

Ownership: the in-memory representation of sets only (no commands).

- ``intset``: every member a canonical 64-bit integer, at most
  set-max-intset-entries of them; kept as a sorted list of ints (members come
  out in ascending order, as from Valkey's intset).
- ``listpack``: at most set-max-listpack-entries members of at most
  set-max-listpack-value bytes; an insertion-ordered dict (Valkey's listpack
  order, kept on deletes).
- ``hashtable``: a ``ScanList`` (O(1) add/remove/random, stable SSCAN cursor).

Conversions only go up (intset -> listpack/hashtable, listpack -> hashtable),
except ``to_intset`` used by SINTERSTORE, as in Valkey's t_set.c.
"""

from __future__ import annotations

import random
import sys
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any

from shardserver.numbers import strict_int
from shardserver.shard.types import value_type
from shardserver.shard.types.scanlist import ScanList

INTSET = "intset"
LISTPACK = "listpack"
HASHTABLE = "hashtable"
_ENCODINGS = {name.encode(): name for name in (INTSET, LISTPACK, HASHTABLE)}

# Encoding thresholds (CONFIG SET reaches them through the shard's config hooks).
LIMITS: dict[str, int] = {
    "set-max-intset-entries": 512,
    "set-max-listpack-entries": 128,
    "set-max-listpack-value": 64,
}


def _intset_max() -> int:
    return min(LIMITS["set-max-intset-entries"], 1 << 30)


def _digits(v: int) -> int:
    """sdigits10: characters of ``v`` printed (sign included)."""
    return len(b"%d" % v)


@value_type
class SetValue:
    TYPE = "set"
    __slots__ = ("enc", "ints", "small", "big")

    def __init__(self, enc: str = INTSET) -> None:
        self.enc = enc
        self.ints: list[int] = []  # intset
        self.small: dict[bytes, None] = {}  # listpack
        self.big: ScanList | None = ScanList() if enc == HASHTABLE else None

    # -- creation ------------------------------------------------------------
    @classmethod
    def create(cls, first: bytes, size_hint: int) -> SetValue:
        """Valkey's setTypeCreate: the encoding that can hold ``first`` given ``size_hint`` members."""
        if strict_int(first) is not None and size_hint <= LIMITS["set-max-intset-entries"]:
            return cls(INTSET)
        if size_hint <= LIMITS["set-max-listpack-entries"]:
            return cls(LISTPACK)
        return cls(HASHTABLE)

    @classmethod
    def small_from(cls, members: list[bytes]) -> SetValue | None:
        """A new set of ``members`` as SADD builds it when that is a listpack, else None."""
        if len(members) > LIMITS["set-max-listpack-entries"] or max(map(len, members)) > LIMITS["set-max-listpack-value"]:
            return None
        if len(members) <= LIMITS["set-max-intset-entries"] and strict_int(members[0]) is not None:
            return None  # an intset
        s = cls(LISTPACK)
        s.small = dict.fromkeys(members)
        return s

    @classmethod
    def from_members(cls, members: Iterable[bytes]) -> SetValue:
        """A set built by adding ``members`` to an empty intset (SUNIONSTORE, SDIFFSTORE)."""
        s = cls(INTSET)
        for m in members:
            s.add(m)
        return s

    def maybe_convert(self, size_hint: int) -> None:
        """setTypeMaybeConvert: go to hashtable when ``size_hint`` members would not fit."""
        if (self.enc == LISTPACK and size_hint > LIMITS["set-max-listpack-entries"]) or (
            self.enc == INTSET and size_hint > LIMITS["set-max-intset-entries"]
        ):
            self._convert(HASHTABLE)

    def _convert(self, enc: str) -> None:
        members = list(self)
        self.ints = []
        self.small = {}
        self.big = None
        self.enc = enc
        if enc == HASHTABLE:
            big = self.big = ScanList()
            for m in members:
                big.add(m)
        elif enc == LISTPACK:
            self.small = dict.fromkeys(members)
        else:
            self.ints = sorted(int(m) for m in members)

    def to_intset(self) -> None:
        """maybeConvertToIntset: every member is an integer; become an intset if small enough."""
        if self.enc != INTSET and len(self) <= _intset_max():
            self._convert(INTSET)

    # -- members -------------------------------------------------------------
    def __len__(self) -> int:
        if self.enc == INTSET:
            return len(self.ints)
        if self.enc == LISTPACK:
            return len(self.small)
        assert self.big is not None
        return len(self.big)

    def __iter__(self) -> Iterator[bytes]:
        if self.enc == INTSET:
            return (b"%d" % v for v in self.ints)
        if self.enc == LISTPACK:
            return iter(self.small)
        assert self.big is not None
        return iter(self.big)

    def members(self) -> list[bytes]:
        return list(self)

    def contains(self, member: bytes) -> bool:
        if self.enc == INTSET:
            v = strict_int(member)
            if v is None:
                return False
            ints = self.ints
            i = bisect_left(ints, v)
            return i < len(ints) and ints[i] == v
        if self.enc == LISTPACK:
            return member in self.small
        assert self.big is not None
        return member in self.big

    def add(self, member: bytes) -> bool:
        """setTypeAdd with Valkey's conversions; True when ``member`` was new."""
        enc = self.enc
        if enc == HASHTABLE:
            assert self.big is not None
            return self.big.add(member)
        if enc == LISTPACK:
            small = self.small
            if member in small:
                return False
            if len(small) < LIMITS["set-max-listpack-entries"] and len(member) <= LIMITS["set-max-listpack-value"]:
                small[member] = None
            else:
                self._convert(HASHTABLE)
                assert self.big is not None
                self.big.add(member)
            return True
        v = strict_int(member)
        ints = self.ints
        if v is not None:
            i = bisect_left(ints, v)
            if i < len(ints) and ints[i] == v:
                return False
            ints.insert(i, v)
            if len(ints) > _intset_max():
                self._convert(HASHTABLE)
            return True
        maxlen = max(_digits(ints[0]), _digits(ints[-1])) if ints else 0
        lp_value = LIMITS["set-max-listpack-value"]
        if len(ints) < LIMITS["set-max-listpack-entries"] and len(member) <= lp_value and maxlen <= lp_value:
            self._convert(LISTPACK)
            self.small[member] = None
        else:
            self._convert(HASHTABLE)
            assert self.big is not None
            self.big.add(member)
        return True

    def remove(self, member: bytes) -> bool:
        if self.enc == INTSET:
            v = strict_int(member)
            if v is None:
                return False
            ints = self.ints
            i = bisect_left(ints, v)
            if i < len(ints) and ints[i] == v:
                del ints[i]
                return True
            return False
        if self.enc == LISTPACK:
            if member in self.small:
                del self.small[member]
                return True
            return False
        assert self.big is not None
        return self.big.remove(member)

    def random(self) -> bytes:
        """A random member of a non-empty set."""
        if self.enc == INTSET:
            return b"%d" % self.ints[random.randrange(len(self.ints))]
        if self.enc == LISTPACK:
            # a listpack is small: O(n) like Valkey's lpSeek
            i = random.randrange(len(self.small))
            for j, m in enumerate(self.small):
                if j == i:
                    return m
        assert self.big is not None
        return self.big.random()

    def pop_random(self) -> bytes:
        member = self.random()
        self.remove(member)
        return member

    def sample(self, count: int) -> list[bytes]:
        """``count`` distinct random members (count < len)."""
        if self.enc == HASHTABLE and count * 3 <= len(self):
            assert self.big is not None
            picked: dict[bytes, None] = {}
            while len(picked) < count:
                picked[self.big.random()] = None
            return list(picked)
        return random.sample(self.members(), count)

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """SSCAN: compact encodings return everything at once, as Valkey does."""
        if self.enc != HASHTABLE:
            return 0, self.members()
        assert self.big is not None
        return self.big.scan(cursor, count)

    # -- value contract ------------------------------------------------------
    def encoding(self) -> str:
        return self.enc

    def state(self) -> list[Any]:
        return [self.enc, self.ints if self.enc == INTSET else self.members()]

    @classmethod
    def from_state(cls, state: list[Any]) -> SetValue:
        enc, items = state
        s = cls.__new__(cls)  # the fields are all set here: skip __init__'s empty ones
        s.enc = enc = _ENCODINGS.get(enc)  # the shared name, not a new str per set
        s.big = None
        if enc is LISTPACK:
            s.ints = []
            s.small = dict.fromkeys(items)
        elif enc is INTSET:
            s.ints = items
            s.small = {}
        elif enc is HASHTABLE:
            s.ints = []
            s.small = {}
            s.big = big = ScanList()
            for m in items:
                big.add(m)
        else:
            raise ValueError(f"unknown set encoding {state[0]!r}")
        return s

    def copy(self) -> SetValue:
        s = SetValue(self.enc)
        if self.enc == INTSET:
            s.ints = list(self.ints)
        elif self.enc == LISTPACK:
            s.small = dict(self.small)
        else:
            assert s.big is not None
            for m in self:
                s.big.add(m)
        return s

    def memory_usage(self) -> int:
        if self.enc == INTSET:
            return sys.getsizeof(self.ints) + 8 * len(self.ints)
        if self.enc == LISTPACK:
            return sys.getsizeof(self.small) + sum(sys.getsizeof(m) for m in self.small)
        assert self.big is not None
        return sys.getsizeof(self.big.items) + sys.getsizeof(self.big.pos) + sum(sys.getsizeof(m) + 32 for m in self.big)


def is_set(value: Any) -> bool:
    return type(value) is SetValue


__all__ = ["SetValue", "LIMITS", "INTSET", "LISTPACK", "HASHTABLE"]


try:  # the shard's C loop adds to existing sets itself, as SetValue.add does
    from shardserver._speedups import configure_sets
except ImportError:  # built without the C helpers: every SADD runs the Python above
    pass
else:
    configure_sets(SetValue, ScanList, LIMITS, HASHTABLE, LISTPACK)
