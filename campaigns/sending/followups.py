"""Follow-ups through the same engine: the Store of follow-up messages (`RecipientMessage`
rows), with the same interface and the same leased, exactly-once protocol as `store` has for
first messages, and the preparation of a batch of them (threaded, tracked, rendered).

A batch hands `followups` to `step.send_one` and the drivers as its store
(`batch.store`), so every follow-up goes through the one per-message step. What differs:

- **Claim** (`claim_batch`): the campaign's `pending` follow-ups whose `due_at` has come,
  earliest first through the partial index `message_claim (campaign, due_at) WHERE status =
  'pending'` — one indexed query a batch, never a scan of the campaign's recipients —, then
  `queued` ones whose lease expired before they were handed over.
- **Start** (`start`): the same conditional UPDATE as a first message's (ours, not handed
  over, campaign running, address not suppressed) **and** the recipient's sequence still
  `active` and the step's condition true (people only). So a reply recorded before a start
  stops it: a reply arriving while a step is being sent lets at most that one message out.
- **Sent** (`mark_sent`): `sent`, and in the same transaction the sequence advanced
  (`sequences.advance_after_step`: the next step scheduled, or finished).
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import bounces, sequences
from ..models import Campaign, CampaignRecipient, CampaignStep, RecipientMessage, Suppression
from . import store
from .mime import message_id_domain

log = logging.getLogger(__name__)
M = RecipientMessage.Status
Seq = CampaignRecipient.Sequence
RUNNING = store.RUNNING
INTERRUPTED = store.INTERRUPTED
backoff = store.backoff
durable = store.durable
fast_commits = store.fast_commits


# --- Claims and leases --------------------------------------------------------------------


# {campaign pk: {position: delay}} as read by the latest claim in this process: the sent
# marks of its batch schedule the next step without reading the steps again (steps change
# only while a campaign is not sending; the next claim reads them anew).
_delays: dict = {}
# {follow-up pk: (campaign pk, position)} of the rows this process claimed: what the one-statement
# sent mark needs to know about the row it marks.
_claimed: dict = {}


def claim_batch(*, campaign, size: int) -> list:
    """Claim up to `size` due follow-ups of `campaign`: their rows, with recipient and lead.
    Every claimed row gets its own Message-ID (kept if it had one)."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.SEND_LEASE_SECONDS)
    due = Q(status=M.PENDING, due_at__lte=now)
    expired = Q(status=M.QUEUED, lease_expires_at__lt=now, handed_at__isnull=True)
    suffix = f".{secrets.token_hex(8)}@{message_id_domain(campaign)}>"
    with transaction.atomic():
        ids = store.lock_claimable(
            RecipientMessage, campaign.pk, [(due, "due_at"), (expired, "lease_expires_at")], size
        )
        if not ids:
            return []
        RecipientMessage.objects.filter(pk__in=ids).update(
            status=M.QUEUED,
            claimed_at=now,
            lease_expires_at=lease,
            sent_at=None,
            handed_at=None,
            updated_at=now,
            message_id=store.message_id_or_new("<f", suffix),
        )
        _delays[campaign.pk] = sequences.delays_of(campaign.pk)  # for this batch's sent marks
        rows = list(
            RecipientMessage.objects.filter(pk__in=ids, claimed_at=now)
            .select_related("recipient__lead")
            .order_by("due_at", "pk")
        )
    if len(_claimed) > 50_000:
        _claimed.clear()
    _claimed.update({m.pk: (m.campaign_id, m.position) for m in rows})
    return rows


@durable
def release(ids, *, not_before=None) -> int:
    if not ids:
        return 0
    fields = {"status": M.PENDING, "claimed_at": None, "lease_expires_at": None, "sent_at": None}
    if not_before is not None:
        fields["due_at"] = not_before
    return RecipientMessage.objects.filter(pk__in=list(ids), status=M.QUEUED, handed_at__isnull=True).update(
        updated_at=timezone.now(), **fields
    )


def renew_leases(ids) -> None:
    RecipientMessage.objects.filter(pk__in=list(ids), status=M.QUEUED).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS)
    )


# --- Per message ----------------------------------------------------------------------------

