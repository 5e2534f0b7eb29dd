"""Pace: a campaign's `send_rate_per_hour` and the global `SEND_RATE_PER_HOUR`, held across
every worker process on every machine.

Each limit is a minimum spacing between message starts (3600 / rate seconds). A sender
*reserves* the next free slot before it starts a message and sleeps until that slot:

- With Redis (`settings.RATE_LIMIT_REDIS_URL`), one Lua script keeps, per limit, the time
  of the next free slot ("theoretical arrival time", as in GCRA, with a burst of one) and
  hands out slots atomically using Redis's own clock, so senders on different machines
  with skewed clocks still space their messages correctly.
- Without Redis, the database decides: inside the sender's in-flight marker transaction
  the limit's lock is taken (an advisory lock on PostgreSQL; SQLite serialises writers
  anyway) and the newest `sent_at` in the limit's scope says when the next message may
  start. Since the sender stamps `sent_at` when a message starts, that stamp is the
  reservation (see `campaigns.sending`).

An unused reservation (the campaign was paused while its sender slept) only delays the
next message by one interval; slots never accumulate while idle, so a campaign that
starts or resumes does not burst.
"""

import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max

from .models import CampaignRecipient

GLOBAL_KEY = "fliptech:pace:global"

# KEYS: one per limit; ARGV: the interval of each, in seconds. Returns the wait (seconds,
# as a string: Lua numbers become integers on the way out) until the reserved slot.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local slot = now
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat > slot then slot = tat end
end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[i])
  local ttl = math.ceil((slot + interval - now) * 1000) + 1000
  redis.call('SET', key, string.format('%.6f', slot + interval), 'PX', ttl)
end
return string.format('%.6f', slot - now)
"""


def intervals(campaign) -> dict:
    """{limit key: seconds between messages} for the limits that apply to `campaign`."""
    limits = {}
    if campaign.send_rate_per_hour:
        limits[f"fliptech:pace:campaign:{campaign.pk}"] = 3600.0 / campaign.send_rate_per_hour
    if settings.SEND_RATE_PER_HOUR:
        limits[GLOBAL_KEY] = 3600.0 / settings.SEND_RATE_PER_HOUR
    return limits


def batch_size_for(campaign) -> int:
    """A batch lasts at most about 30 s at the campaign's pace, so a paced campaign's
    claims stay small and its lease renewals cheap."""
    size = settings.SEND_BATCH_SIZE
    for interval in intervals(campaign).values():
        size = min(size, max(1, int(30 / interval)))
    return max(1, size)


_redis_clients = {}


def _redis():
    url = settings.RATE_LIMIT_REDIS_URL
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = _redis_clients[url] = redis.Redis.from_url(url)
        client._fliptech_reserve = client.register_script(_RESERVE)
    return client


class Pacer:
    """One sender's view of the limits for one campaign.

    `reserve()` (Redis) returns how long to sleep before starting the next message;
    `database_wait()` is called inside the in-flight marker's transaction when there is no
    Redis. With no limit both return 0 at once.
    """

    def __init__(self, campaign):
        self.campaign_id = campaign.pk
        self.limits = intervals(campaign)
        self.use_redis = bool(self.limits) and bool(settings.RATE_LIMIT_REDIS_URL)

    @property
    def active(self) -> bool:
        return bool(self.limits)

    def reserve(self) -> float:
        if not self.use_redis:
            return 0.0
        client = _redis()
        keys = list(self.limits)
        return max(0.0, float(client._fliptech_reserve(keys=keys, args=[self.limits[k] for k in keys])))

    def database_wait(self, now) -> float:
        """Call inside a transaction, right before stamping `sent_at`: takes the limits'
        locks and answers how many seconds remain before a message may start (0: now)."""
        if not self.limits or self.use_redis:
            return 0.0
        wait = 0.0
        for key, interval in sorted(self.limits.items()):
            campaign_scoped = key != GLOBAL_KEY
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)", [4242, self.campaign_id if campaign_scoped else 0]
                    )
            rows = CampaignRecipient.objects.filter(sent_at__gt=now - timedelta(seconds=interval))
            if campaign_scoped:
                rows = rows.filter(campaign_id=self.campaign_id)
            last = rows.aggregate(last=Max("sent_at"))["last"]
            if last is not None:
                wait = max(wait, (last + timedelta(seconds=interval) - now).total_seconds())
        return wait


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
