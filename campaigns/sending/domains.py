"""SEND_DOMAIN_RATES in a batch (`campaigns.domain_pacing` has the rules in Redis): a batch
never waits behind a capped domain, and never renders a message it will not send.

1. **Before the claim** (`quotas`): each capped domain's free slots within the batch's
   horizon — how long a full batch keeps its sender busy, `SEND_BATCH_SIZE` × this process's
   cost of a message. The claim takes at most that many of the domain's due recipients
   (none when the domain is at its cap; they stay `pending`, unclaimed) and fills the batch
   with the other domains'.
2. **Before rendering** (`arrange`): the slots are reserved for the capped recipients that
   fit in *this* batch's horizon: after a full claim (more recipients may be waiting for
   this sender), the time its uncapped messages take; else the claim's horizon (nobody else
   is due: the sender may as well send the capped ones as their slots come). A capped recipient that does
   not fit is given back at once (`pending`, due at the domain's next free slot) — never
   rendered. The batch is put in order: uncapped messages back to back, each capped one
   where its slot falls among them, so the render-ahead thread renders in sending order.
3. **In the loop** (`wait`): a capped message whose slot has not come yet waits aside,
   rendered, and the loop goes on with the next message; it goes as soon as its slot has
   come and the domain's last start is one interval old (`DomainPacer.start`). Only when
   nothing else is left does the sender sleep for the next slot (renewing its leases).
"""

import heapq
import time

from ..domain_pacing import DomainPacer, domain_of

# The shortest horizon a batch plans for: a few capped slots are kept rather than given back
# when the batch's own uncapped messages take less than this.
LINGER = 0.25


class DomainPlan:
    def __init__(self, size: int):
        self.pacer = DomainPacer()
        self.active = self.pacer.active
        self.horizon = max(size * DomainPacer.cost, LINGER)  # the claim's
        self.held_back = set()  # capped domains whose due recipients the claim left behind
        self.ready = {}  # recipient pk → time.monotonic() of its reserved slot

    def quotas(self) -> dict | None:
        """{capped domain: recipients the claim may take}, or None without SEND_DOMAIN_RATES."""
        if not self.active:
            return None
        return {d: free for d, (free, _) in self.pacer.quotas(self.horizon).items()}

    def arrange(self, recipients, address_of, *, full: bool) -> tuple[list, dict]:
        """(the rows this batch sends, in sending order; {pk: seconds} of the rows to give
        back, due when their domain has a slot again). Reserves the kept rows' slots.
        `full`: the claim was full, so other recipients may be waiting for this sender."""
        free, capped = [], {}
        for r in recipients:
            domain = domain_of(address_of(r))
            if domain in self.pacer.intervals:
                capped.setdefault(domain, []).append(r)
            else:
                free.append(r)
        if not capped:
            return recipients, {}
        cost = DomainPacer.cost
        horizon = max(len(free) * cost, LINGER) if free and full else self.horizon
        reserved = self.pacer.reserve({d: len(rows) for d, rows in capped.items()}, horizon)
        now = time.monotonic()
        timed = [(i * cost, r.pk, r) for i, r in enumerate(free)]
        put_off = {}
        for domain, rows in capped.items():
            slots, after = reserved[domain]
            for r, at in zip(rows, slots, strict=False):
                self.ready[r.pk] = now + at
                timed.append((at, r.pk, r))
            for r in rows[len(slots) :]:
                put_off[r.pk] = after
        timed.sort(key=lambda t: (t[0], t[1]))
        return [r for _, _, r in timed], put_off

    def wait(self, out) -> float:
        """0: message `out` may start now (a capped one's start is recorded); else the seconds
        until it may."""
        at = self.ready.get(out.recipient_id)
        if at is None:
            return 0.0
        early = at - time.monotonic()
        if early > 0.001:
            return early
        wait = self.pacer.start(out.rcpt)
        if wait <= 0:
            del self.ready[out.recipient_id]
        return wait

    def reopen_in(self) -> float | None:
        """Seconds until the earliest domain the claim held back has a slot within the
        horizon (the next batch is worth claiming then), or None."""
        if not self.held_back:
            return None
        quotas = self.pacer.quotas(self.horizon)
        return min(quotas[d][1] for d in self.held_back if d in quotas) + 0.05


class Waiting:
    """Rendered capped messages waiting for their slot, earliest first."""

    def __init__(self):
        self.heap = []

    def __bool__(self):
        return bool(self.heap)

    def add(self, seconds: float, index: int, out) -> None:
        heapq.heappush(self.heap, (time.monotonic() + seconds, index, out))

    def next_in(self) -> float:
        return self.heap[0][0] - time.monotonic()

    def pop_due(self):
        """(index, message) of the earliest one whose time has come, else None."""
        if self.heap and self.heap[0][0] <= time.monotonic():
            _, index, out = heapq.heappop(self.heap)
            return index, out
        return None
