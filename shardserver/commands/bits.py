"""Command table entries for bitmaps and HyperLogLog (both operate on string values).

Ownership: data only, as in ``table``; entries match Valkey 9's COMMAND INFO.
"""

from __future__ import annotations

from shardserver.commands.table import ALL, COORD, SPLIT, KeySpec, _add

_R = KeySpec(1, 1, 1, ("RO", "access"))
_WA = KeySpec(1, 1, 1, ("RW", "access", "update"))

# ---- bitmaps ----
_add("setbit", 4, "write denyoom", "bitmap", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "2.2.0", "O(1)", keys=_WA)
_add("getbit", 3, "readonly fast", "bitmap", "Returns a bit value by offset.", "2.2.0", "O(1)", keys=_R)
_add("bitcount", -2, "readonly", "bitmap", "Counts the number of set bits (population counting) in a string.", "2.6.0", "O(N)", keys=_R)
_add("bitpos", -3, "readonly", "bitmap", "Finds the first set (1) or clear (0) bit in a string.", "2.8.7", "O(N)", keys=_R)
_add(
    "bitop",
    -4,
    "write denyoom",
    "bitmap",
    "Performs bitwise operations on multiple strings, and stores the result.",
    "2.6.0",
    "O(N)",
    keys=KeySpec(2, -1, 1),
    cross=COORD,
    specs=(KeySpec(2, 2, 1, ("OW", "update")), KeySpec(3, -1, 1, ("RO", "access"))),
)
_add(
    "bitfield",
    -2,
    "write denyoom",
    "bitmap",
    "Performs arbitrary bitfield integer operations on strings.",
    "3.2.0",
    "O(1) for each subcommand specified",
    keys=KeySpec(1, 1, 1, ("RW", "access", "update", "variable_flags"), "This command allows both access and modification of the key"),
)
_add("bitfield_ro", -2, "readonly fast", "bitmap", "Performs arbitrary read-only bitfield integer operations on strings.", "6.0.0", "O(1) for each subcommand specified", keys=_R)

# ---- HyperLogLog ----
_add("pfadd", -2, "write denyoom fast", "hyperloglog", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", "2.8.9", "O(1) to add every element.", keys=KeySpec(1, 1, 1, ("RW", "insert")))
_add(
    "pfcount",
    -2,
    "readonly",
    "hyperloglog",
    "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
    "2.8.9",
    "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
    keys=KeySpec(1, -1, 1, ("RW", "access"), "RW because it may change the internal representation of the key, and propagate to replicas"),
    cross=SPLIT,
)
_add(
    "pfmerge",
    -2,
    "write denyoom",
    "hyperloglog",
    "Merges one or more HyperLogLog values into a single key.",
    "2.8.9",
    "O(N) to merge N HyperLogLogs, but with high constant times.",
    keys=KeySpec(1, -1, 1),
    cross=COORD,
    specs=(KeySpec(1, 1, 1, ("RW", "access", "insert")), KeySpec(2, -1, 1, ("RO", "access"))),
)
_add("pfselftest", 1, "admin", "hyperloglog", "An internal command for testing HyperLogLog values.", "2.8.9", "N/A", ALL, acl="@hyperloglog @admin @slow @dangerous")
_add("pfdebug", 3, "write denyoom admin", "hyperloglog", "Internal commands for debugging HyperLogLog values.", "2.8.9", "N/A", keys=KeySpec(2, 2, 1, ("RW", "access")))
