"""A lead's engagement score: 0–100 from its recent human opens, clicks and replies, each
worth less the older it is (a 30-day half-life), kept as one number per lead that events
update as they arrive and reads never recompute (docs/engagement.md).

Points: an open 1, a click 3, a reply 5 (`WEIGHTS`; people only — machine opens and clicks
count for nothing). An event of weight w at time t is worth w · 2^(−(now − t)/H) now, H = 30
days. The sum over a lead's events, d, becomes a score by `score = round(100 · (1 − 2^(−d/5)))`: 5
fresh points (a reply, or a click and two opens) are 50, 15 are 88, nothing is 0 (rounded to the
nearest integer).

Stored: `Lead.engagement_key` = log₂(d(t)) + t/H, which does not change with time (d halves
when t/H grows by one), so every event adds its points with one UPDATE (the trigger in
`tracking/engagement.py`: key ← log₂(2^(key − t/H) + w) + t/H) and a filter "score ≥ n" is
a range on the indexed key (`score_q`): score ≥ n ⇔ d ≥ −5 · log₂(1 − n/100) ⇔ key ≥
log₂(that) + now/H (with n − ½ for the rounding). No key = no engagement = 0.
"""

import math

from django.db.models import Q
from django.utils import timezone

HALF_LIFE_SECONDS = 30 * 86400
WEIGHTS = {"open": 1.0, "click": 3.0, "reply": 5.0}
SCALE = 5.0  # points for a score of 50
OPS = ("gt", "gte", "lt", "lte")


def _now_units(now=None) -> float:
    return (now or timezone.now()).timestamp() / HALF_LIFE_SECONDS


def points(key: float | None, now=None) -> float:
    """The lead's decayed points now."""
    if key is None:
        return 0.0
    return 2.0 ** max(key - _now_units(now), -1000.0)


def score(key: float | None, now=None) -> int:
    """The 0–100 score of an `engagement_key`."""
    return min(max(math.floor(_raw(points(key, now)) + 0.5), 0), 100)


def _raw(d: float) -> float:
    return 100 * (1 - 2.0 ** (-d / SCALE))


def _at_least(n: int, now) -> Q:
    """score ≥ n (n an integer): the unrounded score ≥ n − ½."""
    if n <= 0:
        return Q()
    if n > 100:
        return Q(pk__in=[])
    needed = -SCALE * math.log2(1 - (n - 0.5) / 100)
    return Q(engagement_key__gte=math.log2(needed) + _now_units(now))


def score_q(op: str, value: float, now=None) -> Q:
    """Leads whose score `op` (gt, gte, lt, lte) `value` now, as a range on the key."""
    now = now or timezone.now()
    threshold = {
        "gte": math.ceil(value),
        "gt": math.floor(value) + 1,
        "lt": math.ceil(value),
        "lte": math.floor(value) + 1,
    }[op]
    q = _at_least(threshold, now)
    return q if op in ("gt", "gte") else ~q
