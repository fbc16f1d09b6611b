"""List commands in the command table (group ``list``), as Valkey 9 declares them.

The blocking ones (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) and LMPOP, whose
keys are counted by an argument, are routed FRONT: the front's blocking
machinery (``shardserver/front/blocking.py``) runs their shard steps.
"""

from __future__ import annotations

from shardserver.commands.table import COORD, FRONT, TABLE, KeySpec, _add

_PUSH_C = "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."
_INS = KeySpec(1, 1, 1, ("RW", "insert"))
_POP = KeySpec(1, 1, 1, ("RW", "access", "delete"))
_RO = KeySpec(1, 1, 1, ("RO",))
_ROA = KeySpec(1, 1, 1, ("RO", "access"))
_DST = KeySpec(2, 2, 1, ("RW", "insert"))
_MOVE = KeySpec(1, 2, 1)

_add("lpush", -3, "write denyoom fast", "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "1.0.0", _PUSH_C, keys=_INS)
_add("rpush", -3, "write denyoom fast", "list", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "1.0.0", _PUSH_C, keys=_INS)
_add("lpushx", -3, "write denyoom fast", "list", "Prepends one or more elements to a list only when the list exists.", "2.2.0", _PUSH_C, keys=_INS)
_add("rpushx", -3, "write denyoom fast", "list", "Appends one or more elements to a list only when the list exists.", "2.2.0", _PUSH_C, keys=_INS)
_add("lpop", -2, "write fast", "list", "Returns and removes one or more elements from the beginning of a list. Deletes the list if the last element was popped.", "1.0.0", "O(N) where N is the number of elements returned", keys=_POP)
_add("rpop", -2, "write fast", "list", "Returns and removes one or more elements from the end of a list. Deletes the list if the last element was popped.", "1.0.0", "O(N) where N is the number of elements returned", keys=_POP)
_add("llen", 2, "readonly fast", "list", "Returns the length of a list.", "1.0.0", "O(1)", keys=_RO)
_add("lrange", 4, "readonly", "list", "Returns a range of elements from a list.", "1.0.0", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", keys=_ROA)
_add("lindex", 3, "readonly", "list", "Returns an element from a list by its index.", "1.0.0", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", keys=_ROA)
_add("lset", 4, "write denyoom", "list", "Sets the value of an element in a list by its index.", "1.0.0", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", keys=KeySpec(1, 1, 1, ("RW", "update")))
_add("linsert", 5, "write denyoom", "list", "Inserts an element before or after another element in a list.", "2.2.0", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", keys=_INS)
_add("lrem", 4, "write", "list", "Removes elements from a list. Deletes the list if the last element was removed.", "1.0.0", "O(N+M) where N is the length of the list and M is the number of elements removed.", keys=KeySpec(1, 1, 1, ("RW", "delete")))
_add("ltrim", 4, "write", "list", "Removes elements from both ends of a list. Deletes the list if all elements were trimmed.", "1.0.0", "O(N) where N is the number of elements to be removed by the operation.", keys=KeySpec(1, 1, 1, ("RW", "delete")))
_add("lpos", -3, "readonly", "list", "Returns the index of matching elements in a list.", "6.0.6", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", keys=_ROA)
_add("lmove", 5, "write denyoom", "list", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "6.2.0", "O(1)", keys=_MOVE, cross=COORD, specs=(_POP, _DST))
_add("rpoplpush", 3, "write denyoom", "list", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "1.2.0", "O(1)", keys=_MOVE, cross=COORD, specs=(_POP, _DST))
_add("lmpop", -4, "write movablekeys", "list", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", FRONT, specs=(KeySpec(1, 1, 1, ("RW", "access", "delete"), keynum=(0, 1, 1)),))

# blocking
_add("blpop", -3, "write blocking", "list", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0", "O(N) where N is the number of provided keys.", FRONT, keys=KeySpec(1, -2, 1, ("RW", "access", "delete")))
_add("brpop", -3, "write blocking", "list", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0", "O(N) where N is the number of provided keys.", FRONT, keys=KeySpec(1, -2, 1, ("RW", "access", "delete")))
_add("blmove", 6, "write denyoom blocking", "list", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "6.2.0", "O(1)", FRONT, keys=_MOVE, specs=(_POP, _DST))
_add("brpoplpush", 4, "write denyoom blocking", "list", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.2.0", "O(1)", FRONT, keys=_MOVE, specs=(_POP, _DST))
_add("blmpop", -5, "write blocking movablekeys", "list", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", FRONT, specs=(KeySpec(2, 2, 1, ("RW", "access", "delete"), keynum=(0, 1, 1)),))

# CLIENT UNBLOCK (the blocking machinery lives in the front)
_add("unblock", -3, "admin noscript loading stale", "connection", "Unblocks a client blocked by a blocking command from a different connection.", "5.0.0", "O(log N) where N is the number of client connections", FRONT, parent=TABLE["client"], acl="@admin @slow @dangerous @connection")
