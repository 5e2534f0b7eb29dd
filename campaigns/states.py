"""Every campaign rule, in one place: the legal moves, the one guard that applies them,
completing and failing a campaign, and what each status allows (editing, content,
recipients, deleting, the admin's buttons). The API, the services, the admin and the sender
ask this module; no other module names a campaign status or a set of them.

`Campaign.Status` (the TextChoices on the model) is the vocabulary; this module is the law.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from . import sequences
from .exceptions import InvalidState, NotFound
from .models import Campaign, CampaignCounters, CampaignRecipient

Status = Campaign.Status
R = CampaignRecipient.Status

DRAFT = Status.DRAFT
SCHEDULED = Status.SCHEDULED
RUNNING = Status.RUNNING
PAUSED = Status.PAUSED
COMPLETED = Status.COMPLETED
FAILED = Status.FAILED

# The status in which a campaign sends: the sender starts a message only while its campaign
# is in it (the start SQL's condition), and only such a campaign completes or fails.
SENDING = RUNNING

# The legal moves: action → (statuses it may start from, status it leads to).
TRANSITIONS = {
    "launch": (frozenset({DRAFT, SCHEDULED}), RUNNING),
    "schedule": (frozenset({DRAFT}), SCHEDULED),
    "unschedule": (frozenset({SCHEDULED}), DRAFT),
    "pause": (frozenset({RUNNING}), PAUSED),
    "resume": (frozenset({PAUSED}), RUNNING),
    "complete": (frozenset({RUNNING}), COMPLETED),
    "fail": (frozenset({RUNNING, SCHEDULED}), FAILED),
    # The recipients whose failure may pass now are sent again (campaigns/resend.py).
    "retry": (frozenset({COMPLETED, FAILED}), RUNNING),
}
# A new campaign for the non-openers / non-clickers / non-repliers of one in these.
RESENDABLE = frozenset({RUNNING, PAUSED, COMPLETED})

# What each status allows.
EDITABLE = frozenset({DRAFT, SCHEDULED, PAUSED})
CONTENT_EDITABLE = frozenset({DRAFT, SCHEDULED})
RECIPIENTS_ADDABLE = frozenset({DRAFT, SCHEDULED, PAUSED})
# A pending recipient may be removed unless the campaign is sending.
RECIPIENTS_REMOVABLE = frozenset(Status) - {SENDING}
# Follow-up steps are added, changed and removed where the campaign may be edited.
STEPS_EDITABLE = EDITABLE
# Soft delete: anything but a sending campaign (pause it first).
DELETABLE = frozenset(Status) - {SENDING}
# Sending is over in these: only `retry` (an explicit second round) moves a campaign out.
FINAL = frozenset(Status) - frozenset().union(
    *(sources for action, (sources, _) in TRANSITIONS.items() if action != "retry")
)
# A scheduled campaign keeps a time: clearing `scheduled_at` is refused there.
NEEDS_SCHEDULE = frozenset({SCHEDULED})
# Beat launches the campaigns in this status whose `scheduled_at` has passed.
DUE = SCHEDULED

# Fields that shape the message itself: frozen once the campaign has started sending.
CONTENT_FIELDS = frozenset(
    {"template", "subject", "from_email", "from_name", "reply_to", "track_opens", "track_clicks", "ab_test"}
)
# Everything `campaign_update` may write (never `status`: that is the actions' business).
# The campaign's own auto-pause limits (null: the AUTO_PAUSE_* settings), editable while paused.
AUTO_PAUSE_FIELDS = frozenset({"auto_pause_min_sample", "auto_pause_bounce_rate", "auto_pause_complaint_rate"})
UPDATABLE_FIELDS = (
    CONTENT_FIELDS
    | AUTO_PAUSE_FIELDS
    | {"name", "description", "scheduled_at", "send_rate_per_hour", "send_window", "timezone"}
)


# --- Questions --------------------------------------------------------------------------


def can(action: str, status) -> bool:
    """Whether the table allows `action` from `status`."""
    return status in TRANSITIONS[action][0]


def may_edit(status) -> bool:
    return status in EDITABLE


def may_edit_content(status) -> bool:
    return status in CONTENT_EDITABLE


def may_add_recipients(status) -> bool:
    return status in RECIPIENTS_ADDABLE


def may_edit_steps(status) -> bool:
    return status in STEPS_EDITABLE


def may_remove_recipients(status) -> bool:
    return status in RECIPIENTS_REMOVABLE


def may_delete(status) -> bool:
    return status in DELETABLE


def is_final(status) -> bool:
    return status in FINAL


def editable_fields(status) -> frozenset:
    """The fields of UPDATABLE_FIELDS a campaign in `status` may change (the admin makes
    the others read-only)."""
    if not may_edit(status):
        return frozenset()
    if not may_edit_content(status):
        return UPDATABLE_FIELDS - CONTENT_FIELDS
    return UPDATABLE_FIELDS


def update_rule(fields) -> tuple[frozenset, frozenset, str]:
    """For a write of `fields`: (statuses that may be edited so, statuses the conditional
    UPDATE accepts, the verb of the refusal).

    Content fields only in CONTENT_EDITABLE, other fields in EDITABLE. Clearing
    `scheduled_at` is never written where a campaign needs a schedule (`needs_schedule`:
    the caller refuses that with a field error, the UPDATE guards the race)."""
    content = bool(CONTENT_FIELDS & set(fields))
    allowed = CONTENT_EDITABLE if content else EDITABLE
    writable = allowed
    if clears_schedule(fields):
        writable = allowed - NEEDS_SCHEDULE
    return allowed, writable, "change the content of" if content else "edit"


def clears_schedule(fields) -> bool:
    return "scheduled_at" in fields and fields["scheduled_at"] is None


def needs_schedule(status) -> bool:
    return status in NEEDS_SCHEDULE


def pause_action(status) -> str:
    """What "pause" means for a campaign in `status`: a scheduled one is unscheduled (back
    to draft), anything else is paused (refused by the table unless it is sending)."""
    return "unschedule" if can("unschedule", status) else "pause"


def due_for_launch(now=None) -> Q:
    """The campaigns beat launches now: scheduled, their time come."""
    return Q(status=DUE, scheduled_at__lte=now or timezone.now())


def sending_q() -> Q:
    """The campaigns the sender works on."""
    return Q(status=SENDING)


def buttons(campaign, *, can_change: bool, now=None) -> dict:
    """Which of the admin's change-page buttons apply to `campaign` (the same table the
    API's 409s come from): {"launch", "schedule", "pause", "resume", "test"} → bool."""
    now = now or timezone.now()
    status = campaign.status
    return {
        "launch": can_change and can("launch", status),
        "schedule": can_change
        and can("schedule", status)
        and campaign.scheduled_at is not None
        and campaign.scheduled_at > now,
        "pause": can_change and (can("pause", status) or can("unschedule", status)),
        "resume": can_change and can("resume", status),
        "test": can_change,
    }


