"""The namespaced cluster's names and addresses, and `labkit chaos`'s arguments: pure logic, no servers."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from labkit.cli.chaos import link_end_arg, node_arg, seconds_arg
from labkit.cluster.network import CLIENTS, BrokerNetwork, describe_link

pytestmark = pytest.mark.unit


def test_each_home_gets_its_own_names_within_linux_limits() -> None:
    learner, tests = BrokerNetwork.for_home(Path("/work/.labkit")), BrokerNetwork.for_home(Path("/work/.labkit/test"))
    assert learner.tag != tests.tag and learner == BrokerNetwork.for_home(Path("/work/.labkit"))
    for net in (learner, tests):
        names = [net.bridge, *(net.host_link(n) for n in range(1, 10))]
        assert all(len(name) <= 15 for name in names), names  # IFNAMSIZ - 1
        assert 1 <= net.subnet <= 250
        assert net.address(3) == f"10.213.{net.subnet}.3" and net.clients_address == f"10.213.{net.subnet}.254"
        assert net.run_in(2) == ["ip", "netns", "exec", net.namespace(2)]


def test_addresses_map_back_to_their_ends() -> None:
    net = BrokerNetwork(tag="abcdef", subnet=7)
    assert net.node_of("10.213.7.2") == 2
    assert net.node_of("10.213.7.254") == CLIENTS
    assert net.node_of("10.213.8.2") is None and net.node_of("fe80::1") is None
    assert describe_link(frozenset((3, 1))) == "broker 1 ↔ broker 3"
    assert describe_link(frozenset((CLIENTS, 2))) == "broker 2 ↔ clients"


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (node_arg, "0", "a broker is its node id, an integer from 1 to 9, got '0'"),
        (link_end_arg, "everyone", "a link's end is a broker's node id or 'clients', got 'everyone'"),
        (seconds_arg, "soon", "--for takes seconds above 0 and up to 3600, got 'soon'"),
        (seconds_arg, "0", "--for takes seconds above 0 and up to 3600, got '0'"),
    ],
)
def test_bad_chaos_arguments_name_what_is_allowed(parse: object, value: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(")):
        parse(value)  # type: ignore[operator]
    assert link_end_arg("clients") == CLIENTS and node_arg("3") == 3 and seconds_arg("2.5") == 2.5
