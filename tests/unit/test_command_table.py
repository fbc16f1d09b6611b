"""The command table and the three handler registries agree with each other."""

from __future__ import annotations

import pytest

import shardserver.shard.worker  # noqa: F401  (registers every shard handler)
from shardserver.commands.table import (
    ALL,
    COORD,
    FRONT,
    SCAN,
    SINGLE,
    SPLIT,
    TABLE,
    Command,
    all_commands,
)
from shardserver.front.handlers import AGGREGATE, CROSS, HANDLERS
from shardserver.shard.registry import HANDLERS as SHARD_HANDLERS

COMMANDS = all_commands()
BY_NAME = {c.fullname: c for c in COMMANDS}


def _ids(cmds: list[Command]) -> list[str]:
    return [c.fullname for c in cmds]


def _needs_own_handler(cmd: Command) -> bool:
    """A container needs a handler of its own only if it may be called without a subcommand."""
    return not cmd.subcommands or cmd.arity in (1, -1)


def _public(names: object) -> list[str]:
    return sorted(n for n in names if not n.startswith("__"))  # type: ignore[attr-defined]


def test_table_is_not_empty_and_names_are_lowercase() -> None:
    assert len(TABLE) > 50
    for cmd in COMMANDS:
        assert cmd.name == cmd.name.lower(), cmd.fullname
        assert " " not in cmd.fullname
    for name, cmd in TABLE.items():
        assert name == cmd.name and cmd.container is None
        for sub_name, sub in cmd.subcommands.items():
            assert sub.name == sub_name and sub.container == name
            assert sub.fullname == f"{name}|{sub_name}"
            assert not sub.subcommands, "no nested containers"


@pytest.mark.parametrize("cmd", COMMANDS, ids=_ids(COMMANDS))
def test_route_and_cross_policy_are_known(cmd: Command) -> None:
    assert cmd.route in (FRONT, SINGLE, ALL, SCAN)
    assert cmd.cross in (None, SPLIT, COORD)
    if cmd.cross is not None:
        assert cmd.route is SINGLE, "only key commands can span shards"


@pytest.mark.parametrize("cmd", COMMANDS, ids=_ids(COMMANDS))
def test_every_command_has_its_handlers(cmd: Command) -> None:
    name = cmd.fullname
    if not _needs_own_handler(cmd):
        assert cmd.subcommands
        return
    if cmd.route is FRONT:
        assert name in HANDLERS, f"FRONT command {name} has no front handler"
    elif cmd.route is ALL:
        assert name in AGGREGATE, f"ALL command {name} has no aggregator"
        assert name in SHARD_HANDLERS, f"ALL command {name} has no shard handler"
    elif cmd.route in (SINGLE, SCAN):
        assert name in SHARD_HANDLERS, f"{cmd.route} command {name} has no shard handler"
    if cmd.cross is not None:
        assert name in CROSS, f"{name} (cross {cmd.cross}) has no cross-shard handler"


def test_every_front_handler_is_a_front_command() -> None:
    for name in _public(HANDLERS):
        assert name in BY_NAME, f"front handler {name} is not in the command table"
        assert BY_NAME[name].route is FRONT, f"front handler {name}: the table routes it {BY_NAME[name].route}"


def test_every_aggregator_is_an_all_command() -> None:
    for name in _public(AGGREGATE):
        assert name in BY_NAME, f"aggregator {name} is not in the command table"
        assert BY_NAME[name].route is ALL, f"aggregator {name}: the table routes it {BY_NAME[name].route}"


def test_every_cross_handler_has_a_cross_policy() -> None:
    for name in _public(CROSS):
        assert name in BY_NAME, f"cross handler {name} is not in the command table"
        assert BY_NAME[name].cross is not None, f"cross handler {name}: the table gives no cross policy"


def test_every_shard_handler_is_a_shard_command() -> None:
    for name in _public(SHARD_HANDLERS):
        assert name in BY_NAME, f"shard handler {name} is not in the command table"
        assert BY_NAME[name].route in (SINGLE, ALL, SCAN), f"shard handler {name}: the table routes it {BY_NAME[name].route}"


def test_internal_shard_commands_cannot_be_reached_by_clients() -> None:
    internal = [n for n in SHARD_HANDLERS if n.startswith("__")]
    assert internal, "the cross-shard steps use internal commands"
    for name in internal:
        assert name not in BY_NAME and name.split("|")[0] not in TABLE