# --- The guard --------------------------------------------------------------------------


def refresh_or_404(campaign: Campaign) -> None:
    """Reload `campaign`'s status and deletion mark; a campaign deleted meanwhile is a NotFound."""
    campaign.refresh_from_db(fields=["status", "deleted_at"])
    if campaign.deleted_at is not None:
        raise NotFound("No campaign matches the given id.")


def require(campaign: Campaign, allowed, doing: str) -> None:
    """Early, friendly refusal (InvalidState) when `campaign.status` is not in `allowed`;
    the conditional UPDATE that follows is what guarantees it."""
    if campaign.status not in allowed:
        raise InvalidState(f"Cannot {doing} a campaign that is {campaign.status}.")


def transition(*, campaign: Campaign, action: str, **fields) -> Campaign:
    """Move `campaign` along `TRANSITIONS[action]`, race-safe.

    A conditional ``UPDATE … WHERE status IN (<allowed>)`` decides: of two concurrent
    calls only one changes the row; the other raises InvalidState, as does any move
    the table does not allow (NotFound when the campaign was deleted meanwhile). `fields`
    are written in the same UPDATE. On success the instance is refreshed from the database.
    """
    allowed, target = TRANSITIONS[action]
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(
        status=target, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        refresh_or_404(campaign)
        raise InvalidState(f"Cannot {action} a campaign that is {campaign.status}.")
    campaign.refresh_from_db()
    return campaign


def guarded_update(*, campaign: Campaign, allowed, doing: str, **fields) -> Campaign:
    """Write `fields` iff the campaign's status is still in `allowed` (one conditional
    UPDATE); else InvalidState (NotFound when deleted meanwhile). Refreshes the instance."""
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(updated_at=timezone.now(), **fields)
    if updated != 1:
        refresh_or_404(campaign)
        raise InvalidState(f"Cannot {doing} a campaign that is {campaign.status}.")
    campaign.refresh_from_db()
    return campaign


# --- Completing and failing ----------------------------------------------------------------


def finish_if_done(campaign_id) -> str | None:
    """Complete a sending campaign once no recipient is pending or queued and, with steps,
    every recipient's sequence has ended (`sequences.unfinished`); fail it instead
    when every recipient failed. Returns the new status, or None when nothing changed
    (still work to do, not sending, or another process finished it first)."""
    if CampaignRecipient.objects.filter(campaign_id=campaign_id, status__in=[R.PENDING, R.QUEUED]).exists():
        return None  # the common answer, from the (campaign, status) index alone
    if sequences.unfinished(campaign_id):
        return None  # a campaign with steps completes when every sequence has ended
    counts = CampaignRecipient.objects.filter(campaign_id=campaign_id).aggregate(
        failed=Count("pk", filter=Q(status=R.FAILED)),
        total=Count("pk"),
    )
    campaign = Campaign.all_objects.filter(pk=campaign_id, status=SENDING).first()
    if campaign is None:
        return None
    try:
        if counts["total"] and counts["failed"] == counts["total"]:
            reasons = (
                CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.FAILED)
                .values("error_message")
                .annotate(n=Count("pk"))
                .order_by("-n")[:1]
            )
            reason = reasons[0]["error_message"] if reasons else ""
            transition(
                campaign=campaign,
                action="fail",
                failure_reason=f"Every message failed permanently; most common error: {reason}"[:2000],
            )
            return FAILED
        transition(campaign=campaign, action="complete", completed_at=timezone.now())
        return COMPLETED
    except (InvalidState, NotFound):
        return None


