"""A recipient's follow-up sequence: advancing it when a message went out, stopping it, and
whether a campaign still has sequences to run. The sender (campaigns/sending/followups.py)
and tracking (replies, bounces, unsubscribes, complaints) call these; the campaign's
completion rule (`states.finish_if_done`) asks `unfinished`.

The life of a sequence (docs/steps.md):

- The first message goes out → `advance_first`: `current_step = 0`; with a step 1, its
  message row is created `pending`, due `delay` after the first message's `sent_at`
  (`next_step_at`); without one the sequence is `finished`. The lead moves `new → contacted`.
- Step k goes out → `advance_after_step` (in the sent mark's transaction): the same for k+1.
- A reply, unsubscribe, bounce, complaint or suppression → `stop`: `stopped` with the reason,
  its pending message cancelled. A condition that fails when a step falls due → `end_by_condition`.

Every write is conditional on `sequence_status = 'active'` and takes the recipient row's
lock first, so a stop and an advance never interleave into a pending row left behind.
"""

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .models import CampaignRecipient, CampaignStep, Lead, RecipientMessage

R = CampaignRecipient.Status
Seq = CampaignRecipient.Sequence
M = RecipientMessage.Status


def steps_of(campaign_id) -> dict:
    """{position: CampaignStep} of the campaign's follow-ups."""
    return {s.position: s for s in CampaignStep.objects.filter(campaign_id=campaign_id).select_related("template")}


def delays_of(campaign_id) -> dict:
    return dict(CampaignStep.objects.filter(campaign_id=campaign_id).values_list("position", "delay"))


def has_steps(campaign_id) -> bool:
    return CampaignStep.objects.filter(campaign_id=campaign_id).exists()


def advance_first(campaign_id, recipient_ids=None, *, limit: int = 1000, delays: dict | None = None) -> int:
    """Advance the sequences of first messages that went out (`status = sent`, not advanced
    yet) — the batch's `recipient_ids`, or any of the campaign's (the catch-up after a
    sender died, through the `recipient_unadvanced` index). Returns how many. `delays`
    ({position: delay}, `delays_of`) saves its query when the caller has them."""
    rows = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.SENT, current_step__isnull=True)
    if recipient_ids is not None:
        rows = rows.filter(pk__in=list(recipient_ids))
    delay = (delays if delays is not None else delays_of(campaign_id)).get(1)
    if delay is None:
        return _finish_first(rows, limit)
    with transaction.atomic():
        picked = list(
            rows.order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", "sent_at", "sequence_status", "lead_id")[:limit]
        )
        if not picked:
            return 0
        ids = [pk for pk, *_ in picked]
        active = [(pk, sent_at) for pk, sent_at, status, _ in picked if status == Seq.ACTIVE]
        CampaignRecipient.objects.filter(pk__in=ids).update(current_step=0)
        if active:
            _schedule(campaign_id, [(pk, sent_at + delay) for pk, sent_at in active], position=1)
        contacted([lead for *_, lead in picked if lead])
    return len(picked)


def _finish_first(rows, limit) -> int:
    """Without steps the first message is the whole sequence: two statements, no lock (a
    stop meanwhile keeps its `stopped`)."""
    ids = list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    CampaignRecipient.objects.filter(pk__in=ids).update(
        current_step=0,
        sequence_status=Case(When(sequence_status=Seq.ACTIVE, then=Value(Seq.FINISHED)), default=F("sequence_status")),
    )
    contacted(CampaignRecipient.objects.filter(pk__in=ids).values("lead_id"))
    return len(ids)


def contacted(lead_ids) -> None:
    """Leads that were sent a campaign message: `new` → `contacted`."""
    Lead.objects.filter(pk__in=lead_ids, status=Lead.Status.NEW).update(
        status=Lead.Status.CONTACTED, updated_at=timezone.now()
    )


def _schedule(campaign_id, due: list, *, position: int) -> None:
    """Create the pending message rows of step `position` for [(recipient id, due at)], and
    stamp the recipients' `next_step_at`. Call inside a transaction holding their locks."""
    RecipientMessage.objects.bulk_create(
        [RecipientMessage(recipient_id=pk, campaign_id=campaign_id, position=position, due_at=at) for pk, at in due],
        ignore_conflicts=True,
    )
    by_time = {}
    for pk, at in due:
        by_time.setdefault(at, []).append(pk)
    if len(by_time) == 1:
        ((at, pks),) = by_time.items()
        CampaignRecipient.objects.filter(pk__in=pks).update(next_step_at=at)
    else:
        CampaignRecipient.objects.bulk_update(
            [CampaignRecipient(pk=pk, next_step_at=at) for pk, at in due], ["next_step_at"], batch_size=500
        )


