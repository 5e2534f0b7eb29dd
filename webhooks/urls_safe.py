"""The SSRF check: a webhook URL must be http(s) and resolve only to public addresses.

Checked when an endpoint is saved (the API answers 400, the admin form refuses) and again at
every delivery, where the worker connects to the very address it checked (`resolve`), so a
name that resolves to a public address at save time and to 169.254.169.254 later (DNS
rebinding) is refused then too. Loopback, link-local, private (RFC 1918, ULA), carrier-grade
NAT, multicast, reserved and unspecified addresses are refused — everything that is not
globally routable, IPv4-mapped IPv6 included — unless `WEBHOOKS_ALLOW_PRIVATE=1` (tests,
or an installation whose CRM lives on its own network).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeURL(ValueError):
    """The URL may not be called; the message says why (shown to the user)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (the Host header and TLS name)
    port: int
    address: str  # the checked IP address to connect to
    path: str  # path and query


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or UnsafeURL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("Enter a valid URL.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("Only http:// and https:// URLs with a host name can receive webhooks.")
    if parts.username or parts.password:
        raise UnsafeURL("Put no user name or password in the URL; verify the signature instead.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


def addresses_of(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal: itself), or UnsafeURL."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"The host {host} does not resolve.") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_addresses(host: str, addresses: list[str]) -> None:
    if getattr(settings, "WEBHOOKS_ALLOW_PRIVATE", False):
        return
    for value in addresses:
        if not _public(ipaddress.ip_address(value.split("%")[0])):
            what = f"{value} is" if host.strip("[]") == value else f"{host} resolves to {value},"
            raise UnsafeURL(
                f"{what} a loopback, link-local or private address: webhooks go only to public addresses "
                "(WEBHOOKS_ALLOW_PRIVATE=1 allows them)."
            )


def resolve(url: str) -> Target:
    """The URL's target with a checked address to connect to, or UnsafeURL. Every address
    the name resolves to must pass, not just the first (a resolver may rotate them)."""
    scheme, host, port, path = parse(url)
    addresses = addresses_of(host, port)
    check_addresses(host, addresses)
    return Target(scheme=scheme, host=host, port=port, address=addresses[0], path=path)


def check(url: str) -> None:
    """Raise UnsafeURL when `url` may not receive webhooks (endpoint save)."""
    resolve(url)
