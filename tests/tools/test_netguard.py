"""URL vetting for webhooks: every spelling of an internal address is refused before connecting."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from common.tools import netguard
from common.tools.netguard import Refused, is_public, literal_ip, parse


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("169.254.169.254.", "169.254.169.254"),
        ("example.com", None),
        ("cafe.de", None),
        ("deadbeef", None),
        ("1.2.3.4.5", None),
    ],
)
def test_literal_ip_reads_hosts_like_the_c_resolver(host, ip):
    found = literal_ip(host)
    assert (str(found) if found else None) == ip


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",  # shared address space (carrier NAT)
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
    ],
)
def test_internal_addresses_are_not_public(ip):
    assert not is_public(ipaddress.ip_address(ip))


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_public(ip):
    assert is_public(ipaddress.ip_address(ip))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "only https"),
        ("ftp://example.com/hook", "only https"),
        ("example.com/hook", "no host"),
        ("https://user:pw@example.com/hook", "credentials in the URL"),
        ("https://127.0.0.1/hook", "not public"),
        ("https://10.0.0.1/hook", "not public"),
        ("https://169.254.169.254/computeMetadata/v1/", "not public"),
        ("https://2130706433/", "not public"),
        ("https://0x7f000001/", "not public"),
        ("https://017700000001/", "not public"),
        ("https://127.1/", "not public"),
        ("https://[::1]/", "not public"),
        ("https://[::ffff:10.0.0.1]/", "not public"),
        ("https://metadata.google.internal/computeMetadata/v1/", "internal"),
        ("https://METADATA.GOOGLE.INTERNAL./", "internal"),
        ("https://localhost/", "internal"),
        ("https://api.localhost/", "internal"),
        ("https://example.com:99999/", "invalid URL"),
    ],
)
def test_parse_refuses_without_any_lookup(url, reason, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    with pytest.raises(Refused, match=reason):
        parse(url, allowed_hosts=())


def test_allow_list_permits_http_and_private_for_that_exact_host_only():
    target = parse("http://LocalHost:8080/hook", allowed_hosts=("localhost",))
    assert (target.scheme, target.host, target.port, target.allow_listed) == ("http", "localhost", 8080, True)
    with pytest.raises(Refused, match="only https"):
        parse("http://127.0.0.1:8080/hook", allowed_hosts=("localhost",))
    with pytest.raises(Refused, match="not public"):
        parse("https://2130706433/", allowed_hosts=("127.0.0.1",))


async def test_a_name_resolving_to_any_private_address_is_refused(monkeypatch):
    async def fake_getaddrinfo(host, port, **kw):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    import asyncio

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(Refused, match=r"resolves to 10\.1\.2\.3"):
        await netguard.vet("https://rebind.example/hook", allowed_hosts=())


async def test_public_names_are_pinned_to_the_checked_addresses(monkeypatch):
    import asyncio

    async def fake_getaddrinfo(host, port, **kw):
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    target = await netguard.vet("https://hooks.example/x", allowed_hosts=())
    assert target.addresses == ((socket.AF_INET6, "2606:4700::1"), (socket.AF_INET, "93.184.215.14"))


def _no_network(*args, **kwargs):
    raise AssertionError("no DNS lookup may happen for a URL refused by its shape")


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/",
        "https://0x7f000001/",
        "https://127.1/",
        "https://[::127.0.0.1]/",
        "https://metadata/",
        "https://LOCALHOST./",
    ],
)
def test_write_time_and_call_time_use_one_guard(url, monkeypatch):
    """Issue #9 item 10: what `parse` refuses at call time, the admin API refuses at write time."""
    from common.admin.records.integrity import check_webhook_url
    from common.errors import ValidationFailed
    from common.settings import get_settings

    monkeypatch.setenv("ALLOWED_PRIVATE_HOSTS", "")
    get_settings.cache_clear()
    try:
        with pytest.raises(Refused) as refused:
            parse(url, get_settings().allowed_private_hosts)
        with pytest.raises(ValidationFailed) as failed:
            check_webhook_url("url", url)
        assert failed.value.field == "url" and str(refused.value) in failed.value.message
    finally:
        get_settings.cache_clear()
