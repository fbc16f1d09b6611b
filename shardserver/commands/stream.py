"""Stream commands (X*) in the command table, as Valkey 9.1's COMMAND INFO/DOCS describe them.

XREAD and XREADGROUP find their keys after the STREAMS keyword (a keyword key
spec); when those keys span shards the front runs them through
``shardserver/front/cross_stream.py``.
"""

from __future__ import annotations

from shardserver.commands.table import COORD, FRONT, SINGLE, SPLIT, KeySpec, _add, _container

_add('xadd', -5, 'write denyoom fast', 'stream', "Appends a new message to a stream. Creates the key if it doesn't exist.", '5.0.0', 'O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.', keys=KeySpec(1, 1, 1, ('RW', 'update'), notes='UPDATE instead of INSERT because of the optional trimming feature'), tips=('nondeterministic_output',))
_add('xlen', 2, 'readonly fast', 'stream', 'Returns the number of messages in a stream.', '5.0.0', 'O(1)', keys=KeySpec(1, 1, 1, ('RO',)))
_add('xrange', -4, 'readonly', 'stream', 'Returns the messages from a stream within a range of IDs.', '5.0.0', 'O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).', keys=KeySpec(1, 1, 1, ('RO', 'access')))
_add('xrevrange', -4, 'readonly', 'stream', 'Returns the messages from a stream within a range of IDs in reverse order.', '5.0.0', 'O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).', keys=KeySpec(1, 1, 1, ('RO', 'access')))
_add('xdel', -3, 'write fast', 'stream', 'Returns the number of messages after removing them from a stream.', '5.0.0', 'O(1) for each single item to delete in the stream, regardless of the stream size.', keys=KeySpec(1, 1, 1, ('RW', 'delete')))
_add('xtrim', -4, 'write', 'stream', 'Deletes messages from the beginning of a stream.', '5.0.0', 'O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.', keys=KeySpec(1, 1, 1, ('RW', 'delete')), tips=('nondeterministic_output',))
_add('xread', -4, 'readonly blocking movablekeys', 'stream', 'Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.', '5.0.0', '', keys=KeySpec(1, -1, 1, ('RO', 'access'), keyword='STREAMS', keyword_from=1, limit=2), acl='@read @stream @slow @blocking', cross=SPLIT)
_add('xreadgroup', -7, 'write blocking movablekeys', 'stream', 'Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.', '5.0.0', 'For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.', keys=KeySpec(1, -1, 1, ('RO', 'access'), keyword='STREAMS', keyword_from=4, limit=2), acl='@write @stream @slow @blocking', cross=COORD)
xgroup = _container('xgroup', 'stream', 'A container for consumer groups commands.', '5.0.0', route=SINGLE)
_add('create', -5, 'write denyoom', 'stream', 'Creates a consumer group.', '5.0.0', 'O(1)', keys=KeySpec(2, 2, 1, ('RW', 'insert')), parent=xgroup)
_add('createconsumer', 5, 'write denyoom', 'stream', 'Creates a consumer in a consumer group.', '6.2.0', 'O(1)', keys=KeySpec(2, 2, 1, ('RW', 'insert')), parent=xgroup)
_add('delconsumer', 5, 'write', 'stream', 'Deletes a consumer from a consumer group.', '5.0.0', 'O(1)', keys=KeySpec(2, 2, 1, ('RW', 'delete')), parent=xgroup)
_add('destroy', 4, 'write', 'stream', 'Destroys a consumer group.', '5.0.0', "O(N) where N is the number of entries in the group's pending entries list (PEL).", keys=KeySpec(2, 2, 1, ('RW', 'delete')), parent=xgroup)
_add('help', 2, 'loading stale', 'stream', 'Returns helpful text about the different subcommands.', '5.0.0', 'O(1)', route=FRONT, parent=xgroup)
_add('setid', -5, 'write', 'stream', 'Sets the last-delivered ID of a consumer group.', '5.0.0', 'O(1)', keys=KeySpec(2, 2, 1, ('RW', 'update')), parent=xgroup)
_add('xack', -4, 'write fast', 'stream', 'Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.', '5.0.0', 'O(1) for each message ID processed.', keys=KeySpec(1, 1, 1, ('RW', 'update')))
_add('xpending', -3, 'readonly', 'stream', "Returns the information and entries from a stream consumer group's pending entries list.", '5.0.0', 'O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.', keys=KeySpec(1, 1, 1, ('RO', 'access')), tips=('nondeterministic_output',))
_add('xclaim', -6, 'write fast', 'stream', 'Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered to a consumer group member.', '5.0.0', 'O(log N) with N being the number of messages in the PEL of the consumer group.', keys=KeySpec(1, 1, 1, ('RW', 'update')), tips=('nondeterministic_output',))
_add('xautoclaim', -6, 'write fast', 'stream', 'Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to a consumer group member.', '6.2.0', 'O(1) if COUNT is small.', keys=KeySpec(1, 1, 1, ('RW', 'delete')), tips=('nondeterministic_output',))
xinfo = _container('xinfo', 'stream', 'A container for stream introspection commands.', '5.0.0', route=SINGLE)
_add('consumers', 4, 'readonly', 'stream', 'Returns a list of the consumers in a consumer group.', '5.0.0', 'O(1)', keys=KeySpec(2, 2, 1, ('RO', 'access')), tips=('nondeterministic_output',), parent=xinfo)
_add('groups', 3, 'readonly', 'stream', 'Returns a list of the consumer groups of a stream.', '5.0.0', 'O(1)', keys=KeySpec(2, 2, 1, ('RO', 'access')), parent=xinfo)
_add('help', 2, 'loading stale', 'stream', 'Returns helpful text about the different subcommands.', '5.0.0', 'O(1)', route=FRONT, parent=xinfo)
_add('stream', -3, 'readonly', 'stream', 'Returns information about a stream.', '5.0.0', 'O(1)', keys=KeySpec(2, 2, 1, ('RO', 'access')), parent=xinfo)
_add('xsetid', -3, 'write denyoom fast', 'stream', 'An internal command for replicating stream values.', '5.0.0', 'O(1)', keys=KeySpec(1, 1, 1, ('RW', 'update')))