_MESSAGES = RecipientMessage._meta.db_table
_RECIPIENTS = CampaignRecipient._meta.db_table
_STEPS = CampaignStep._meta.db_table
C = CampaignStep.Condition
# The step's condition, people only (opened_at/clicked_at are set by human hits alone).
_CONDITION = (
    f"(s.condition = '{C.ALWAYS}'"
    f" OR (s.condition = '{C.NO_REPLY}' AND r.replied_at IS NULL)"
    f" OR (s.condition = '{C.NO_OPEN}' AND r.opened_at IS NULL)"
    f" OR (s.condition = '{C.NO_CLICK}' AND r.clicked_at IS NULL))"
)
# A follow-up may start when it is ours and not handed over, its campaign runs, its
# recipient's sequence is active (not replied, unsubscribed, bounced, complained, suppressed),
# its step exists and its condition holds, and the address is not suppressed. Python's
# version of the same rule: `start_refusal`.
_STARTABLE = (
    f"{_MESSAGES}.status = '{M.QUEUED}' AND {_MESSAGES}.handed_at IS NULL"
    f" AND EXISTS (SELECT 1 FROM {Campaign._meta.db_table} c WHERE c.id = %(campaign)s AND c.status = %(running)s)"
    f" AND EXISTS (SELECT 1 FROM {_RECIPIENTS} r JOIN {_STEPS} s"
    f" ON s.campaign_id = {_MESSAGES}.campaign_id AND s.position = {_MESSAGES}.position"
    f" WHERE r.id = {_MESSAGES}.recipient_id AND r.status = '{CampaignRecipient.Status.SENT}'"
    f" AND r.sequence_status = '{Seq.ACTIVE}' AND {_CONDITION}"
    f" AND NOT EXISTS (SELECT 1 FROM {Suppression._meta.db_table} x WHERE x.email = LOWER(r.email_address)))"
)
_START_SQL = (
    f"UPDATE {_MESSAGES} SET sent_at = %(now)s, updated_at = %(now)s,"
    f" handed_at = CASE WHEN %(hand)s THEN %(now)s ELSE NULL END WHERE id = %(start)s AND {_STARTABLE}"
)
_SENT_SQL = (
    f"UPDATE {_MESSAGES} SET status = '{M.SENT}', sent_at = %(now)s, updated_at = %(now)s,"
    f" lease_expires_at = NULL, handed_at = NULL, error_message = '', provider_message_id = %(provider_id)s"
    f" WHERE id = %(sent)s AND (status = '{M.QUEUED}' OR (status = '{M.FAILED}' AND error_message = %(interrupted)s))"
    f" RETURNING recipient_id, campaign_id, position"
)


def start(rid: int, campaign_id: int, now=None, *, hand: bool = True) -> bool:
    """The start and in-flight mark of follow-up `rid` (see `_STARTABLE`)."""
    with connection.cursor() as cursor:
        params = {"now": store._stamp(now), "start": rid, "campaign": campaign_id, "running": RUNNING, "hand": hand}
        cursor.execute(_START_SQL, params)
        return cursor.rowcount == 1


@durable
def mark_sent(rid: int, provider_id: str = "") -> None:
    """`sent` with the provider's id of the message (`provider_message_id`), and the
    sequence advanced in the same transaction (one statement on PostgreSQL: `_ADVANCING_SQL`)."""
    provider_id = provider_id[:255]
    if _chained_mark(rid, None, None, hand=False, provider_id=provider_id) is not None:
        return
    now = timezone.now()
    params = {"now": store._stamp(now), "sent": rid, "interrupted": INTERRUPTED, "provider_id": provider_id}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_SENT_SQL, params)
            row = cursor.fetchone()
        if row is not None:
            recipient_id, campaign_id, position = row
            sequences.advance_after_step(
                recipient_id=recipient_id,
                campaign_id=campaign_id,
                position=position,
                sent_at=now,
                delays=_delays.get(campaign_id),
            )


def mark_sent_and_start(
    sent_id: int, next_id: int, campaign_id: int, *, hand: bool = True, provider_id: str = ""
) -> bool:
    """`mark_sent(sent_id)` — the sequence advanced — and `start(next_id)`: one statement on
    PostgreSQL, as for first messages. True when `next_id` was started."""
    started = _chained_mark(sent_id, next_id, campaign_id, hand=hand, provider_id=provider_id[:255])
    if started is not None:
        return started
    mark_sent(sent_id, provider_id)
    return start(next_id, campaign_id, hand=hand)