def fail(campaign: Campaign, reason: str) -> bool:
    """Fail `campaign` with `reason` (cut to 2,000 characters) if the table allows it from
    its status; True when it did. Safe to call twice or concurrently."""
    try:
        transition(campaign=campaign, action="fail", failure_reason=reason[:2000])
    except (InvalidState, NotFound):
        return False
    return True


# --- Auto-pause ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoPauseLimits:
    """A campaign's auto-pause limits: rates in percent (0 = that check is off), checked
    once at least `min_sample` messages were sent."""

    min_sample: int
    bounce_rate: float
    complaint_rate: float

    @property
    def active(self) -> bool:
        return self.bounce_rate > 0 or self.complaint_rate > 0


def auto_pause_limits(campaign: Campaign) -> AutoPauseLimits:
    """The campaign's auto_pause_* fields, each falling back on its AUTO_PAUSE_* setting."""

    def pick(field, setting):
        value = getattr(campaign, field)
        return getattr(settings, setting) if value is None else value

    return AutoPauseLimits(
        min_sample=int(pick("auto_pause_min_sample", "AUTO_PAUSE_MIN_SAMPLE")),
        bounce_rate=float(pick("auto_pause_bounce_rate", "AUTO_PAUSE_BOUNCE_RATE")),
        complaint_rate=float(pick("auto_pause_complaint_rate", "AUTO_PAUSE_COMPLAINT_RATE")),
    )


def over_limit(limits: AutoPauseLimits, *, sent: int, bounced: int, complained: int) -> str:
    """The pause reason the figures call for ("bounce_rate", "complaint_rate") or "". The
    rates are the metrics' (bounced / sent, complained / delivered, delivered = sent − bounced),
    and a limit is crossed when the rate is strictly above it."""
    if sent <= 0 or sent < limits.min_sample:
        return ""
    if limits.bounce_rate > 0 and bounced * 100 > limits.bounce_rate * sent:
        return Campaign.PauseReason.BOUNCE_RATE
    delivered = sent - bounced
    if limits.complaint_rate > 0 and delivered > 0 and complained * 100 > limits.complaint_rate * delivered:
        return Campaign.PauseReason.COMPLAINT_RATE
    return ""


def sent_bounced_complained(campaign_id) -> tuple[int, int, int]:
    """The campaign's sent, bounced and complained counts from its counter rows (one query
    over ≤ 16 rows, kept by the recipient table's triggers)."""
    sums = CampaignCounters.objects.filter(campaign_id=campaign_id).aggregate(
        sent=Sum("emails_sent"), bounced=Sum("emails_bounced"), complained=Sum("emails_complained")
    )
    return sums["sent"] or 0, sums["bounced"] or 0, sums["complained"] or 0


def auto_pause(campaign: Campaign, limits: AutoPauseLimits | None = None, counts=None) -> str:
    """Pause a sending `campaign` whose bounce or complaint rate is over its limit, with
    `pause_reason` saying which (the same move and guard as `POST pause`). Call as results
    are recorded; costs one query (none when the limits are off, or `counts` — sent,
    bounced, complained — are given). Returns the reason when this call paused it, else ""."""
    if campaign.status != SENDING:
        return ""  # only a sending campaign pauses (the transition checks it again)
    limits = limits or auto_pause_limits(campaign)
    if not limits.active:
        return ""
    sent, bounced, complained = counts or sent_bounced_complained(campaign.pk)
    reason = over_limit(limits, sent=sent, bounced=bounced, complained=complained)
    if not reason:
        return ""
    try:
        transition(campaign=campaign, action="pause", paused_at=timezone.now(), pause_reason=reason)
    except (InvalidState, NotFound):
        return ""  # not sending any more, or paused by someone else meanwhile
    return reason
