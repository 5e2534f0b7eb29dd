"""The API's rate limits as one counter per client and window in the shared cache.

DRF's own throttles keep, per client, the list of its recent request times, and read and
rewrite the whole list on every call: at the default user rate (6,000 a minute) that is up to
6,000 timestamps unpickled and pickled again per request — +2.7 ms a call measured on a busy
client (`bench/security_cost.py`), more than the whole budget for throttling. Here a call costs
one increment of a small integer (one round trip on Redis: `fliptech.cache.RedisCache.count`;
`add` and `incr` on another cache), whatever the rate.

The window is fixed (`now // duration`), as GitHub's API limits are: a client gets at most
`num_requests` in each window, so at most twice that across a window's edge, and a refused
call is told to wait until the window ends (`Retry-After`). A cache that is down lets the call
through: the throttle protects the service, it is not a reason to refuse it.
"""

import logging

from rest_framework import throttling

logger = logging.getLogger(__name__)


class WindowCounter:
    """For a subclass of DRF's SimpleRateThrottle: its scope, rate, cache key and cache, with
    a counter instead of the history list."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        key, self.window_ends = window_key(self.key, self.duration, self.timer())
        try:
            count = add_one(self.cache, key, self.duration)
        except ValueError:  # the counter expired between add and incr: a new window
            return True
        except Exception:
            logger.warning("throttle: cache unavailable, request let through", exc_info=True)
            return True
        return count <= self.num_requests

    def wait(self):
        return max(1.0, self.window_ends - self.timer())


def window_key(key: str, duration: int, now: float) -> tuple[str, float]:
    """The counter's key for the fixed window holding `now`, and when that window ends."""
    window = int(now // duration)
    return f"{key}:{window}", (window + 1) * duration


def add_one(cache, key: str, duration: int) -> int:
    """One more in the window counter `key` (made to outlive its window); its new value."""
    if hasattr(cache, "count"):  # fliptech.cache.RedisCache: one round trip
        return cache.count(key, duration + 1)
    cache.add(key, 0, duration + 1)
    return cache.incr(key)


class AnonRateThrottle(WindowCounter, throttling.AnonRateThrottle):
    """Anonymous calls per client address (`API_THROTTLE_ANON`)."""


class UserRateThrottle(WindowCounter, throttling.UserRateThrottle):
    """Authenticated calls per user (`API_THROTTLE_USER`)."""