_ADVANCING_SQL = (
    f"WITH sent AS (UPDATE {_MESSAGES} SET status = '{M.SENT}', sent_at = %(now)s, updated_at = %(now)s,"
    f" lease_expires_at = NULL, handed_at = NULL, error_message = '', provider_message_id = %(provider_id)s"
    f" WHERE id = %(sent)s AND (status = '{M.QUEUED}' OR (status = '{M.FAILED}' AND error_message = %(interrupted)s))"
    f" RETURNING recipient_id, campaign_id, position),"
    # The recipient's row lock is taken here: a concurrent stop waits, then cancels the new row.
    f" adv AS (UPDATE {_RECIPIENTS} r SET current_step = sent.position, next_step_at = %(next_due)s,"
    f" sequence_status = %(after)s FROM sent WHERE r.id = sent.recipient_id AND r.sequence_status = '{Seq.ACTIVE}'"
    f" RETURNING r.id, sent.campaign_id, sent.position),"
    f" ins AS (INSERT INTO {_MESSAGES} (recipient_id, campaign_id, position, status, due_at, message_id,"
    f" provider_message_id, subject, attempts, error_message, created_at, updated_at)"
    f" SELECT adv.id, adv.campaign_id, adv.position + 1, '{M.PENDING}', %(next_due)s, '', '', '', 0, '', %(now)s,"
    f" %(now)s"
    f" FROM adv WHERE %(has_next)s ON CONFLICT DO NOTHING),"
    f" ended AS (UPDATE {_RECIPIENTS} r SET current_step = sent.position FROM sent"
    f" WHERE r.id = sent.recipient_id AND r.sequence_status <> '{Seq.ACTIVE}'"
    f" AND (r.current_step IS NULL OR r.current_step < sent.position))"
)
_ADVANCING_AND_START_SQL = (
    _ADVANCING_SQL + f" UPDATE {_MESSAGES} SET sent_at = %(now)s, updated_at = %(now)s,"
    f" handed_at = CASE WHEN %(hand)s THEN %(now)s ELSE NULL END WHERE id = %(start)s AND {_STARTABLE} RETURNING id"
)


def _chained_mark(sent_id, next_id, campaign_id, *, hand, provider_id="") -> bool | None:
    """PostgreSQL, for a row this process claimed: the sent mark, the sequence's advance (the
    next step's row, or the end) and, with `next_id`, the next start — one statement, one
    round trip (Python's version of the advance: `sequences.advance_after_step`). None when
    it does not apply (SQLite, an unknown row): the caller takes the statement-by-statement path."""
    known = _claimed.get(sent_id)
    if connection.vendor != "postgresql" or known is None or known[0] not in _delays:
        return None
    message_campaign, position = known
    delay = _delays[message_campaign].get(position + 1)
    now = timezone.now()
    params = {
        "now": store._stamp(now),
        "sent": sent_id,
        "interrupted": INTERRUPTED,
        "next_due": None if delay is None else store._stamp(now + delay),
        "after": Seq.FINISHED if delay is None else Seq.ACTIVE,
        "has_next": delay is not None,
        "provider_id": provider_id,
    }
    with connection.cursor() as cursor:
        if next_id is None:
            cursor.execute(_ADVANCING_SQL + " SELECT 1", params)
            return True
        params.update({"start": next_id, "campaign": campaign_id, "running": RUNNING, "hand": hand})
        cursor.execute(_ADVANCING_AND_START_SQL, params)
        return any(row[0] == next_id for row in cursor.fetchall())


@durable
def unstart(rid) -> None:
    if rid is not None:
        RecipientMessage.objects.filter(pk=rid, status=M.QUEUED).update(sent_at=None, handed_at=None)