@pytest.mark.parametrize("cmd", COMMANDS, ids=_ids(COMMANDS))
def test_arity_is_non_zero_and_counts_the_name(cmd: Command) -> None:
    assert cmd.arity != 0
    if cmd.container is not None:
        assert abs(cmd.arity) >= 2, "a subcommand's arity counts the container and the subcommand"
    if cmd.subcommands:
        assert cmd.arity < 0, "a container takes a variable number of arguments"


KEYED = [c for c in COMMANDS if c.keys is not None]


@pytest.mark.parametrize("cmd", KEYED, ids=_ids(KEYED))
def test_key_specs_are_within_arity(cmd: Command) -> None:
    ks = cmd.keys
    assert ks is not None
    n = abs(cmd.arity)  # the exact or the minimal number of arguments, name included
    assert ks.step >= 1
    assert 1 <= ks.first < n, f"first key at {ks.first} but {cmd.fullname} may have only {n} arguments"
    if ks.last >= 0:
        assert ks.first <= ks.last < n, f"last key at {ks.last} but {cmd.fullname} may have only {n} arguments"
    else:
        assert ks.last == -1 or cmd.arity < 0, "a key range counted from the end needs a variable arity"
    if cmd.arity > 0 and ks.last < 0:
        pytest.fail("fixed arity with an open key range")
    # the positions computed for the minimal call all exist
    argv = [cmd.fullname.encode()] + [b"x"] * (n - 1)
    if ks.keyword:  # keys after a keyword (XREAD ... STREAMS): the minimal call has it first
        argv[ks.keyword_from] = ks.keyword.encode()
    positions = cmd.key_positions(argv)
    assert positions and all(0 < p < n for p in positions)


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.route is SINGLE and not c.subcommands], ids=_ids([c for c in COMMANDS if c.route is SINGLE and not c.subcommands]))
def test_single_commands_have_keys_and_multi_key_ones_a_cross_policy(cmd: Command) -> None:
    if cmd.movable:  # keys after a key count: routed by every key spec, so it may span shards
        assert cmd.key_specs and cmd.route_keys is None
        assert cmd.cross is not None, f"{cmd.fullname} can name keys on several shards but has no cross policy"
        return
    assert cmd.keys is not None, f"SINGLE command {cmd.fullname} has no key to route by"
    multi = cmd.keys.last < 0 or cmd.keys.last > cmd.keys.first
    if multi:
        assert cmd.cross is not None, f"{cmd.fullname} can name keys on several shards but has no cross policy"
    else:
        assert cmd.cross is None


def test_front_routes_only_from_the_table() -> None:
    """Names the front registries know are exactly the table's, per route."""
    front_names = {c.fullname for c in COMMANDS if c.route is FRONT and _needs_own_handler(c)}
    all_names = {c.fullname for c in COMMANDS if c.route is ALL}
    cross_names = {c.fullname for c in COMMANDS if c.cross is not None}
    assert set(_public(HANDLERS)) == front_names
    assert set(_public(AGGREGATE)) == all_names
    assert set(_public(CROSS)) == cross_names


def test_movable_key_positions_follow_the_key_count() -> None:
    zunionstore = BY_NAME["zunionstore"]
    argv = [b"zunionstore", b"dst", b"2", b"a", b"b", b"weights", b"1", b"2"]
    assert zunionstore.key_positions(argv) == [1, 3, 4]
    assert BY_NAME["zunion"].key_positions([b"zunion", b"3", b"a", b"b"]) == [2, 3]  # too few: what exists
    assert BY_NAME["zunion"].key_positions([b"zunion", b"x", b"a"]) == []  # a bad count: the shard answers the error
    assert BY_NAME["zmpop"].key_positions([b"zmpop", b"2", b"a", b"b", b"min"]) == [2, 3]
    assert BY_NAME["sintercard"].key_positions([b"sintercard", b"1", b"a", b"limit", b"1"]) == [2]


def test_arity_is_exact_when_positive_and_a_minimum_when_negative() -> None:
    from shardserver.commands.table import all_commands

    specs = {c.fullname: c for c in all_commands()}
    get, mset, setid = specs["get"], specs["mset"], specs["xgroup|setid"]
    assert (get.arity, mset.arity) == (2, -3)
    assert get.accepts(2) and not get.accepts(1) and not get.accepts(3)
    assert mset.accepts(3) and mset.accepts(5) and not mset.accepts(2)
    assert setid.accepts(-setid.arity) and not setid.accepts(-setid.arity - 1)
