"""Per-user quotas kept in the shared cache (Redis in production): test sends
(`TEST_SEND_LIMIT` an hour, CONTRACT.md, Privacy and safety)."""

import time

from django.conf import settings
from django.core.cache import cache

from fliptech.errors import Throttled

TEST_SEND_WINDOW = 3600


def take(*, key: str, limit: int, window: int, what: str) -> None:
    """Count one use of `key` in the sliding `window` (seconds); raise Throttled (429,
    with the seconds until the oldest use expires) when `limit` uses are already in it.
    `limit` 0 means no limit."""
    if limit <= 0:
        return
    now = time.time()
    history = [t for t in cache.get(key) or [] if t > now - window]
    if len(history) >= limit:
        wait = max(1, int(history[0] + window - now) + 1)
        raise Throttled(f"{what}: at most {limit} per {window // 60} minutes; try again in {wait} s.", retry_after=wait)
    history.append(now)
    cache.set(key, history[-limit:], window)


def take_test_send(user) -> None:
    """One test message for `user` (anonymous callers — beat, the shell — count as one)."""
    pk = getattr(user, "pk", None) or 0
    limit = int(getattr(settings, "TEST_SEND_LIMIT", 50))
    take(key=f"quota:test-send:{pk}", limit=limit, window=TEST_SEND_WINDOW, what="Test messages")