def start_refusal(message, campaign_id) -> tuple[str, str]:
    """Python's version of `_STARTABLE`: ("", "") when the follow-up may start, else (why,
    detail): "stopped" (campaign not running), "suppressed" (detail: the reason),
    "sequence" (the recipient's sequence ended), "condition" (the step's condition failed),
    "no_step" (the step was removed) or "gone" (no longer our row)."""
    if not Campaign.all_objects.filter(pk=campaign_id, status=RUNNING).exists():
        return "stopped", ""
    recipient = CampaignRecipient.objects.filter(pk=message.recipient_id).first()
    if recipient is None:
        return "gone", ""
    reason = Suppression.objects.filter(email=recipient.email_address.lower()).values_list("reason", flat=True).first()
    if reason is not None:
        return "suppressed", reason
    if recipient.sequence_status != Seq.ACTIVE or recipient.status != CampaignRecipient.Status.SENT:
        return "sequence", ""
    step = CampaignStep.objects.filter(campaign_id=campaign_id, position=message.position).first()
    if step is None:
        return "no_step", ""
    if not condition_holds(step.condition, recipient):
        return "condition", ""
    if not RecipientMessage.objects.filter(pk=message.pk, status=M.QUEUED, handed_at__isnull=True).exists():
        return "gone", ""
    return "", ""


def condition_holds(condition, recipient) -> bool:
    return {
        C.ALWAYS: True,
        C.NO_REPLY: recipient.replied_at is None,
        C.NO_OPEN: recipient.opened_at is None,
        C.NO_CLICK: recipient.clicked_at is None,
    }.get(condition, False)


def why_not(message, campaign_id) -> str:
    """After `start` refused: "stopped" (campaign not running: the batch stops), else the
    row is settled here — suppressed (failed, the sequence stopped), sequence over
    (cancelled), condition failed (skipped, the sequence finished) — and "suppressed" or
    "gone" is returned."""
    why, detail = start_refusal(message, campaign_id)
    if why == "stopped":
        return why
    if why == "suppressed":
        _settle(message.pk, M.FAILED, f"suppressed: {detail}")
        sequences.stop([message.recipient_id], CampaignRecipient.StopReason.SUPPRESSED)
        return why
    if why == "sequence":
        _settle(message.pk, M.CANCELLED, "the sequence had stopped")
    elif why == "condition":
        _settle(message.pk, M.SKIPPED, "the step's condition did not hold when it fell due")
        sequences.end_by_condition(message.recipient_id)
    elif why == "no_step":
        _settle(message.pk, M.SKIPPED, "the step was removed")
        sequences.finish([message.recipient_id])
    return "gone"


@durable
def _settle(rid, status, reason) -> None:
    RecipientMessage.objects.filter(pk=rid, status__in=[M.QUEUED, M.PENDING]).update(
        status=status,
        sent_at=None,
        handed_at=None,
        lease_expires_at=None,
        error_message=reason[:1000],
        updated_at=timezone.now(),
    )


@durable
def mark_failed(rid: int, reason: str) -> None:
    """Failed for good: nothing more goes to that recipient."""
    with transaction.atomic():
        updated = RecipientMessage.objects.filter(pk=rid, status__in=[M.QUEUED, M.PENDING]).update(
            status=M.FAILED,
            sent_at=None,
            handed_at=None,
            lease_expires_at=None,
            error_message=reason[:1000],
            updated_at=timezone.now(),
        )
        if updated:
            recipient_id = RecipientMessage.objects.values_list("recipient_id", flat=True).get(pk=rid)
            sequences.end_after_failure(recipient_id)


def step_of(message) -> int:
    return message.position


@durable
def mark_bounced(message, reason: str, *, source: str, event: dict) -> bool:
    """A follow-up's hard bounce at send time, as a first message's (`store.mark_bounced`),
    in one transaction: its row `bounced` (`sent_at` kept: it counts as sent for its step),
    the recipient `bounced` (`bounces.recipient_bounced`), its sequence stopped (`bounced`),
    and what every hard bounce at send does (`bounces.hard_at_send`: suppressed, the event).
    True when this call recorded it."""
    now = timezone.now()
    with transaction.atomic():
        changed = RecipientMessage.objects.filter(pk=message.pk, status=M.QUEUED).update(
            status=M.BOUNCED,
            sent_at=Coalesce(F("sent_at"), Value(now)),
            handed_at=None,
            lease_expires_at=None,
            error_message=reason[:1000],
            updated_at=now,
        )
        if changed:
            bounces.recipient_bounced(message.recipient_id, now)
            sequences.stop([message.recipient_id], CampaignRecipient.StopReason.BOUNCED)
            bounces.hard_at_send(
                recipient_id=message.recipient_id,
                campaign_id=message.campaign_id,
                email=message.recipient.email_address,
                source=source,
                event=event,
            )
    return bool(changed)


