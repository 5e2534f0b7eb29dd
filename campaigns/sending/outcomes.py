"""What a refusal at send time leads to, by its bounce kind (`campaigns.bounces`), and the
auto-pause watch of a batch. Called by the one step (`step.send_one`) for first messages and
follow-ups alike (contract "Deliverability"); the statements are the batch's Store's.

- hard (5.1.x, a provider's rejected/invalid recipient): the recipient `bounced` (and a
  follow-up's row `bounced`, its sequence stopped: `bounced`), the address suppressed
  (`hard_bounce`) and a `bounce` event, in one durable transaction; then the campaign's
  rates are checked (auto-pause);
- soft (4.2.x/5.2.x): retried or failed as its basic code says, and counted towards
  SOFT_BOUNCE_LIMIT (a `bounce` event with `bounce_type: soft` each time);
- policy (5.7.x) and anything else: `failed` with the answer (or retried), the address kept.
"""

from .. import bounces, states
from .errors import PermanentFailure, TransientFailure


def refused(batch, rid: int, failure: PermanentFailure) -> None:
    """A permanent refusal of the message of row `rid` — a first message or a follow-up:
    the rule is the same, the statements are the batch's Store's (`store` / `followups`)."""
    row, reason = batch.by_pk[rid], str(failure)
    if failure.kind == bounces.HARD:
        if batch.store.mark_bounced(row, reason, source=batch.campaign.campaign_id, event=_event(batch, row, failure)):
            batch.result.bounced += 1
            batch.watch.bounced()
        return
    batch.store.mark_failed(rid, reason)
    batch.result.failed += 1
    if failure.kind == bounces.SOFT:
        batch.store.soft_bounced(row, source=batch.campaign.campaign_id, event=_event(batch, row, failure))


def deferred(batch, rid: int, failure: TransientFailure) -> None:
    """A refusal worth retrying: pending again after its backoff (or failed after
    SEND_MAX_ATTEMPTS); a soft bounce is also counted."""
    row = batch.by_pk[rid]
    batch.store.mark_transient(row, str(failure))
    if failure.kind == bounces.SOFT:
        batch.store.soft_bounced(row, source=batch.campaign.campaign_id, event=_event(batch, row, failure))


def _event(batch, row, failure) -> dict:
    """The `bounce` event's data: `step` is the message refused (0 = the first)."""
    return {
        "bounce_type": "hard" if failure.kind == bounces.HARD else "soft",
        "source": failure.source,
        "reason": str(failure)[:1000],
        "step": batch.store.step_of(row),
    }


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
