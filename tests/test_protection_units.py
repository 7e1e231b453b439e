"""The protection mechanisms on their own, without a server or a database: token bucket arithmetic,
rates, client addresses behind proxies, entity-tag comparison, invalidation groups, JSON limits."""

from __future__ import annotations

import os

import pytest
from aiohttp.test_utils import make_mocked_request

from engine.features.input_limits.plugin import InputLimits
from engine.features.query_cache.store import invalidation_groups
from engine.features.rate_limit.buckets import MemoryBuckets
from engine.features.rate_limit.rates import parse_rate
from engine.http.client_ip import ClientAddress, parse_networks
from engine.http.etag import entity_tag, none_match
from engine.kernel.errors import ConfigurationError
from engine.spec import load_spec

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_full_bucket_lets_a_burst_through_then_refuses():
    buckets, rate = MemoryBuckets(clock=Clock()), parse_rate("3/minute", "test")
    decisions = [await buckets.take("alice", rate) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]


async def test_a_refusal_says_when_the_next_token_arrives():
    buckets, rate = MemoryBuckets(clock=Clock()), parse_rate("3/minute", "test")
    for _ in range(3):
        await buckets.take("alice", rate)
    refused = await buckets.take("alice", rate)
    assert (refused.retry_after, refused.reset) == (20, 60)


async def test_a_bucket_refills_evenly_over_the_period():
    clock = Clock()
    buckets, rate = MemoryBuckets(clock=clock), parse_rate("3/minute", "test")
    for _ in range(3):
        await buckets.take("alice", rate)
    clock.now += 20
    assert (await buckets.take("alice", rate)).allowed
    assert not (await buckets.take("alice", rate)).allowed


async def test_buckets_of_different_keys_are_independent():
    buckets, rate = MemoryBuckets(clock=Clock()), parse_rate("1/hour", "test")
    assert (await buckets.take("alice", rate)).allowed
    assert (await buckets.take("bob", rate)).allowed


@pytest.mark.parametrize("text", ["100/minute", "1/second", "5/hour", "20/day"])
def test_rates_name_a_count_and_a_period(text):
    assert parse_rate(text, "test").text == text


def test_off_means_no_limit():
    assert parse_rate("off", "test") is None


@pytest.mark.parametrize("text", ["100", "0/minute", "ten/minute", "100/fortnight", "-1/second"])
def test_a_malformed_rate_names_its_setting(text):
    with pytest.raises(ConfigurationError, match="ENGINE_RATE_LIMIT must look like 100/minute"):
        parse_rate(text, "ENGINE_RATE_LIMIT")


class Peer:
    """The socket a request arrived on, as aiohttp asks it for the remote address."""

    def __init__(self, address: str):
        self.address = address

    def get_extra_info(self, name: str, default=None):
        return (self.address, 40000) if name == "peername" else default


def request_from(peer: str, forwarded: str | None = None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return make_mocked_request("GET", "/", headers=headers, transport=Peer(peer))


def test_without_trusted_proxies_the_peer_is_the_client():
    assert ClientAddress().of(request_from("198.51.100.1", "203.0.113.9")) == "198.51.100.1"


def test_behind_a_trusted_proxy_the_forwarded_client_counts():
    client = ClientAddress(parse_networks(["10.0.0.0/8"], "test"))
    assert client.of(request_from("10.0.0.2", "203.0.113.9")) == "203.0.113.9"


def test_forwarded_addresses_from_an_untrusted_peer_are_ignored():
    client = ClientAddress(parse_networks(["10.0.0.0/8"], "test"))
    assert client.of(request_from("198.51.100.1", "203.0.113.9")) == "198.51.100.1"


def test_the_client_is_the_right_most_untrusted_hop():
    client = ClientAddress(parse_networks(["10.0.0.0/8"], "test"))
    assert client.of(request_from("10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.7")) == "203.0.113.9"


def test_a_malformed_proxy_entry_names_its_setting():
    with pytest.raises(ConfigurationError, match="ENGINE_TRUSTED_PROXIES"):
        parse_networks(["not-an-address"], "ENGINE_TRUSTED_PROXIES")


def test_entity_tags_ignore_key_order():
    assert entity_tag({"data": {"a": 1, "b": 2}}) == entity_tag({"data": {"b": 2, "a": 1}})


def test_if_none_match_compares_weakly_and_accepts_lists_and_star():
    tag = entity_tag({"data": 1})
    assert none_match(f'"other", W/{tag}', tag)
    assert none_match("*", tag)
    assert not none_match('"other"', tag)


def test_resources_tied_by_references_share_an_invalidation_group():
    groups = invalidation_groups(load_spec(SPEC))
    assert groups["notes"] == groups["tags"] == groups["note_tags"]
    assert len({groups["notes"], groups["pings"], groups["drafts"]}) == 3


def test_json_limits_name_every_place_with_a_json_pointer():
    limits = InputLimits(max_depth=3, max_array_items=2)
    found = list(limits.violations({"a/b": [1, 2, 3], "deep": {"x": {"y": {}}}}))
    assert sorted(v["path"] for v in found) == ["/a~1b", "/deep/x/y"]
