"""Hash commands in the command table (Valkey 9, field expiration included).

Ownership: the table entries only; handlers live in shardserver/shard/hash_cmds.py.
Every entry matches Valkey's COMMAND INFO and COMMAND DOCS summary.
"""

from __future__ import annotations

from shardserver.commands.table import KeySpec, _add

_R = KeySpec(1, 1, 1, ("RO", "access"))
_RX = KeySpec(1, 1, 1, ("RO",))
_W = KeySpec(1, 1, 1, ("RW", "update"))
_WA = KeySpec(1, 1, 1, ("RW", "access", "update"))
_WI = KeySpec(1, 1, 1, ("RW", "insert"))
_WD = KeySpec(1, 1, 1, ("RW", "delete"))
_FIELDS_N = "O(N) where N is the number of specified fields."

_add("hset", -4, "write denyoom fast", "hash", "Creates or modifies the value of a field in a hash.", "2.0.0", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", keys=_W)
_add("hsetnx", 4, "write denyoom fast", "hash", "Sets the value of a field in a hash only when the field doesn't exist.", "2.0.0", "O(1)", keys=_WI)
_add("hget", 3, "readonly fast", "hash", "Returns the value of a field in a hash.", "2.0.0", "O(1)", keys=_R)
_add("hmget", -3, "readonly fast", "hash", "Returns the values of all fields in a hash.", "2.0.0", "O(N) where N is the number of fields being requested.", keys=_R)
_add("hmset", -4, "write denyoom fast", "hash", "Sets the values of multiple fields.", "2.0.0", "O(N) where N is the number of fields being set.", keys=_W)
_add("hgetall", 2, "readonly", "hash", "Returns all fields and values in a hash.", "2.0.0", "O(N) where N is the size of the hash.", keys=_R, tips=("nondeterministic_output_order",))
_add("hdel", -3, "write fast", "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "2.0.0", "O(N) where N is the number of fields to be removed.", keys=_WD)
_add("hlen", 2, "readonly fast", "hash", "Returns the number of fields in a hash.", "2.0.0", "O(1)", keys=_RX)
_add("hstrlen", 3, "readonly fast", "hash", "Returns the length of the value of a field.", "3.2.0", "O(1)", keys=_RX)
_add("hexists", 3, "readonly fast", "hash", "Determines whether a field exists in a hash.", "2.0.0", "O(1)", keys=_RX)
_add("hkeys", 2, "readonly", "hash", "Returns all fields in a hash.", "2.0.0", "O(N) where N is the size of the hash.", keys=_R, tips=("nondeterministic_output_order",))
_add("hvals", 2, "readonly", "hash", "Returns all values in a hash.", "2.0.0", "O(N) where N is the size of the hash.", keys=_R, tips=("nondeterministic_output_order",))
_add("hincrby", 4, "write denyoom fast", "hash", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "2.0.0", "O(1)", keys=_WA)
_add("hincrbyfloat", 4, "write denyoom fast", "hash", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "2.6.0", "O(1)", keys=_WA)
_add("hrandfield", -2, "readonly", "hash", "Returns one or more random fields from a hash.", "6.2.0", "O(N) where N is the number of fields returned", keys=_R, tips=("nondeterministic_output",))
_add("hscan", -3, "readonly", "hash", "Iterates over fields and values of a hash.", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", keys=_R, tips=("nondeterministic_output",))
_add("hexpire", -6, "write fast", "hash", "Sets expiry time on hash fields.", "9.0.0", _FIELDS_N, keys=_W)
_add("hpexpire", -6, "write fast", "hash", "Sets expiry time on hash object.", "9.0.0", _FIELDS_N, keys=_W)
_add("hexpireat", -6, "write fast", "hash", "Sets expiry time on hash fields.", "9.0.0", _FIELDS_N, keys=_W)
_add("hpexpireat", -6, "write fast", "hash", "Sets expiration time on hash field.", "9.0.0", _FIELDS_N, keys=_W)
_add("httl", -5, "readonly fast", "hash", "Returns the remaining time to live (in seconds) of a hash key's field(s) that have an associated expiration.", "9.0.0", _FIELDS_N, keys=_R)
_add("hpttl", -5, "readonly fast", "hash", "Returns the remaining time to live in milliseconds of a hash key's field(s) that have an associated expiration.", "9.0.0", _FIELDS_N, keys=_R)
_add("hexpiretime", -5, "readonly fast", "hash", "Returns Unix timestamps in seconds since the epoch at which the given key's field(s) will expire.", "9.0.0", _FIELDS_N, keys=_R)
_add("hpexpiretime", -5, "readonly fast", "hash", "Returns the Unix timestamp in milliseconds since Unix epoch at which the given key's field(s) will expire.", "9.0.0", _FIELDS_N, keys=_R)
_add("hpersist", -5, "write fast", "hash", "Remove the existing expiration on a hash key's field(s).", "9.0.0", _FIELDS_N, keys=_W)
_add("hgetdel", -5, "write fast", "hash", "Returns the values of one or more fields and deletes them from a hash.", "9.1.0", "O(N) where N is the number of fields to be retrieved and deleted.", keys=KeySpec(1, 1, 1, ("RW", "access", "delete")))
_add("hgetex", -5, "write fast", "hash", "Gets the value of one or more fields of a given hash key, and optionally sets their expiration time or time-to-live (TTL).", "9.0.0", _FIELDS_N, keys=_WA)
_add("hsetex", -6, "write denyoom fast", "hash", "Sets the value of one or more fields of a given hash key, and optionally sets their expiration time.", "9.0.0", _FIELDS_N, keys=_WI)
