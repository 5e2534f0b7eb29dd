"""One message: start → send → classify → record. Every driver sends every message through
`send_one`; a driver only says *how* a message is started and handed over (like the
provider-specific steps of anymail's base backend), so a failure rule is written once, here.
"""

import time
from dataclasses import dataclass, field

from django.conf import settings

from . import outcomes, store
from .errors import PermanentFailure, TransientFailure


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    bounced: int = 0
    paced: int = 0  # put off: their domain was at its SEND_DOMAIN_RATES cap
    released: int = 0
    stopped: bool = False
    finished: str | None = None
    error: str = ""


@dataclass
class Batch:
    """What every step of one batch shares: the campaign, its claimed rows, the rows not
    yet settled (`remaining`, given back at the end) and the tally."""

    campaign: object
    recipients: list
    result: BatchResult
    remaining: list = field(default_factory=list)
    renewed: float = field(default_factory=time.monotonic)
    on_progress: object = None  # called once, when the first message went through
    # The Store of the claimed rows: `store` (first messages) or `followups` (follow-ups),
    # both with the same interface and protocol.
    store: object = store

    def __post_init__(self):
        self.by_pk = {r.pk: r for r in self.recipients}
        self.remaining = [r.pk for r in self.recipients]
        self.lease = settings.SEND_LEASE_SECONDS
        self.watch = outcomes.RateWatch(self.campaign)  # auto-pause as results are recorded

    def heartbeat(self) -> None:
        """Renew the batch's leases every SEND_LEASE_SECONDS / 3 while it works."""
        if time.monotonic() - self.renewed > self.lease / 3:
            self.store.renew_leases(self.remaining)
            self.renewed = time.monotonic()

    def progressed(self) -> None:
        if self.on_progress is not None:
            callback, self.on_progress = self.on_progress, None
            callback()

    def next_id(self, index: int):
        return self.recipients[index + 1].pk if index + 1 < len(self.recipients) else None


def send_one(batch: Batch, driver, index: int, out) -> bool:
    """Send message `index` of the batch; False when the batch must stop (the campaign is
    no longer running). Raises TransientFailure (after recording it on the recipient: not
    tried again before its backoff) when the server should be retried later.

    The start comes right before the data: `driver.start` may first open the transaction
    with the server (SMTP's envelope), but nothing can be delivered before the start — the
    pause check, the suppression check and the in-flight mark — has committed."""
    rid = out.recipient_id
    started, failure = driver.start(index, out)
    if not started:
        if failure is None:
            driver.abandon()  # nothing may be delivered for a row that did not start
        why = batch.store.why_not(batch.by_pk[rid], batch.campaign.pk)
        if why == "stopped":
            batch.result.stopped = True
            return False
        batch.remaining.remove(rid)
        batch.result.failed += why == "suppressed"
        batch.progressed()
        return True
    batch.remaining.remove(rid)
    if failure is None:
        failure = driver.hand_over(out)
    if failure is None:
        driver.record_sent(index, out)
        batch.result.sent += 1
        batch.watch.sent()
    elif isinstance(failure, PermanentFailure):
        outcomes.refused(batch, rid, failure)  # bounced, failed, … by the refusal's kind
    else:
        outcomes.deferred(batch, rid, failure)
        raise failure
    batch.progressed()
    return True


def classified(exc) -> Exception:
    """Any exception a transport let through, as a failure (transient unless it says)."""
    if isinstance(exc, (TransientFailure, PermanentFailure)):
        return exc
    return TransientFailure(f"{type(exc).__name__}: {exc}")