@durable
def soft_bounced(message, *, source: str, event: dict) -> None:
    """A follow-up's soft bounce at send time (`bounces.soft_at_send`: counted once per step)."""
    bounces.soft_at_send(
        recipient_id=message.recipient_id,
        campaign_id=message.campaign_id,
        email=message.recipient.email_address,
        step=message.position,
        source=source,
        event=event,
    )


@durable
def mark_transient(message, reason: str) -> None:
    """Pending again, due after its backoff, or failed after SEND_MAX_ATTEMPTS."""
    attempts = message.attempts + 1
    if attempts >= store.setting("SEND_MAX_ATTEMPTS", 5):
        mark_failed(message.pk, f"gave up after {attempts} attempts: {reason}")
        return
    RecipientMessage.objects.filter(pk=message.pk, status=M.QUEUED).update(
        status=M.PENDING,
        sent_at=None,
        handed_at=None,
        claimed_at=None,
        lease_expires_at=None,
        due_at=timezone.now() + timedelta(seconds=backoff(attempts - 1)),
        attempts=attempts,
        error_message=reason[:1000],
        updated_at=timezone.now(),
    )


# --- The janitor's side -----------------------------------------------------------------------


def release_expired_leases() -> dict:
    """Expired follow-up claims: back to `pending` when never handed over, `failed`
    (INTERRUPTED, the sequence stopped: at most once) when they were."""
    now = timezone.now()
    expired = RecipientMessage.objects.filter(status=M.QUEUED, lease_expires_at__lt=now)
    released = expired.filter(handed_at__isnull=True).update(
        status=M.PENDING, claimed_at=None, lease_expires_at=None, sent_at=None, updated_at=now
    )
    lost = list(expired.filter(handed_at__isnull=False).values_list("pk", "recipient_id"))
    for pk, recipient_id in lost:
        _settle(pk, M.FAILED, INTERRUPTED)
        sequences.end_after_failure(recipient_id)
    return {"released_steps": released, "interrupted_steps": len(lost)}


def catch_up() -> int:
    """Advance the sequences of first messages sent but not advanced (their sender died
    between the sent mark and the advance): through the `recipient_unadvanced` index."""
    campaign_ids = (
        CampaignRecipient.objects.filter(status=CampaignRecipient.Status.SENT, current_step__isnull=True)
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    return sum(sequences.advance_first(campaign_id) for campaign_id in list(campaign_ids))


# A chain queues its successor for a follow-up due within this many seconds; one due later is
# picked up by beat (`stalled_campaign_ids`, every 10 s) — no task waits for days in the broker.
FOLLOWUP_HORIZON = 60


def next_due_soon(campaign_id):
    due = sequences.next_due(campaign_id)
    horizon = store.setting("FOLLOWUP_HORIZON", FOLLOWUP_HORIZON)
    if due is None or (due - timezone.now()).total_seconds() > horizon:
        return None
    return due


def stalled_campaign_ids(*, stale_seconds: int | None = None) -> list[int]:
    """Sending campaigns with follow-ups due now and nobody working on them: no live lease
    (first messages or follow-ups) and nothing started within SEND_STALL_SECONDS. Beat
    queues `send_campaign` for them: a follow-up goes out within ~40 s of its due time
    even when no chain was waiting for it."""
    from django.db.models import Exists, OuterRef

    from .. import states

    stale = stale_seconds if stale_seconds is not None else store.setting("SEND_STALL_SECONDS", 30)
    now = timezone.now()
    since = now - timedelta(seconds=stale)
    messages = RecipientMessage.objects.filter(campaign_id=OuterRef("pk"))
    recipients = CampaignRecipient.objects.filter(campaign_id=OuterRef("pk"))
    return list(
        Campaign.objects.filter(states.sending_q())
        .filter(
            Exists(messages.filter(status=M.PENDING, due_at__lte=now)),
            ~Exists(messages.filter(status=M.QUEUED, lease_expires_at__gte=now)),
            ~Exists(messages.filter(status__in=[M.QUEUED, M.SENT], sent_at__gte=since)),
            ~Exists(recipients.filter(status=CampaignRecipient.Status.QUEUED, lease_expires_at__gte=now)),
            ~Exists(recipients.filter(sent_at__gte=since)),
        )
        .values_list("pk", flat=True)
    )
