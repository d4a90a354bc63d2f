"""Where a webhook may connect: public addresses only, checked before any socket opens.

A webhook URL is tenant-controlled input, and the function runs next to the
metadata server and a VPC, so every call is vetted here first:

- scheme https; http only for hosts the operator allow-listed
  (`ALLOWED_PRIVATE_HOSTS`, matched against the URL's host as written);
- no credentials in the URL (secrets belong in the secrets backend);
- the host is read the way the C resolver would (`inet_aton` accepts
  `2130706433`, `0x7f000001`, `017700000001` and `127.1` as 127.0.0.1), so a
  spelled-differently literal is still recognised;
- names are resolved once and every address must be public (not loopback,
  private, link-local incl. 169.254.169.254, shared, unspecified, multicast or
  reserved; IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the IPv4
  address they carry); metadata host names are refused by name;
- the caller then connects to exactly these addresses (`Target.addresses`),
  never resolving again, so DNS rebinding cannot swap in a private address.

Allow-listed hosts skip the address check (that is the point of the list)
but are still resolved once and pinned.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "localhost"})
BLOCKED_SUFFIXES = (".internal", ".localhost")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_INET_ATON_CHARS = re.compile(r"^[0-9a-fA-FxX.]+$")


class Refused(Exception):
    """The URL may not be called; the message says why (and is safe to show the model)."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written in the URL, lower-cased, without brackets or a trailing dot
    port: int
    allow_listed: bool
    addresses: tuple[tuple[int, str], ...] = ()  # (family, ip) the caller must connect to


def normalize_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def literal_ip(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, in any spelling a resolver accepts."""
    host = normalize_host(host)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _INET_ATON_CHARS.match(host) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public(ip.sixtofour):
            return False
        if ip.scope_id:
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def parse(url: str, allowed_hosts: tuple[str, ...]) -> Target:
    """Check everything that can be checked without the network."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"invalid URL ({exc})") from None
    scheme = parts.scheme.lower()
    host = normalize_host(parts.hostname or "")
    if not host:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials in the URL are not allowed; use the tool's credential")
    allow_listed = host in {normalize_host(h) for h in allowed_hosts}
    if scheme != "https" and not (scheme == "http" and allow_listed):
        raise Refused(f"only https URLs may be called (got {scheme or 'no scheme'})")
    if not allow_listed:
        ip = literal_ip(host)
        if ip is not None and not is_public(ip):
            raise Refused(f"the address {ip} is not public")
        if ip is None and (host in BLOCKED_NAMES or host.endswith(BLOCKED_SUFFIXES)):
            raise Refused(f"the host {host} is internal")
    return Target(url, scheme, host, port or (443 if scheme == "https" else 80), allow_listed)


async def resolve(target: Target) -> Target:
    """Resolve once; refuse when any address is not public (unless allow-listed)."""
    ip = literal_ip(target.host)
    if ip is not None:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        addresses: tuple[tuple[int, str], ...] = ((family, str(ip)),)
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except OSError as exc:
            raise Refused(f"cannot resolve {target.host} ({exc.strerror or exc})") from None
        seen: dict[str, int] = {}
        for family, _, _, _, sockaddr in infos:
            seen.setdefault(str(sockaddr[0]), int(family))
        addresses = tuple((family, host) for host, family in seen.items())
    if not addresses:
        raise Refused(f"{target.host} has no address")
    if not target.allow_listed:
        for _, host in addresses:
            if not is_public(ipaddress.ip_address(host)):
                raise Refused(f"{target.host} resolves to {host}, which is not public")
    return Target(target.url, target.scheme, target.host, target.port, target.allow_listed, addresses)


async def vet(url: str, allowed_hosts: tuple[str, ...]) -> Target:
    return await resolve(parse(url, allowed_hosts))
