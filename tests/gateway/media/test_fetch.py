"""Image URLs: refused where they could reach the server's own network, fetched where the policy allows.

Every server here listens on 127.0.0.1; host names are pointed at it by patching the resolver.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest

from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.media.fetch import FetchPolicy, MediaFetcher, MediaURLNotAllowed, is_public_address
from tests.images import encode, make_image
from tests.servers import MediaServer, media_server

PARAM = "messages[0].content[0].image_url.url"
PNG = encode(make_image(40, 30, seed=1))


@pytest.fixture
def server() -> Iterator[MediaServer]:
    with media_server() as running:
        running.routes["/scan.png"] = (200, {"Content-Type": "image/png"}, PNG)
        yield running


async def local_resolver(host: str, port: int) -> list[str]:
    # Every test host name "resolves" to the local test server.
    return ["127.0.0.1"]


def fetch(url: str, policy: FetchPolicy, resolver: object = local_resolver) -> tuple[str, bytes]:
    async def run() -> tuple[str, bytes]:
        fetcher = MediaFetcher(policy, resolver=resolver)  # type: ignore[arg-type]
        try:
            return await fetcher.fetch(url, param=PARAM)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


BLOCKED_ADDRESSES = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "2002:7f00:1::",
    "2001:db8::1",
    "ff02::1",
]


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "0"])
def test_urls_with_internal_address_literals_are_refused_without_detail(address: str) -> None:
    with pytest.raises(MediaURLNotAllowed) as caught:
        fetch(f"http://{address}:9/x.png", FetchPolicy(), resolver=_real_resolver())
    assert caught.value.message == "image URL not allowed" and caught.value.param == PARAM


def _real_resolver() -> object:
    from gateway.media.fetch import resolve_host

    return resolve_host


def test_a_local_server_is_refused_by_default(server: MediaServer) -> None:
    with pytest.raises(MediaURLNotAllowed):
        fetch(f"{server.base_url}/scan.png", FetchPolicy())
    assert server.hits == []


def test_a_host_name_that_resolves_to_loopback_is_refused(server: MediaServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    with pytest.raises(MediaURLNotAllowed):
        fetch(f"http://images.example.test:{port}/scan.png", FetchPolicy())
    assert server.hits == []


def test_localhost_is_refused_with_the_system_resolver(server: MediaServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    with pytest.raises(MediaURLNotAllowed):
        fetch(f"http://localhost:{port}/scan.png", FetchPolicy(), resolver=_real_resolver())
    assert server.hits == []


def test_allowed_private_media_is_fetched_with_the_host_name_kept(server: MediaServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    content_type, body = fetch(f"http://images.example.test:{port}/scan.png", FetchPolicy(allow_private=True))
    assert (content_type, body) == ("image/png", PNG)
    assert server.hits == ["/scan.png"]


def test_redirects_are_followed_and_each_hop_is_checked_again(server: MediaServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    server.routes["/hop"] = (302, {"Location": f"http://cdn.example.test:{port}/scan.png"}, b"")
    server.routes["/to-elsewhere"] = (302, {"Location": f"http://evil.example.test:{port}/scan.png"}, b"")
    policy = FetchPolicy(allow_private=True, allowed_domains=("example.test",))
    assert fetch(f"http://a.example.test:{port}/hop", policy)[1] == PNG
    narrow = FetchPolicy(allow_private=True, allowed_domains=("a.example.test",))
    with pytest.raises(MediaURLNotAllowed):
        fetch(f"http://a.example.test:{port}/to-elsewhere", narrow)
    assert server.hits.count("/scan.png") == 1  # the refused hop was never requested


def test_more_than_three_redirects_are_refused(server: MediaServer) -> None:
    for hop in range(5):
        server.routes[f"/r{hop}"] = (302, {"Location": f"/r{hop + 1}"}, b"")
    with pytest.raises(InvalidRequest, match="redirects"):
        fetch(f"{server.base_url}/r0", FetchPolicy(allow_private=True))


def test_domain_allow_list_refuses_other_hosts(server: MediaServer) -> None:
    with pytest.raises(MediaURLNotAllowed):
        fetch(f"{server.base_url}/scan.png", FetchPolicy(allow_private=True, allowed_domains=("example.test",)))


def test_bodies_over_the_cap_are_413(server: MediaServer) -> None:
    server.routes["/big.png"] = (200, {"Content-Type": "image/png"}, b"x" * 5000)
    with pytest.raises(PayloadTooLarge):
        fetch(f"{server.base_url}/big.png", FetchPolicy(allow_private=True, max_bytes=1000))


def test_slow_servers_hit_the_total_timeout(server: MediaServer) -> None:
    with pytest.raises(InvalidRequest, match="too long"):
        fetch(f"{server.base_url}/slow", FetchPolicy(allow_private=True, total_timeout=1.0))


def test_http_errors_are_400(server: MediaServer) -> None:
    with pytest.raises(InvalidRequest, match="HTTP 404"):
        fetch(f"{server.base_url}/missing.png", FetchPolicy(allow_private=True))


@pytest.mark.parametrize("url", ["ftp://example.test/a.png", "gopher://example.test/", "http:///nohost"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest):
        fetch(url, FetchPolicy(allow_private=True))


@pytest.mark.parametrize("address", ["64:ff9b:1::a00:1", "::7f00:1", "::ffff:0:a00:1", "fec0::1"])
def test_other_ipv6_wrappers_of_private_space_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


def test_compressed_bodies_are_refused_before_inflating(server: MediaServer) -> None:
    import gzip

    bomb = gzip.compress(b"\x00" * 50_000_000)
    server.routes["/bomb.png"] = (200, {"Content-Type": "image/png", "Content-Encoding": "gzip"}, bomb)
    with pytest.raises(InvalidRequest, match="compressed"):
        fetch(f"{server.base_url}/bomb.png", FetchPolicy(allow_private=True))


def test_a_malformed_redirect_is_400(server: MediaServer) -> None:
    server.routes["/bad-redirect"] = (302, {"Location": "http://[::1"}, b"")
    with pytest.raises(InvalidRequest):
        fetch(f"{server.base_url}/bad-redirect", FetchPolicy(allow_private=True))


def test_international_host_names_are_fetched_by_their_ascii_form(server: MediaServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    assert fetch(f"http://bücher.example.test:{port}/scan.png", FetchPolicy(allow_private=True))[1] == PNG
