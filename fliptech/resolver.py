"""The DNS resolver of our own lookups (the pre-send checklist, the MX check of lead
addresses): dnspython's, with `DNS_NAMESERVERS` ("host[:port],…"; empty = the system's
/etc/resolv.conf) and `DNS_TIMEOUT` (seconds for one lookup, retries included)."""

import dns.nameserver
import dns.resolver
from django.conf import settings


def _nameserver(server: str) -> dns.nameserver.Do53Nameserver:
    """ "host" or "host:port" (an IPv6 address alone, or "[addr]:port")."""
    host, port = server.strip(), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = int(rest.lstrip(":") or 53)
    elif host.count(":") == 1:
        host, _, number = host.partition(":")
        port = int(number)
    return dns.nameserver.Do53Nameserver(host, port)


def resolver() -> dns.resolver.Resolver:
    """A fresh resolver (cheap; not shared between threads)."""
    servers = settings.DNS_NAMESERVERS
    try:
        res = dns.resolver.Resolver(configure=not servers)
    except dns.resolver.NoResolverConfiguration:  # no /etc/resolv.conf: every lookup fails fast
        res = dns.resolver.Resolver(configure=False)
    if servers:
        res.nameservers = [_nameserver(server) for server in servers]
    res.timeout = res.lifetime = settings.DNS_TIMEOUT
    return res


def txt_records(name: str, res=None) -> list[str] | None:
    """The TXT strings of `name` (each record's chunks joined); [] when the name or the type
    does not exist; None when DNS could not answer (timeout, no nameserver reachable)."""
    res = res or resolver()
    try:
        answer = res.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException:
        return None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
