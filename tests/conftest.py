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


class DNSZone:
    """A real DNS server on loopback (dnslib) answering from `records`:
    {("name.", "TXT"): ["value", …], ("name.", "MX"): [(10, "mx.name.")], …}; NXDOMAIN for the
    rest. `resolver()` is a dnspython resolver asking only it."""

    def __init__(self):
        from dnslib import MX, QTYPE, RR, TXT, A, DNSLabel
        from dnslib.server import BaseResolver, DNSServer

        self.records = {}
        zone = self

        class Resolver(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                qname, qtype = str(request.q.qname).lower(), QTYPE[request.q.qtype]
                found = zone.records.get((qname, qtype))
                if found is None and not any(name == qname for name, _ in zone.records):
                    reply.header.rcode = 3  # NXDOMAIN
                for value in found or []:
                    if qtype == "TXT":
                        chunks = [value[i : i + 255].encode() for i in range(0, len(value), 255)]
                        data = TXT(chunks)
                    elif qtype == "MX":
                        data = MX(DNSLabel(value[1]), value[0])
                    else:
                        data = A(value)
                    reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=data, ttl=60))
                return reply

        self.server = DNSServer(Resolver(), address="127.0.0.1", port=0)
        self.server.start_thread()
        self.port = self.server.server.server_address[1]

    def resolver(self, timeout=1.0):
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.timeout = resolver.lifetime = timeout
        return resolver

    def stop(self):
        self.server.stop()


@pytest.fixture
def dns_zone():
    zone = DNSZone()
    yield zone
    zone.stop()
