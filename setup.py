"""Build hook for the optional C request parser; all metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # optional: without a compiler the pure-Python parser and key_slot are used
        Extension("shardserver._speedups", ["shardserver/_speedups.c"], optional=True, extra_compile_args=["-O2"]),
        # optional: without it the front's Python twins route and write every read
        Extension("shardserver.front._fastpath", ["shardserver/front/_fastpath.c"], optional=True, extra_compile_args=["-O2"]),
        # optional: without it loading a snapshot builds each value with its type's from_state
        Extension("shardserver.shard.types._build", ["shardserver/shard/types/_build.c"], optional=True, extra_compile_args=["-O2"]),
        # optional: without it the pure-Python HyperLogLog (same results, slower) is used
        Extension("shardserver._hll", ["shardserver/_hll.c"], optional=True, extra_compile_args=["-O2"]),
        # optional: without it every ring write rings the doorbell
        Extension("ipc._fence", ["ipc/_fence.c"], optional=True),
    ]
)