def advance_after_step(*, recipient_id, campaign_id, position: int, sent_at=None, delays=None) -> None:
    """Step `position` went out to the recipient: schedule the next step, or finish.
    Call inside the sent mark's transaction."""
    sent_at = sent_at or timezone.now()
    delay = (delays or delays_of(campaign_id)).get(position + 1)
    rows = CampaignRecipient.objects.filter(pk=recipient_id)
    # One UPDATE, which takes the row's lock (a concurrent stop waits for this transaction,
    # then cancels the row inserted below): the step, and the next due time or the end.
    advanced = rows.filter(sequence_status=Seq.ACTIVE).update(
        current_step=position,
        next_step_at=None if delay is None else sent_at + delay,
        sequence_status=Seq.FINISHED if delay is None else Seq.ACTIVE,
    )
    if not advanced:
        rows.filter(Q(current_step__isnull=True) | Q(current_step__lt=position)).update(current_step=position)
    elif delay is not None:
        RecipientMessage.objects.bulk_create(
            [
                RecipientMessage(
                    recipient_id=recipient_id, campaign_id=campaign_id, position=position + 1, due_at=sent_at + delay
                )
            ],
            ignore_conflicts=True,
        )


def stop(recipient_ids, reason: str) -> int:
    """Stop the recipients' sequences for good (`stopped`, `stop_reason`) and cancel their
    pending follow-ups; a sequence already ended keeps its end. Returns how many follow-ups
    were cancelled (only then may the campaign have become complete)."""
    ids = list(recipient_ids)
    if not ids:
        return 0
    with transaction.atomic(savepoint=False):  # no savepoint inside a caller's transaction
        CampaignRecipient.objects.filter(pk__in=ids, sequence_status=Seq.ACTIVE).update(
            sequence_status=Seq.STOPPED, stop_reason=reason, next_step_at=None
        )
        return cancel_pending(ids)


def end_by_condition(recipient_id) -> None:
    """A step's condition failed when it fell due: the sequence is `finished` (`condition`)."""
    with transaction.atomic():
        CampaignRecipient.objects.filter(pk=recipient_id, sequence_status=Seq.ACTIVE).update(
            sequence_status=Seq.FINISHED,
            stop_reason=CampaignRecipient.StopReason.CONDITION,
            next_step_at=None,
        )
        cancel_pending([recipient_id])


def finish(recipient_ids) -> None:
    """The step they waited for was removed and none took its place: `finished`."""
    ids = list(recipient_ids)
    with transaction.atomic():
        CampaignRecipient.objects.filter(pk__in=ids, sequence_status=Seq.ACTIVE).update(
            sequence_status=Seq.FINISHED, next_step_at=None
        )
        cancel_pending(ids)


def end_after_failure(recipient_id) -> None:
    """A follow-up failed for good (refused, or interrupted in flight): nothing more is sent
    to that recipient; the sequence is `stopped` with no reason (the message row has it)."""
    with transaction.atomic():
        CampaignRecipient.objects.filter(pk=recipient_id, sequence_status=Seq.ACTIVE).update(
            sequence_status=Seq.STOPPED, next_step_at=None
        )
        cancel_pending([recipient_id])


def cancel_pending(recipient_ids) -> int:
    return RecipientMessage.objects.filter(recipient_id__in=list(recipient_ids), status=M.PENDING).update(
        status=M.CANCELLED, updated_at=timezone.now()
    )


def unfinished(campaign_id) -> bool:
    """Whether the campaign still has sequences to run: a follow-up pending or in flight, or a
    first message sent whose sequence was not advanced yet. False for a campaign without
    steps (its first messages are the whole of it)."""
    if not has_steps(campaign_id):
        return False
    if RecipientMessage.objects.filter(campaign_id=campaign_id, status__in=[M.PENDING, M.QUEUED]).exists():
        return True
    return CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.SENT, current_step__isnull=True).exists()


def next_due(campaign_id):
    """The due time of the campaign's earliest pending follow-up, or None."""
    return (
        RecipientMessage.objects.filter(campaign_id=campaign_id, status=M.PENDING)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
