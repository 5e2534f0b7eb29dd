"""What a refusal at send time leads to, by its bounce kind (`campaigns.bounces`), and the
auto-pause watch of a batch. Called by the one step (`step.send_one`); the statements are the
Store's.

- hard (5.1.x, a provider's rejected/invalid recipient): the recipient `bounced`, the
  address suppressed (`hard_bounce`) and a `bounce` event, in one durable transaction; then
  the campaign's rates are checked (auto-pause);
- soft (4.2.x/5.2.x): retried or failed as its basic code says, and counted towards
  SOFT_BOUNCE_LIMIT (a `bounce` event with `bounce_type: soft` each time);
- policy (5.7.x) and anything else: `failed` with the answer (or retried), the address kept.
"""

from .. import bounces, states
from . import store
from .errors import PermanentFailure, TransientFailure


def refused(batch, rid: int, failure: PermanentFailure) -> None:
    """A permanent refusal of `rid`'s message (a recipient's first message, or a follow-up
    row when `batch.store` is `followups`: failed, its sequence ended; the bounce kinds'
    status, suppression and events are first messages' — a follow-up's hard bounce does not
    suppress the address yet)."""
    first = batch.store is store
    recipient, reason = batch.by_pk[rid], str(failure)
    if first and failure.kind == bounces.HARD:
        event = {"bounce_type": "hard", "source": failure.source, "reason": reason[:1000]}
        if store.mark_bounced(recipient, reason, source=batch.campaign.campaign_id, event=event):
            batch.result.bounced += 1
            batch.watch.bounced()
        return
    batch.store.mark_failed(rid, reason)
    batch.result.failed += 1
    if first and failure.kind == bounces.SOFT:
        _soft(batch, recipient, failure)


def deferred(batch, rid: int, failure: TransientFailure) -> None:
    """A refusal worth retrying: pending again after its backoff (or failed after
    SEND_MAX_ATTEMPTS); a first message's soft bounce is also counted."""
    recipient = batch.by_pk[rid]
    batch.store.mark_transient(recipient, str(failure))
    if batch.store is store and failure.kind == bounces.SOFT:
        _soft(batch, recipient, failure)


def _soft(batch, recipient, failure) -> None:
    event = {"bounce_type": "soft", "source": failure.source, "reason": str(failure)[:1000]}
    store.soft_bounced(recipient, source=batch.campaign.campaign_id, event=event)


class RateWatch:
    """Auto-pause, decided as results are recorded (`states.auto_pause`, from the counter
    rows): after every hard bounce at send — the only moment the bounce rate rises —, and when
    the campaign's sent count reaches its minimum sample (its rates may be over by then). A
    provider's bounce or complaint is checked where tracking records it. Costs one query per
    batch until the sample is reached, and one per bounce."""

    def __init__(self, campaign):
        self.campaign = campaign
        self.limits = states.auto_pause_limits(campaign)
        self.sampled = not self.limits.active  # nothing left to watch for
        self.to_sample = None

    def sent(self) -> None:
        if self.sampled:
            return
        if self.to_sample is not None:
            self.to_sample -= 1
            if self.to_sample > 0:
                return
        counts = states.sent_bounced_complained(self.campaign.pk)
        self.to_sample = self.limits.min_sample - counts[0]  # the last "sent" may still lag
        if self.to_sample <= 0:
            self.sampled = True
            states.auto_pause(self.campaign, self.limits, counts)

    def bounced(self) -> None:
        if self.limits.active:
            states.auto_pause(self.campaign, self.limits)
