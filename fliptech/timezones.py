"""The marketer's time zone: the admin shows and reads dates in the zone the browser reports
(cookie `ft_tz`, set by campaigns/static/campaigns/timezone.js). An unknown or missing zone
means UTC (settings.TIME_ZONE). The API is unaffected: it speaks ISO 8601 with offsets."""

import zoneinfo
from functools import lru_cache

from django.utils import timezone

COOKIE = "ft_tz"


@lru_cache(maxsize=1)
def _known() -> frozenset:
    return frozenset(zoneinfo.available_timezones())


def zone_named(name: str | None):
    if not name or len(name) > 64 or name not in _known():
        return None
    return zoneinfo.ZoneInfo(name)


class BrowserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_named(request.COOKIES.get(COOKIE))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
