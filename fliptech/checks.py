"""System checks for a real deployment (run by every management command, `check --deploy`
included, and logged once when a web or worker process starts with DEBUG off)."""

import logging

from django.conf import settings
from django.core import checks

log = logging.getLogger("fliptech.security")

SHARED_CACHE = (
    "CACHE_URL is not set: API throttles, failed-authentication counters and test-send limits "
    "live in each process's memory, so every process (and every restart) counts apart. "
    "Set CACHE_URL=redis://… to share them."
)


def _cache_is_shared() -> bool:
    backend = settings.CACHES["default"]["BACKEND"]
    return not backend.endswith(("locmem.LocMemCache", "dummy.DummyCache"))


@checks.register(checks.Tags.security)
def shared_cache_for_throttling(app_configs=None, **kwargs):
    """DEBUG off needs a cache every process shares, or the limits are per process."""
    if settings.DEBUG or _cache_is_shared():
        return []
    return [checks.Warning(SHARED_CACHE, hint="docs/security.md", id="fliptech.W001")]


def warn_at_start() -> None:
    """A loud line in the log of a process started with DEBUG off and no shared cache."""
    if not settings.DEBUG and not _cache_is_shared():
        log.warning("SECURITY: %s", SHARED_CACHE)
