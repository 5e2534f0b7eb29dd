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

import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max

from fliptech.rates import domain_intervals

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


# --- Per recipient domain (SEND_DOMAIN_RATES) ------------------------------------------------

# KEYS: the domain's next free slot, the domain's last start, the message's entitlement;
# ARGV: the interval, the longest wait a sender sleeps through. Answers "go <wait>" (sleep
# that long, then send) or "off <wait>" (put the message off that long; it keeps or gets an
# entitlement). A message put off earlier holds an entitlement to a slot reserved for it and
# goes when it comes back — but never sooner than one interval after the domain's last start,
# so entitled messages that come back late together are still spaced. Anyone else reserves
# the next free slot (GCRA with a burst of one, Redis's clock).
_RESERVE_DOMAIN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, sleep_max = tonumber(ARGV[1]), tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local ttl = math.ceil(interval * 1000) + 3600000
if redis.call('EXISTS', KEYS[3]) == 1 then
  local wait = last + interval - now
  if wait > sleep_max then
    redis.call('PEXPIRE', KEYS[3], math.ceil(wait * 1000) + 3600000)
    return 'off ' .. string.format('%.6f', wait)
  end
  wait = math.max(wait, 0)
  redis.call('DEL', KEYS[3])
  redis.call('SET', KEYS[2], string.format('%.6f', now + wait), 'PX', ttl)
  return 'go ' .. string.format('%.6f', wait)
end
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now, last + interval)
local wait = slot - now
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', math.ceil((wait + interval) * 1000) + 1000)
if wait > sleep_max then
  redis.call('SET', KEYS[3], '1', 'PX', math.ceil(wait * 1000) + 3600000)
  return 'off ' .. string.format('%.6f', wait)
end
redis.call('SET', KEYS[2], string.format('%.6f', slot), 'PX', ttl)
return 'go ' .. string.format('%.6f', wait)
"""
# A wait this short is slept through instead of putting the message off: about what one
# message costs, so that a capped domain never holds the others up for longer.
DOMAIN_SLEEP_MAX = 0.01


class DomainPacer:
    """`SEND_DOMAIN_RATES`: messages per recipient domain across every worker and campaign,
    spaced evenly (GCRA with a burst of one, like the rates above, in Redis).

    No head-of-line blocking: `wait(message_id, address)` never sleeps more than
    DOMAIN_SLEEP_MAX — 0 means "go"; more means "this domain's next free slot is that far
    away, and it is reserved for this recipient": the batch puts the recipient off (pending,
    due at its slot) and goes on with the others; when it comes back it goes at once. Put-off
    recipients queue in slot order, so the domain goes at its cap, no faster and no slower.
    Without Redis the caps hold per worker process. An address whose domain is not listed
    costs a dict lookup."""

    _local = {}  # domain → [next free slot, last start] (time.monotonic()), without Redis
    _entitled = set()  # messages holding a slot, without Redis
    _lock = threading.Lock()

    def __init__(self):
        rates = getattr(settings, "SEND_DOMAIN_RATES", None) or {}
        self.intervals = domain_intervals(rates) if isinstance(rates, str) else dict(rates)
        self.use_redis = bool(self.intervals) and bool(settings.RATE_LIMIT_REDIS_URL)

    @property
    def active(self) -> bool:
        return bool(self.intervals)

    def wait(self, message_id: str, address: str) -> float:
        """`message_id` (the recipient's Message-ID: unique, with a random part) names the
        entitlement, so no other row — another database on the same Redis — can take it.
        0: go now (after sleeping at most DOMAIN_SLEEP_MAX); else put the message off that long."""
        domain = address.rpartition("@")[2].lower()
        interval = self.intervals.get(domain)
        if not interval:
            return 0.0
        verdict, wait = self._reserve(domain, message_id, interval)
        if verdict == "go":
            sleep(wait)
            return 0.0
        return max(wait, DOMAIN_SLEEP_MAX)

    def _reserve(self, domain, message_id, interval) -> tuple[str, float]:
        if self.use_redis:
            client = _redis()
            script = getattr(client, "_fliptech_domain", None) or client.register_script(_RESERVE_DOMAIN)
            client._fliptech_domain = script
            keys = [
                f"fliptech:pace:domain:{domain}",
                f"fliptech:pace:last:{domain}",
                f"fliptech:pace:slot:{message_id}",
            ]
            verdict, wait = script(keys=keys, args=[interval, DOMAIN_SLEEP_MAX]).decode().split()
            return verdict, float(wait)
        with self._lock:  # the same rule, in this process
            now = time.monotonic()
            state = self._local.setdefault(domain, [0.0, -interval])
            if message_id in self._entitled:
                wait = state[1] + interval - now
                if wait > DOMAIN_SLEEP_MAX:
                    return "off", wait
                self._entitled.discard(message_id)
                state[1] = now + max(wait, 0.0)
                return "go", max(wait, 0.0)
            slot = max(state[0], now, state[1] + interval)
            state[0] = slot + interval
            if slot - now > DOMAIN_SLEEP_MAX:
                self._entitled.add(message_id)
                return "off", slot - now
            state[1] = slot
            return "go", slot - now


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
