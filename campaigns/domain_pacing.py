"""`SEND_DOMAIN_RATES`: messages per recipient domain across every worker and campaign, spaced
evenly (12/m is one message every 5 s), without holding a batch up behind a capped domain.

Per capped domain Redis keeps two times (Redis's own clock, so skewed machines agree):

- the **next free slot** (GCRA with a burst of one, as in `campaigns.pacing`): slots are
  *reserved* for recipients a batch holds, at most a horizon ahead — never for a recipient
  sitting in the database, so no domain is booked hours ahead and a campaign launched later
  gets the domain's next slots like any other;
- the **last start**: a message of the domain starts only one interval after the one before
  (`start`), so slots used late never bunch up, whoever held them.

A batch uses them in three steps (`campaigns.sending.domains`): before the claim, `quotas`
says how many slots each capped domain has free within the batch's horizon (the claim takes
no more of that domain's recipients than that, none when it is at its cap); after the claim
and before any rendering, `reserve` books the slots for the recipients it keeps; right
before each capped message, `start` checks the spacing. One Redis call each (per batch, per
batch, per capped message); a domain that is not listed costs a dict lookup.

Without Redis (the embedded mode) the same rules hold per worker process.
"""

import threading
import time

from django.conf import settings

from fliptech.rates import domain_intervals

from .pacing import _redis

# KEYS: per domain its next free slot and its last start; ARGV: the horizon, then per
# domain its interval and how many slots are wanted (0: just asking). Reserves up to that many consecutive slots within the horizon; answers per domain
# the reserved slots (seconds from now, space-separated) then the next free one.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local horizon = tonumber(ARGV[1])
local out = {}
for d = 1, #KEYS / 2 do
  local interval, wanted = tonumber(ARGV[2 * d]), tonumber(ARGV[2 * d + 1])
  local slot = math.max(tonumber(redis.call('GET', KEYS[2 * d - 1]) or '0'), now,
                        tonumber(redis.call('GET', KEYS[2 * d]) or '0') + interval)
  local got = {}
  while #got < wanted and slot <= now + horizon do
    got[#got + 1] = string.format('%.6f', slot - now)
    slot = slot + interval
  end
  if #got > 0 then
    redis.call('SET', KEYS[2 * d - 1], string.format('%.6f', slot), 'PX', math.ceil((slot - now) * 1000) + 1000)
  end
  got[#got + 1] = string.format('%.6f', slot - now)
  out[d] = table.concat(got, ' ')
end
return out
"""

# KEYS: the domain's last start; ARGV: the interval, the tolerance. "0": started (recorded);
# else the seconds until the domain may start again.
_START = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local wait = tonumber(redis.call('GET', KEYS[1]) or '0') + interval - now
if wait > tonumber(ARGV[2]) then return string.format('%.6f', wait) end
redis.call('SET', KEYS[1], string.format('%.6f', now), 'PX', math.ceil(interval * 1000) + 1000)
return '0'
"""

# A start this close to the domain's spacing goes: about a Redis round trip.
TOLERANCE = 0.002


def _script(name, source):
    client = _redis()
    script = getattr(client, name, None)
    if script is None:
        script = client.register_script(source)
        setattr(client, name, script)
    return script


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


class DomainPacer:
    """This process's view of SEND_DOMAIN_RATES (see the module's docstring)."""

    _local = {}  # domain → [next free slot, last start] (time.monotonic()), without Redis
    _lock = threading.Lock()
    # What one message costs this process (seconds, a moving average over its batches): the
    # horizon of a batch is how long its other messages keep it busy.
    cost = 0.01

    def __init__(self):
        rates = getattr(settings, "SEND_DOMAIN_RATES", None) or {}
        self.intervals = domain_intervals(rates) if isinstance(rates, str) else dict(rates)
        self.use_redis = bool(self.intervals) and bool(settings.RATE_LIMIT_REDIS_URL)

    @property
    def active(self) -> bool:
        return bool(self.intervals)

    def interval_for(self, address: str) -> float | None:
        return self.intervals.get(domain_of(address))

    @classmethod
    def observe(cls, seconds: float, messages: int) -> None:
        """A batch sent `messages` in `seconds`: update the per-message cost."""
        if messages >= 5:
            cls.cost = min(1.0, max(0.0005, 0.7 * cls.cost + 0.3 * seconds / messages))

    def _keys(self, domains):
        return [k for d in domains for k in (f"fliptech:pace:domain:{d}", f"fliptech:pace:last:{d}")]

    def quotas(self, horizon: float) -> dict:
        """{capped domain: (slots free within `horizon`, seconds until it has one)}."""
        out = {}
        for domain, (_, after) in self.reserve(dict.fromkeys(self.intervals, 0), horizon).items():
            free = int((horizon - after) // self.intervals[domain]) + 1 if after <= horizon else 0
            out[domain] = (free, max(0.0, after - horizon))
        return out

    def reserve(self, wanted: dict, horizon: float) -> dict:
        """Reserve up to wanted[domain] slots of each domain within `horizon`:
        {domain: ([seconds from now of each reserved slot], seconds until its next free slot)}."""
        domains = sorted(wanted)
        if not domains:
            return {}
        if self.use_redis:
            args = [horizon, *(v for d in domains for v in (self.intervals[d], wanted[d]))]
            answers = _script("_fliptech_domain_reserve", _RESERVE)(keys=self._keys(domains), args=args)
            out = {}
            for d, answer in zip(domains, answers, strict=True):
                *slots, after = (float(x) for x in answer.decode().split())
                out[d] = (slots, after)
            return out
        out = {}
        with self._lock:
            now = time.monotonic()
            for d in domains:
                interval, slot, slots = self.intervals[d], self._next_slot(d, now), []
                while len(slots) < wanted[d] and slot <= now + horizon:
                    slots.append(slot - now)
                    slot += interval
                if slots:
                    self._local[d][0] = slot
                out[d] = (slots, slot - now)
        return out

    def start(self, address: str) -> float:
        """Right before a capped message starts: 0 → go (recorded as the domain's last
        start); else the seconds until the domain may start again."""
        domain = domain_of(address)
        interval = self.intervals.get(domain)
        if not interval:
            return 0.0
        if self.use_redis:
            keys = [f"fliptech:pace:last:{domain}"]
            return float(_script("_fliptech_domain_start", _START)(keys=keys, args=[interval, TOLERANCE]))
        with self._lock:
            now = time.monotonic()
            state = self._local.setdefault(domain, [0.0, -interval])
            wait = state[1] + interval - now
            if wait > TOLERANCE:
                return wait
            state[1] = now
            return 0.0

    def _next_slot(self, domain, now) -> float:
        interval = self.intervals[domain]
        state = self._local.setdefault(domain, [0.0, -interval])
        return max(state[0], now, state[1] + interval)
