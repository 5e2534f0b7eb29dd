"""The shared cache (`CACHE_URL`, fliptech/cache.py): Django's Redis cache, one client kept
per connection pool, and a one-round-trip counter for the API's throttles."""

from django.conf import settings
from django.core.cache import cache

from tests.conftest import need


def require_redis_cache():
    need(settings.CACHES["default"]["BACKEND"] == "fliptech.cache.RedisCache", "Redis (CACHE_URL)")


def test_the_counter_counts_up_and_expires_with_its_window():
    require_redis_cache()
    assert [cache.count("window:1", 60) for _ in range(3)] == [1, 2, 3]
    assert cache.get("window:1") == 3  # a plain cache value: Django's incr and get read it
    client = cache._cache.get_client(write=True)
    ttl = client.ttl(cache.make_key("window:1"))
    assert 0 < ttl <= 60
    cache.count("window:1", 600)  # only the call that made the counter set its life
    assert client.ttl(cache.make_key("window:1")) <= 60


def test_one_client_serves_every_call():
    require_redis_cache()
    assert cache._cache.get_client() is cache._cache.get_client()
    cache.set("k", {"a": 1})
    assert cache.get("k") == {"a": 1}
