"""Is a pixel hit or a click a person, or a machine acting on the message?

Rules (see docs/tracking.md for the reasoning), applied in order:

1. ``HEAD`` requests are machines (the view passes ``method``): people's mail clients GET.
2. Gmail's image proxy (``GoogleImageProxy`` / ``ggpht.com``) is a PERSON: Gmail fetches
   images through it only when someone opens the message.
3. Known bot, crawler, scanner and security-gateway user agents (``BOT_UA_MARKERS``) are
   machines. Generic HTTP libraries (curl, python-requests, …) and an empty or unknown
   user agent are NOT: integrations, test harnesses and some webmail fetchers use them on
   behalf of people, and wrongly hiding a person's open is worse than counting a rare bot.
4. Apple Mail Privacy Protection: Apple's proxy prefetches every image when the message is
   delivered, whether or not anyone reads it. Its fetches come from Apple's egress ranges
   (17.0.0.0/8, Apple-owned) with a bare ``Mozilla/5.0`` user agent, no version details. An
   open whose IP is in ``APPLE_PROXY_NETWORKS`` or whose user agent is exactly ``Mozilla/5.0``
   is a machine open.
5. Link scanners (Microsoft Defender Safe Links, Mimecast, Proofpoint, Barracuda …) fetch
   every link within seconds of delivery. With ``TRACKING_SCANNER_WINDOW_SECONDS`` set
   (default 0: off), a click less than that many seconds after ``sent_at`` is a machine
   click. It is off by default because a person who clicks the moment a message lands
   would be hidden too; turn it on where the audience sits behind such gateways. (An open
   is never judged by time: the proxy rules catch the prefetchers.)
"""

import functools
import ipaddress
import re
from datetime import datetime

from django.conf import settings


def scanner_window_seconds() -> int:
    """Seconds after sending in which a click is taken for a link scanner's (0 = never)."""
    return int(getattr(settings, "TRACKING_SCANNER_WINDOW_SECONDS", 0) or 0)


# Apple's 17.0.0.0/8 is where Mail Privacy Protection prefetches come from.
APPLE_PROXY_NETWORKS = [ipaddress.ip_network("17.0.0.0/8")]

# Case-insensitive substrings of user agents that are never a person.
BOT_UA_MARKERS = (
    "crawler",
    "spider",
    "slurp",
    "phantomjs",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "ms-office-safelinks",
    "symantec",
    "forcepoint",
    "trendmicro",
    "sophos",
    "fortiguard",
    "cisco",
    "ironport",
    "zscaler",
    "paloalto",
    "checkpoint",
    "microsoft office protocol discovery",
    "linkchecker",
    "urlscan",
    "virustotal",
    "yahoomailproxy",
)
# "bot" as in Googlebot/bingbot, but not the Cubot phone brand.
_BOT_RE = re.compile("|".join([r"(?<!cu)bot"] + [re.escape(m) for m in BOT_UA_MARKERS]), re.IGNORECASE)
_GMAIL_PROXY_RE = re.compile(r"GoogleImageProxy|ggpht\.com", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _ua_verdict(ua: str) -> bool | None:
    """False for Gmail's image proxy (a person), True for a bot or scanner, None otherwise.
    Cached: the same few thousand user agents make almost all the hits."""
    if _GMAIL_PROXY_RE.search(ua):
        return False
    if ua and _BOT_RE.search(ua):
        return True
    return None


def _ip_in(ip: str | None, networks) -> bool:
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def verdict(
    *, event_type: str, user_agent: str = "", ip_address: str | None = None, method: str = "GET"
) -> bool | None:
    """Rules 1–4, which need only the request: True (a machine), False (a person), or None
    for a click they cannot tell — a person unless rule 5, the scanner window, which needs
    the message's `sent_at`, says it is a machine. Every event type but opens and clicks is
    a person's (False)."""
    if event_type not in ("open", "click"):
        return False
    if method.upper() == "HEAD":
        return True
    ua = (user_agent or "").strip()
    by_agent = _ua_verdict(ua)
    if by_agent is not None:
        return by_agent
    if event_type == "open":
        return ua == "Mozilla/5.0" or _ip_in(ip_address, APPLE_PROXY_NETWORKS)
    return None


def is_machine(
    *,
    event_type: str,
    user_agent: str = "",
    ip_address: str | None = None,
    method: str = "GET",
    sent_at: datetime | None = None,
    at: datetime | None = None,
) -> bool:
    """True when the hit is a proxy prefetch, scanner or bot rather than a person.

    Only opens and clicks are judged; every other event type is never a machine.
    """
    known = verdict(event_type=event_type, user_agent=user_agent, ip_address=ip_address, method=method)
    if known is not None:
        return known
    window = scanner_window_seconds()
    if window and sent_at is not None and at is not None:
        if 0 <= (at - sent_at).total_seconds() < window:
            return True
    return False
