"""Build hook for the optional C request parser; all metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # optional: without a compiler the pure-Python parser is used instead
        Extension("shardserver._respparser", ["shardserver/_respparser.c"], optional=True, extra_compile_args=["-O2"]),
    ]
)
