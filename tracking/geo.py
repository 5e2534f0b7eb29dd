"""IP address → ISO 3166-1 country code, offline.

By default the dataset the `iptocc` package ships (no licence key, no download). With
`GEOIP_PATH` set (the environment variable, read by settings) MaxMind's GeoLite2/GeoIP2
Country or City database is used instead: the `.mmdb` file itself, or a directory holding
`GeoLite2-Country.mmdb` (or `GeoIP2-Country.mmdb`, `GeoLite2-City.mmdb`), as Django's GeoIP2
takes it. A configured database that cannot be opened is logged once and iptocc answers.
"""

import ipaddress
import logging
from functools import lru_cache
from pathlib import Path

import iptocc
from django.conf import settings

log = logging.getLogger(__name__)

MMDB_NAMES = ("GeoLite2-Country.mmdb", "GeoIP2-Country.mmdb", "GeoLite2-City.mmdb", "GeoIP2-City.mmdb")
UNKNOWN = "Unknown"


def _mmdb_file(path: str) -> Path | None:
    p = Path(path)
    if p.is_dir():
        return next((p / name for name in MMDB_NAMES if (p / name).is_file()), None)
    return p if p.is_file() else None


@lru_cache(maxsize=4)
def _reader(path: str):
    import maxminddb

    found = _mmdb_file(path)
    if found is None:
        log.warning("GEOIP_PATH=%s has no MaxMind database; using iptocc", path)
        return None
    try:
        return maxminddb.open_database(str(found))
    except Exception:
        log.exception("GEOIP_PATH=%s could not be opened; using iptocc", path)
        return None


def _valid(ip) -> str | None:
    try:
        return str(ipaddress.ip_address(str(ip)))
    except ValueError:
        return None


def source() -> str:
    """Which dataset answers now: "geoip" (GEOIP_PATH) or "iptocc"."""
    path = getattr(settings, "GEOIP_PATH", None)
    return "geoip" if path and _reader(str(path)) is not None else "iptocc"


def country_codes(ips) -> list[str]:
    """The country of each address of `ips`, in order; UNKNOWN for a private, reserved,
    unlisted or malformed one."""
    ips = [_valid(ip) for ip in ips]
    path = getattr(settings, "GEOIP_PATH", None)
    reader = _reader(str(path)) if path else None
    if reader is not None:
        out = []
        for ip in ips:
            record = reader.get(ip) if ip else None
            country = (record or {}).get("country") or (record or {}).get("registered_country") or {}
            out.append(country.get("iso_code") or UNKNOWN)
        return out
    valid = [ip for ip in ips if ip]
    codes = iter(iptocc.country_code(valid) if valid else [])
    return [(next(codes) or UNKNOWN) if ip else UNKNOWN for ip in ips]
