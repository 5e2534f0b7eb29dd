"""Authentication that checks what a client sends before the database sees it, and throttles
a client address that keeps sending wrong credentials."""

import re
import time

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db.models import Q
from rest_framework import authentication, exceptions
from rest_framework.throttling import SimpleRateThrottle

from fliptech import throttling

# DRF token keys are 40 lower-case hex characters (secrets.token_hex(20)).
TOKEN_KEY = re.compile(r"[0-9a-f]{40}")


def _failure_rate() -> tuple:
    """(failures, seconds) from API_THROTTLE_AUTH_FAILURES, e.g. "20/minute"."""
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get("auth_failures") or "20/minute"
    return SimpleRateThrottle.parse_rate(None, rate)


def _failures_key(request) -> str:
    return f"throttle:auth-failures:{request.META.get('REMOTE_ADDR') or '-'}"


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (`Authorization: Token <key>`), refusing a key that cannot
    exist (a NUL byte, 10,000 characters, …) as "Invalid token." without a query — PostgreSQL
    would reject a NUL byte with an error, i.e. a 500.

    Failed authentications are counted per client address and fixed window in the shared
    cache (`fliptech.throttling`: one small counter, one read per token call); past
    `API_THROTTLE_AUTH_FAILURES` (default 20 a minute) the address gets 429 for any token,
    the right one included, until the window has passed. A cache that is down lets the
    request through (the answer then depends on the credentials alone)."""

    def authenticate(self, request):
        if authentication.get_authorization_header(request)[:6].lower() != b"token ":
            return super().authenticate(request)  # no token: nothing to count
        limit, window = _failure_rate()
        key, window_ends = throttling.window_key(_failures_key(request), window, time.time())
        try:
            failures = cache.get(key) or 0
        except Exception:
            failures = 0
        if failures >= limit:
            raise exceptions.Throttled(wait=max(1, int(window_ends - time.time()) + 1))
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            try:
                throttling.add_one(cache, key, window)
            except Exception:
                pass
            raise

    def authenticate_credentials(self, key):
        if not TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        user, token = super().authenticate_credentials(key)
        load_permissions(user)
        return user, token


def load_permissions(user) -> None:
    """Every permission of `user` (its own and its groups') in one query, cached on the user
    the way Django's ModelBackend caches them (`_perm_cache`): every API call checks a model
    permission (fliptech.permissions), and the backend would spend two queries on it."""
    if user.is_superuser or not user.is_active or hasattr(user, "_perm_cache"):
        return
    rows = (
        Permission.objects.filter(Q(user=user) | Q(group__user=user))
        .values_list("content_type__app_label", "codename")
        .distinct()
    )
    user._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
