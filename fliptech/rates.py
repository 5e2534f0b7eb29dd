"""`SEND_DOMAIN_RATES` from the environment: "gmail.com=3000/h,yahoo.com=20/m" → seconds
between two messages to each domain ({"gmail.com": 1.2, "yahoo.com": 3.0}). Units: /s, /m,
/h, /d. A malformed entry stops the start with a message naming it."""

from django.core.exceptions import ImproperlyConfigured

PER = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def domain_intervals(text: str) -> dict:
    intervals = {}
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        domain, _, rate = entry.partition("=")
        count, _, unit = rate.strip().partition("/")
        domain = domain.strip().lower().rstrip(".")
        try:
            per = PER[unit.strip().lower() or "h"]
            n = int(count)
        except (KeyError, ValueError):
            n, per = 0, 0
        if not domain or "@" in domain or n <= 0 or not per:
            raise ImproperlyConfigured(
                f"SEND_DOMAIN_RATES: {entry!r} is not <domain>=<count>/<s|m|h|d> (e.g. gmail.com=3000/h)"
            )
        intervals[domain] = per / n
    return intervals
