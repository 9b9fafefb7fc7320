"""Routing over upstream replicas: image affinity by rendezvous hashing, bounded load, least outstanding."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from adapters.errors import EngineDown
from adapters.upstream_pool import ReplicaPool, base_url
from gateway.errors import from_engine_error


def healthy_pool(count: int) -> ReplicaPool:
    pool = ReplicaPool([f"http://gpu-{index}:8000/v1" for index in range(count)])
    for replica in pool.replicas:
        replica.healthy = True
    return pool


def key(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=16).digest()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://gpu-1:8000/v1", "http://gpu-1:8000/v1"),
        ("http://gpu-1:8000/v1/", "http://gpu-1:8000/v1"),
        ("http://gpu-1:8000", "http://gpu-1:8000/v1"),
    ],
)
def test_urls_are_taken_as_openai_base_urls(given: str, expected: str) -> None:
    assert base_url(given) == expected


def test_the_same_image_always_goes_to_the_same_replica() -> None:
    pool = healthy_pool(4)
    assert len({pool.choose(key("invoice.png"), []).base_url for _ in range(20)}) == 1


def test_images_spread_over_all_replicas() -> None:
    pool = healthy_pool(4)
    counts = Counter(pool.choose(key(f"image-{index}"), []).base_url for index in range(400))
    assert len(counts) == 4 and min(counts.values()) > 60


def test_losing_a_replica_moves_only_the_images_it_served() -> None:
    pool = healthy_pool(4)
    before = {index: pool.choose(key(f"image-{index}"), []) for index in range(200)}
    lost = pool.replicas[2]
    lost.healthy = False
    after = {index: pool.choose(key(f"image-{index}"), []) for index in range(200)}
    moved = [index for index in before if before[index] is not after[index]]
    assert moved and all(before[index] is lost for index in moved)


def test_a_replica_far_above_its_share_of_requests_hands_its_images_to_the_next() -> None:
    pool = healthy_pool(2)
    preferred = pool.choose(key("page"), [])
    preferred.outstanding = 3
    assert pool.choose(key("page"), []) is not preferred
    preferred.outstanding = 1
    assert pool.choose(key("page"), []) is preferred


def test_requests_without_an_image_go_to_the_least_busy_replica() -> None:
    pool = healthy_pool(3)
    pool.replicas[0].outstanding, pool.replicas[1].outstanding, pool.replicas[2].outstanding = 2, 0, 1
    assert pool.choose(None, []) is pool.replicas[1]


def test_a_retry_goes_to_a_replica_not_yet_tried_while_one_is_left() -> None:
    pool = healthy_pool(2)
    first = pool.choose(key("page"), [])
    second = pool.choose(key("page"), [first])
    assert second is not first
    assert pool.choose(key("page"), [first, second]) in (first, second)


def test_no_healthy_replica_is_a_503_to_retry_in_five_seconds() -> None:
    pool = healthy_pool(2)
    for replica in pool.replicas:
        replica.healthy = False
    with pytest.raises(EngineDown) as raised:
        pool.choose(None, [])
    client_error = from_engine_error(raised.value)
    assert (client_error.status_code, client_error.headers) == (503, {"Retry-After": "5"})
