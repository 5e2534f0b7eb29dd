import os
import socket

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def need(condition: bool, what: str):
    """Skip a test whose service is absent — or fail it when CI requires services."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def require_postgres(settings):
    need(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), "PostgreSQL (DATABASE_URL)")


@pytest.fixture
def require_redis(settings):
    need(settings.CELERY_BROKER_URL.startswith("redis"), "Redis (CELERY_BROKER_URL)")


@pytest.fixture
def user(db):
    """A marketer: every permission on campaigns and tracking models, not a superuser."""
    user = UserFactory(username="marketer")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["campaigns", "tracking"]))
    return user


@pytest.fixture
def viewer(db):
    """Authenticated, but without any model permission."""
    return UserFactory(username="viewer")


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def client_for():
    def make(user):
        token, _ = Token.objects.get_or_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def api(client_for, user):
    """An API client authenticated by token as `user` (the marketer)."""
    return client_for(user)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle counters live in the cache; tests must not throttle each other.
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_render_caches():
    """The per-process caches of compiled templates and link ids (`campaigns.sending.prepare`)
    are keyed by ids, which SQLite reuses once a transactional test has deleted the rows: every
    test starts with them empty, whatever its directory."""
    from campaigns.sending import prepare

    prepare._compiled.clear()
    prepare._link_ids.clear()
