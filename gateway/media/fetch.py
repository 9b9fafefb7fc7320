"""Fetching image URLs without SSRF: one guarded outbound client.

Only http/https; the host is resolved here and every address it resolves to
must be public (not loopback, private, link-local, multicast, reserved, shared,
nor an IPv4-mapped/NAT64/6to4 form of those); the connection goes to the
address that was checked (no DNS rebinding) with the original name kept for
``Host`` and TLS; every redirect is checked again (at most 3); connect and total
time and the body size are capped. A refused URL gets "image URL not allowed"
and nothing more.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from gateway.errors import InvalidRequest, PayloadTooLarge

MAX_REDIRECTS = 3
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class MediaURLNotAllowed(InvalidRequest):
    """The URL points somewhere the gateway must not go."""

    def __init__(self, param: str | None) -> None:
        super().__init__("image URL not allowed", param=param)


@dataclass(frozen=True)
class FetchPolicy:
    remote_media: bool = True
    allowed_domains: tuple[str, ...] = ()  # empty: any public host
    allow_private: bool = False  # on-prem: allow hosts on private networks
    max_bytes: int = 20 * 2**20
    connect_timeout: float = 5.0
    total_timeout: float = 20.0


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses, looking through IPv6 wrappers of IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address in NAT64_PREFIX:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return is_public_address(address.sixtofour)
        if address.teredo is not None or address not in GLOBAL_UNICAST_V6:
            return False  # also local-use NAT64, IPv4-compatible and site-local forms
    return address.is_global and not address.is_multicast


class MediaFetcher:
    """Downloads images for ``image_url`` parts under a :class:`FetchPolicy`."""

    def __init__(self, policy: FetchPolicy, resolver: Resolver = resolve_host) -> None:
        self._policy = policy
        self._resolve = resolver
        # trust_env=False: an environment proxy would connect on our behalf and undo the address check.
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
            headers={"User-Agent": "hunyuan-ocr-gateway"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, *, param: str) -> tuple[str, bytes]:
        """The body and content type at ``url``, following checked redirects."""
        if not self._policy.remote_media:
            raise InvalidRequest("This server does not fetch image URLs; send the image as a data: URL.", param=param)
        try:
            async with asyncio.timeout(self._policy.total_timeout):
                return await self._follow(url, param)
        except TimeoutError:
            raise InvalidRequest("The image URL took too long to download.", param=param) from None
        except (httpx.HTTPError, httpx.InvalidURL):  # InvalidURL: a redirect to a malformed location
            raise InvalidRequest("The image URL could not be fetched.", param=param) from None

    async def _follow(self, url: str, param: str) -> tuple[str, bytes]:
        for _ in range(MAX_REDIRECTS + 1):
            target = await self._checked_target(url, param)
            headers = {"Host": target.host_header, "Accept-Encoding": "identity"}
            async with self._client.stream(
                "GET", target.url, headers=headers, extensions={"sni_hostname": target.host}
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = str(httpx.URL(url).join(response.headers["location"]))
                    continue
                if response.status_code != 200:
                    raise InvalidRequest(
                        f"The image URL could not be fetched (HTTP {response.status_code}).", param=param
                    )
                return response.headers.get("content-type", ""), await self._read_capped(response, param)
        raise InvalidRequest("The image URL redirects too often.", param=param)

    async def _checked_target(self, url: str, param: str) -> _Target:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise InvalidRequest("The image URL is not a valid URL.", param=param) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise MediaURLNotAllowed(param)
        host = parsed.raw_host.decode("ascii")  # IDNA form: what DNS, Host and TLS use
        if self._policy.allowed_domains and not _domain_allowed(host, self._policy.allowed_domains):
            raise MediaURLNotAllowed(param)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(literal) for literal in await self._resolve(host, port)]
        except (OSError, ValueError):
            raise InvalidRequest("The image URL's host could not be resolved.", param=param) from None
        if not addresses or not all(self._address_allowed(address) for address in addresses):
            raise MediaURLNotAllowed(param)
        pinned = f"[{addresses[0]}]" if addresses[0].version == 6 else str(addresses[0])
        netloc = host if parsed.port is None else f"{host}:{parsed.port}"  # ASCII, as a header must be
        return _Target(url=str(parsed.copy_with(host=pinned)), host=host, host_header=netloc)

    def _address_allowed(self, address: IPAddress) -> bool:
        if is_public_address(address):
            return True
        return self._policy.allow_private and not (address.is_multicast or address.is_unspecified)

    async def _read_capped(self, response: httpx.Response, param: str) -> bytes:
        # Raw bytes only: a "Content-Encoding: gzip" body would be inflated before any size check (a bomb).
        if response.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
            raise InvalidRequest(
                "The image URL's server sent a compressed body; images must come as they are.", param=param
            )
        limit = self._policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The image at the URL is larger than {limit} bytes.", param=param)
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"The image at the URL is larger than {limit} bytes.", param=param)
        return bytes(body)


@dataclass(frozen=True)
class _Target:
    url: str  # with the checked address in place of the host name
    host: str
    host_header: str


def _domain_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in allowed)
